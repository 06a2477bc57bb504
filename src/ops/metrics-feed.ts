// The daemon's observations on their way to ./metrics.ts, which loads prom-client (and through it ~90 modules):
// until it is loaded they wait here, in order, and are replayed into it when it is. The daemon loads it right after
// READY (or at the first /metrics scrape, whichever comes first), so it costs nothing on the path to subnet.env.

type MetricsModule = typeof import('./metrics.js');
type Observation = (m: MetricsModule) => void;

/** Observations kept while prom-client is not loaded; a start-up burst of peers is far below it. */
const MAX_WAITING = 100_000;

export class MetricsFeed {
  private loaded: MetricsModule | null = null;
  private loading: Promise<MetricsModule> | null = null;
  private waiting: Observation[] = [];

  /** Applies the observation now, or once the metrics are loaded. */
  record(o: Observation): void {
    if (this.loaded !== null) {
      o(this.loaded);
      return;
    }
    // Beyond the cap the oldest go: the gauges come right with the next observation, only old counts are lost.
    if (this.waiting.length >= MAX_WAITING) this.waiting.shift();
    this.waiting.push(o);
  }

  /** Loads the metrics (once) and replays what waited. */
  load(): Promise<MetricsModule> {
    this.loading ??= import('./metrics.js').then((m) => {
      this.loaded = m;
      const waiting = this.waiting;
      this.waiting = [];
      for (const o of waiting) o(m);
      return m;
    });
    return this.loading;
  }

  /** Loads the metrics on a later turn of the event loop, after what is running now. */
  loadSoon(): void {
    setImmediate(() => void this.load().catch(() => undefined));
  }

  /** The backend's counters as the metrics mirror them, or {} before they are loaded. */
  readCounters(): Readonly<Record<string, number>> {
    return this.loaded?.metrics.readCounters() ?? {};
  }
}
