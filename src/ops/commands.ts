// Operator subcommands (mk-docker-opts, status, doctor) are registered here on the CLI program.
import { Command, Option } from 'commander';
import { defineFlags, resolveOptions, type Options } from '../options.js';
import { MK_DOCKER_OPTS_DEFAULTS, MK_DOCKER_OPTS_USAGE, runMkDockerOpts } from './mk-docker-opts.js';

export function registerOperatorCommands(program: Command): void {
  registerMkDockerOpts(program);
  registerWithDaemonFlags(program, 'status',
    'show this node\'s lease, every peer (subnet, PublicIP, backend, VtepMAC, expiry) and datapath counters',
    async (options, json) => (await import('./status.js')).runStatus(options, json));
  registerWithDaemonFlags(program, 'doctor',
    'check this host for flannel\'s common problems and print the command that fixes each (exit 1 when one fails)',
    async (options, json) => (await import('./doctor.js')).runDoctor(options, json));
}

/**
 * Parsed like the script's getopts: `-h`, `--help` or an unknown option print the usage on stderr and exit 1
 * (commander's own help would exit 0 and look nothing like it).
 */
function registerMkDockerOpts(program: Command): void {
  const d = MK_DOCKER_OPTS_DEFAULTS;
  program.command('mk-docker-opts')
    .description('write Docker daemon options from subnet.env, as upstream\'s mk-docker-opts.sh does')
    .helpOption(false)
    .showSuggestionAfterError(false)
    .configureHelp({ formatHelp: () => MK_DOCKER_OPTS_USAGE })
    .configureOutput({ outputError: (text, write) => write(`tsflanneld: ${text}${MK_DOCKER_OPTS_USAGE}`) })
    .option('-f <file>', 'path to flannel env file', d.flannelEnv)
    .option('-d <file>', 'path to Docker env file to write to', d.dockerEnv)
    .option('-i', 'output each Docker option as individual var, e.g. DOCKER_OPT_MTU=1500')
    .option('-c', 'output combined Docker options into DOCKER_OPTS var')
    .option('-k <key>', 'set the combined options key to this value', d.combinedKey)
    .option('-m', 'do not output --ip-masq (useful for older Docker version)')
    .addOption(new Option('-h, --help', 'print the usage and exit 1').hideHelp())
    .action((o: { f: string; d: string; i?: boolean; c?: boolean; k: string; m?: boolean; help?: boolean }) => {
      if (o.help === true) {
        process.stderr.write(MK_DOCKER_OPTS_USAGE);
        process.exitCode = 1;
        return;
      }
      process.exitCode = runMkDockerOpts({
        flannelEnv: o.f, dockerEnv: o.d, individual: o.i === true, combined: o.c === true,
        combinedKey: o.k, ipMasq: o.m !== true,
      });
    });
}

/** A subcommand that takes the daemon's flags and FLANNELD_* variables (to find etcd and subnet.env) plus --json. */
function registerWithDaemonFlags(program: Command, name: string, description: string,
  action: (options: Options, json: boolean) => Promise<number>): void {
  const cmd = program.command(name).description(description).allowExcessArguments(false);
  defineFlags(cmd);
  cmd.option('--json', 'machine-readable output');
  cmd.action(async (_o: unknown, c: Command) => {
    const { json, ...flags } = c.opts<Record<string, unknown>>();
    let options: Options;
    try {
      options = resolveOptions(flags, process.env);
    } catch (e) {
      process.stderr.write(`tsflanneld ${name}: ${(e as Error).message}\n`);
      process.exit(1);
    }
    const code = await action(options, json === true);
    // The etcd client's sockets may linger a moment; the answer is printed, so leave now.
    process.exit(code);
  });
}
