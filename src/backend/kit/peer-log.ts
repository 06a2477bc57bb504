// The log lines of one pass over peers (a list or a burst of lease events). A few joins or leaves are worth a line
// each at info; 1000 joins at once are not (a line costs CPU on the path to the routes, and floods the journal), so
// past the first few a pass's per-peer lines go to debug and one info line sums the pass up.
import type { Logger } from '../../log.js';

/** Per-peer lines at info in one pass; the rest of the pass is at debug. */
export const PEER_LINES_AT_INFO = 8;

export class PeerPassLog {
  private lines = 0;
  private readonly counts = new Map<string, number>();

  constructor(private readonly log: Logger, private readonly atInfo = PEER_LINES_AT_INFO) {}

  /** One peer's change, e.g. ('programmed peer', {subnet, publicIP}). */
  peer(fields: Record<string, unknown>, message: string): void {
    this.counts.set(message, (this.counts.get(message) ?? 0) + 1);
    if (++this.lines <= this.atInfo) this.log.info(fields, message);
    else if (this.log.isLevelEnabled('debug')) this.log.debug(fields, message);
  }

  /** Ends the pass: says how many of each line there were when some went to debug, and starts afresh. */
  end(): void {
    if (this.lines > this.atInfo) {
      const counts = Object.fromEntries(this.counts);
      const text = [...this.counts].map(([message, n]) => `${n} × ${message}`).join(', ');
      this.log.info({ counts }, `peer pass: ${text} (each line at debug beyond the first ${this.atInfo})`);
    }
    this.lines = 0;
    this.counts.clear();
  }

  /** Runs one pass and ends it, whatever its outcome. */
  async pass<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } finally {
      this.end();
    }
  }
}
