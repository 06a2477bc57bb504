#!/usr/bin/env node
// The `tsflanneld` command. `run` is the default command, so `tsflanneld --etcd-endpoints=…` runs the daemon as
// `flanneld --etcd-endpoints=…` would. Every error is one line on stderr and exit status 1; never a stack trace.
import './boot.js';
// Then: a reload's datapath resumes before the rest loads (see the file).
import './reload/early-adopt.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerOperatorCommands } from './ops/commands.js';
import { registerMigrateEtcd } from './ops/migrate-etcd-command.js';
import { OptionsError, commonFlagsHelp, defineFlags, normalizeArgv, resolveOptions } from './options.js';
import { flushCompileCache } from './compile-cache.js';
import { timeline } from './timeline.js';

timeline.mark('cli loaded');

/** How long after start the code cache is written: by then a daemon has written subnet.env and programmed peers. */
const COMPILE_CACHE_FLUSH_MS = 3000;

function packageVersion(): string {
  // dist/src/cli.js and src/cli.ts both sit two levels below the package root.
  for (const dir of [path.join(__dirname, '..', '..'), path.join(__dirname, '..')]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tsflanneld' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return 'unknown';
}

function fail(message: string): never {
  process.stderr.write(`tsflanneld: ${message}\n`);
  process.exit(1);
}

function buildProgram(): Command {
  const program = new Command('tsflanneld')
    .description('flannel overlay network node daemon (a drop-in flanneld)')
    .exitOverride()
    .showSuggestionAfterError(true)
    // commander's own errors ("error: unknown option …") get the same prefix as ours; set before subcommands copy it.
    .configureOutput({ outputError: (text, write) => write(`tsflanneld: ${text}`) });

  const run = program.command('run', { isDefault: true })
    .description('run the daemon (default): lease a subnet from etcd, write subnet.env, program the peers')
    .allowExcessArguments(false);
  defineFlags(run);
  run.action(async (_args: unknown, cmd: Command) => {
    let options;
    try {
      options = resolveOptions(cmd.opts(), process.env);
    } catch (e) {
      if (e instanceof OptionsError) fail(e.message);
      throw e;
    }
    timeline.mark('options parsed');
    if (options.version) {
      process.stdout.write(`${packageVersion()}\n`);
      return;
    }
    // Loaded only when the daemon runs, so `--help` and operator commands stay light.
    const { runDaemon } = await import('./daemon.js');
    const { log } = await import('./log.js');
    const { DAEMON_EXTENSIONS } = await import('./extensions.js');
    timeline.mark('daemon modules loaded');
    // Written once the daemon is up (it needs nothing from it), with the code compiled during the start-up.
    setTimeout(() => void flushCompileCache(), COMPILE_CACHE_FLUSH_MS).unref();
    process.exitCode = await runDaemon(options, { log, extensions: DAEMON_EXTENSIONS });
    // Open etcd sockets or timers of a stopped part must not keep a stopped daemon alive.
    process.exit(process.exitCode);
  });

  registerOperatorCommands(program);
  registerMigrateEtcd(program);
  program.addHelpText('after', `\nWithout a command, tsflanneld runs the daemon, as flanneld does.\n\n${commonFlagsHelp()}`);
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  // Go's flag spellings (`-etcd-endpoints=x`, bare bools) become commander's before it parses.
  const argv = normalizeArgv(process.argv.slice(2));
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and the like end with status 0 and have printed already.
      if (e.exitCode === 0) process.exit(0);
      process.exit(1);
    }
    fail((e as Error).message.split('\n')[0] ?? String(e));
  }
}

main().catch((e: unknown) => fail((e as Error).message.split('\n')[0] ?? String(e)));
