#!/usr/bin/env node
'use strict';
// Runs the compiled tests with node's own test runner: unit and integration tests in parallel files,
// e2e and reliability tests one file at a time (each builds a namespace testbed and they share two CPUs).
// Usage: node scripts/run-tests.js [unit|integration|e2e|reliability ...]
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', 'dist', 'test');
const suites = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration', 'e2e', 'reliability'];

function testFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return testFiles(p);
    return e.name.endsWith('.test.js') ? [p] : [];
  }).sort();
}

let failed = false;
for (const suite of suites) {
  const files = testFiles(path.join(root, suite));
  if (files.length === 0) continue;
  const concurrency = suite === 'unit' ? 2 : 1;
  console.log(`\n=== ${suite}: ${files.length} files ===`);
  const r = spawnSync(process.execPath,
    ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
    { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
