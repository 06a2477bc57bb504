// Runs the iptables/nft/ip tools. The one place trafficmngr starts processes; tests pass a runner that
// prefixes `ip netns exec <ns>` so the same code programs a namespace instead of the host.
import { execFile } from 'node:child_process';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export type CommandRunner = (argv: readonly string[], input?: string) => Promise<CommandResult>;

export function commandRunner(prefix: readonly string[] = []): CommandRunner {
  return (argv, input) => new Promise((resolve) => {
    const [file, ...args] = [...prefix, ...argv];
    const child = execFile(file as string, args, { encoding: 'utf8', timeout: 30_000, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 127;
        resolve({ code, stdout, stderr: stderr || (err !== null && typeof err.code !== 'number' ? err.message : '') });
      });
    // A tool that exits without reading its stdin must not turn into an EPIPE on our side.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

export function describeFailure(argv: readonly string[], r: CommandResult): string {
  if (r.code === 127 || /ENOENT/.test(r.stderr)) {
    return `\`${argv[0] ?? ''}\` not found: install iptables/nftables, or turn off --ip-masq and --iptables-forward-rules=false`;
  }
  return `\`${argv.join(' ')}\` exited ${r.code}: ${r.stderr.trim().split('\n')[0] ?? ''}`;
}
