// A ping that runs in the background for the length of a fault, from inside a container namespace, and reports how
// many echoes were sent and answered. A datapath that keeps forwarding loses none.
import { spawn } from 'node:child_process';

export interface PingSummary {
  readonly sent: number;
  readonly received: number;
  readonly output: string;
}

export interface PingStream {
  /** Resolves once ping has sent `count` echoes and waited for the last reply. */
  readonly done: Promise<PingSummary>;
  readonly pid: number | undefined;
  /** SIGINT: ping prints its summary and exits. */
  stop(): void;
}

/** `ping -i intervalS -c count` from `fromNs` to `toIP`. */
export function startPingStream(fromNs: string, toIP: string, count: number, intervalS = 0.1): PingStream {
  const child = spawn('ip', ['netns', 'exec', fromNs, 'ping', '-n', '-q', '-i', String(intervalS), '-W', '1', '-c', String(count), toIP],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { output += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { output += d; });
  const guard = setTimeout(() => child.kill('SIGKILL'), (count * intervalS + 30) * 1000);
  const done = new Promise<PingSummary>((resolve) => {
    child.on('close', () => {
      clearTimeout(guard);
      const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(output);
      resolve({ sent: m ? Number(m[1]) : 0, received: m ? Number(m[2]) : 0, output });
    });
  });
  return { done, pid: child.pid, stop: () => { child.kill('SIGINT'); } };
}
