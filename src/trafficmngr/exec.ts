// Runs the iptables/nft/ip tools. The one place trafficmngr starts processes; tests pass a runner that
// prefixes `ip netns exec <ns>` so the same code programs a namespace instead of the host.
import { execFile } from 'node:child_process';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the tool could not be started at all: the errno name (ENOENT, EMFILE, EAGAIN, …). */
  readonly startError?: string;
}

export type CommandRunner = (argv: readonly string[], input?: string) => Promise<CommandResult>;

export function commandRunner(prefix: readonly string[] = []): CommandRunner {
  return (argv, input) => new Promise((resolve) => {
    const [file, ...args] = [...prefix, ...argv];
    const child = execFile(file as string, args, { encoding: 'utf8', timeout: 30_000, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code === 'string') {
          // Not started (spawn failed) or killed: keep the errno, so EMFILE is never reported as a missing tool.
          resolve({ code: err.code === 'ENOENT' ? 127 : -1, stdout, stderr: stderr || err.message, startError: err.code });
          return;
        }
        resolve({ code: err === null ? 0 : typeof err?.code === 'number' ? err.code : -1, stdout,
          stderr: stderr || (err !== null ? err.message : '') });
      });
    // A tool that exits without reading its stdin must not turn into an EPIPE on our side.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

export function describeFailure(argv: readonly string[], r: CommandResult): string {
  if (r.startError !== undefined && r.startError !== 'ENOENT') {
    const hint = r.startError === 'EMFILE' || r.startError === 'ENFILE' ? ' (too many open files: raise LimitNOFILE)' : '';
    return `cannot start \`${argv[0] ?? ''}\`: ${r.startError}${hint}`;
  }
  if (r.code === 127 || r.startError === 'ENOENT') {
    return `\`${argv[0] ?? ''}\` not found: install iptables/nftables, or turn off --ip-masq and --iptables-forward-rules=false`;
  }
  return `\`${argv.join(' ')}\` exited ${r.code}: ${r.stderr.trim().split('\n')[0] ?? ''}`;
}
