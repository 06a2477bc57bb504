// Reads the network config again every few seconds while the daemon runs and reports a changed text, one change at a
// time (a change that arrives while the last one is being applied is picked up by the next read). A poll, not a
// watch: one small read per period works the same on every registry and needs no resume logic after an outage.
import type { Logger } from './log.js';

export interface ConfigFollower {
  stop(): void;
}

export function followConfigText(o: {
  readonly read: () => Promise<string | null>;
  readonly initial: string | null;
  readonly everyMs: number;
  readonly log: Logger;
  readonly onChange: (text: string) => Promise<void>;
}): ConfigFollower {
  let last = o.initial;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      const text = await o.read();
      // A missing config is an operator's slip mid-edit: keep running as configured.
      if (text === null || text === last) return;
      last = text;
      await o.onChange(text);
    })().catch((e: unknown) => o.log.debug(`reading the network config again failed: ${(e as Error).message}`))
      .finally(() => { busy = false; });
  }, o.everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
