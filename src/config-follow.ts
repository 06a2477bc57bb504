// Reads the network config again every few seconds while the daemon runs and reports a changed text, one change at a
// time (a change that arrives while the last one is being applied is picked up by the next read). A poll, not a
// watch: one small read per period works the same on every registry and needs no resume logic after an outage.
import type { NetworkConfig } from './config/network-config.js';
import type { Logger } from './log.js';
import { formatCidr } from './net/ipv4.js';

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

/**
 * The config to switch to when `text` changes the Backend part, else null. Only the backend follows live: a new
 * Network or SubnetLen would move every subnet, which needs a restart; an invalid config changes nothing. Both say so.
 */
export function nextBackendConfig(text: string, current: NetworkConfig, parse: (text: string) => NetworkConfig,
  log: Logger): NetworkConfig | null {
  let parsed: NetworkConfig;
  try {
    parsed = parse(text);
  } catch (e) {
    log.error(`the changed network config is ignored, the daemon keeps running as before: ${(e as Error).message}`);
    return null;
  }
  if (formatCidr(parsed.network) !== formatCidr(current.network) || parsed.subnetLen !== current.subnetLen) {
    log.warn('the network config now has another Network or SubnetLen: restart the daemons to follow it');
  }
  if (JSON.stringify(parsed.backend) === JSON.stringify(current.backend)) return null;
  return { ...current, backend: parsed.backend };
}
