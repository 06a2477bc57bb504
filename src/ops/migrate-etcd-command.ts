// The `migrate-etcd` subcommand's flags; the work (and etcd3) is loaded only when it runs, so --help stays light.
import { Command } from 'commander';
import { defineFlags, resolveOptions } from '../options.js';

export function registerMigrateEtcd(program: Command): void {
  const cmd = program.command('migrate-etcd')
    .description('copy a flannel 0.7 network (config and leases with their TTL) from the etcd v2 store to the v3 store')
    .allowExcessArguments(false);
  defineFlags(cmd);
  cmd.requiredOption('--from <api>', 'the store to copy from: v2')
    .requiredOption('--to <api>', 'the store to copy to: v3')
    .option('--dry-run', 'print what would be copied, write nothing')
    .option('--force', 'overwrite a differing config (and differing leases) in the v3 store');
  cmd.action(async (_o: unknown, c: Command) => {
    const { from, to, dryRun, force, ...flags } = c.opts<Record<string, unknown>>();
    let code = 1;
    try {
      const options = resolveOptions(flags, process.env);
      const { runMigrateEtcd } = await import('./migrate-etcd.js');
      code = await runMigrateEtcd(options, { from: String(from), to: String(to), dryRun: dryRun === true, force: force === true },
        (line) => process.stdout.write(`${line}\n`));
    } catch (e) {
      process.stderr.write(`tsflanneld migrate-etcd: ${(e as Error).message.split('\n')[0]}\n`);
    }
    process.exit(code);
  });
}
