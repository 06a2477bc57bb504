// The --subnet-file lock: a live holder refuses a second daemon with one line; a dead holder's lock is taken over.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { lockSubnetFile, SubnetFileInUseError } from '../../src/subnet/subnet-file-lock.js';

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsfl-lock-'));
  tempDirs.push(dir);
  return path.join(dir, 'run', 'subnet.env');
}

function startTime(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string;
}

test('takes the lock, writes pid and start time, and releases it', () => {
  const file = tempFile();
  const lock = lockSubnetFile(file);
  assert.equal(fs.readFileSync(`${file}.lock`, 'utf8'), `${process.pid} ${startTime(process.pid)}\n`);
  lock.release();
  assert.equal(fs.existsSync(`${file}.lock`), false);
});

test('refuses while another live process holds it, naming the flag, the file, the pid and the fix', async () => {
  const file = tempFile();
  const other = spawn('sleep', ['30']);
  try {
    await new Promise((r) => other.once('spawn', r));
    const pid = other.pid as number;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.lock`, `${pid} ${startTime(pid)}\n`);
    assert.throws(() => lockSubnetFile(file), (e: unknown) => e instanceof SubnetFileInUseError
      && e.message === `--subnet-file ${file} is in use by another tsflanneld (pid ${pid}, lock ${file}.lock): `
        + 'give each daemon its own --subnet-file, or stop the other one first');
  } finally {
    other.kill('SIGKILL');
  }
});

test('takes over a stale lock: a dead holder, a reused pid, or garbage', () => {
  const file = tempFile();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (const stale of ['999999999 12345\n', `${process.ppid} 1\n`, 'garbage', '']) {
    fs.writeFileSync(`${file}.lock`, stale);
    const lock = lockSubnetFile(file);
    assert.match(fs.readFileSync(`${file}.lock`, 'utf8'), new RegExp(`^${process.pid} `));
    lock.release();
  }
});

test('release leaves a lock that is no longer ours alone', () => {
  const file = tempFile();
  const lock = lockSubnetFile(file);
  fs.writeFileSync(`${file}.lock`, '1 1\n');
  lock.release();
  assert.equal(fs.readFileSync(`${file}.lock`, 'utf8'), '1 1\n');
});
