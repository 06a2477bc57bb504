// Round-trip times from `ping` output (iputils: one "time=0.123 ms" line per answered echo) and their summary.
// Pure. The first echo often pays for ARP and route lookups; callers drop warm-up samples themselves.
import { percentile } from './stats.js';

/** Every per-packet RTT in microseconds, in the order printed. */
export function parsePingRttsUs(text: string): number[] {
  const rtts: number[] = [];
  for (const m of text.matchAll(/\btime[=<]([0-9]+(?:\.[0-9]+)?) ?(ms|us|µs|s)\b/g)) {
    const v = Number(m[1]);
    const unit = m[2];
    rtts.push(unit === 'ms' ? v * 1000 : unit === 's' ? v * 1e6 : v);
  }
  return rtts;
}

export interface RttSummary {
  readonly p50Us: number;
  readonly p99Us: number;
  readonly samples: number;
}

export function summariseRtts(rttsUs: readonly number[]): RttSummary {
  if (rttsUs.length === 0) throw new Error('no echo was answered: the path between the containers is down');
  return { p50Us: percentile(rttsUs, 50), p99Us: percentile(rttsUs, 99), samples: rttsUs.length };
}
