// A ping that runs in a namespace while a test changes things (a backend switch, a migration), and what it saw:
// how many echoes went out and came back, and the longest run of lost ones (the outage), for the test to report.
// No threshold here: a test reports the loss and asserts only that traffic came back.
import type { ChildProcess } from 'node:child_process';
import { spawnTracked } from './proc.js';

export interface PingReport {
  readonly sent: number;
  readonly received: number;
  /** Longest run of consecutive unanswered sequence numbers. */
  readonly longestGap: number;
  readonly intervalMs: number;
  /** One line for t.diagnostic(). */
  readonly summary: string;
}

export interface PingRun {
  /** Sequence number of the last echo answered so far (0 before the first). */
  lastAnswered(): number;
  /** SIGINT, then the tally. */
  stop(): Promise<PingReport>;
}

/** Echo replies only: `From … icmp_seq=N Destination Net Unreachable` lines carry a sequence number too. */
const REPLY = /^\d+ bytes from .* icmp_seq=(\d+) /gm;

/** Pure: the tally of a `ping -n` output (reply lines and the closing summary). */
export function tallyPing(output: string, intervalMs: number): PingReport {
  const answered = [...output.matchAll(REPLY)].map((m) => Number(m[1]));
  const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
  const sent = m ? Number(m[1]) : Math.max(0, ...answered);
  const received = m ? Number(m[2]) : new Set(answered).size;
  let longestGap = 0;
  let prev = 0;
  for (const seq of [...new Set(answered)].sort((a, b) => a - b)) {
    longestGap = Math.max(longestGap, seq - prev - 1);
    prev = seq;
  }
  longestGap = Math.max(longestGap, sent - prev);
  const lost = sent - received;
  const summary = `${received} of ${sent} echoes answered (${lost} lost, ${sent > 0 ? ((100 * lost) / sent).toFixed(1) : '0'} %), `
    + `longest outage ${longestGap} echoes ≈ ${longestGap * intervalMs} ms at one echo per ${intervalMs} ms`;
  return { sent, received, longestGap, intervalMs, summary };
}

/** Starts `ping -n -i <interval> <toIP>` inside `netns` (root may ping every 100 ms). */
export function startPing(netns: string, toIP: string, intervalMs = 100): PingRun {
  const child: ChildProcess = spawnTracked('ip', ['netns', 'exec', netns, 'ping', '-n', '-i', String(intervalMs / 1000), toIP],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    lastAnswered() {
      const all = [...out.matchAll(REPLY)];
      return all.length === 0 ? 0 : Number(all[all.length - 1]![1]);
    },
    async stop() {
      child.kill('SIGINT');
      await exited;
      return tallyPing(out, intervalMs);
    },
  };
}
