// Follows the network config while the daemon runs: a watch on the config key reports each write at once, so every
// node of a cluster switches within moments of the others (a 3 s poll let nodes switch up to 3 s apart and lost pings
// in between). A burst of writes costs one read and one change: the watch only says "changed", a short debounce
// gathers the burst, and the read after it sees the last text. A slow re-read every safety-net period catches what a
// watch could miss (an outage, a bug); a broken watch is started again from the last revision seen, so a write made
// while etcd was away is not lost either. One change is applied at a time; a change during one is read after it.
import type { NetworkConfig } from './config/network-config.js';
import type { Logger } from './log.js';
import { formatCidr } from './net/ipv4.js';
import type { LeaseRegistry, RegistryWatch } from './subnet/registry.js';

export interface ConfigFollower {
  stop(): void;
}

export interface FollowTiming {
  /** How long after a change event the key is read, so a burst of writes is one read. */
  readonly debounceMs: number;
  /** The re-read that runs whatever the watch says. */
  readonly safetyNetMs: number;
  /** First and longest wait before watching again after the watch broke. */
  readonly retryMs: number;
  readonly maxRetryMs: number;
}

export const DEFAULT_FOLLOW_TIMING: FollowTiming = { debounceMs: 25, safetyNetMs: 45_000, retryMs: 500, maxRetryMs: 10_000 };

export function followConfig(o: {
  readonly registry: Pick<LeaseRegistry, 'readConfig' | 'watchConfig'>;
  readonly initial: string | null;
  readonly timing?: Partial<FollowTiming>;
  readonly log: Logger;
  readonly onChange: (text: string) => Promise<void>;
}): ConfigFollower {
  const t = { ...DEFAULT_FOLLOW_TIMING, ...o.timing };
  let last = o.initial;
  /** The newest revision the text in `last` accounts for: a broken watch resumes after it. */
  let revision: string | null = null;
  let watch: RegistryWatch | null = null;
  let stopped = false;
  let busy = false;
  let again = false;
  let debounce: NodeJS.Timeout | null = null;
  let retry: NodeJS.Timeout | null = null;
  let retryMs = t.retryMs;
  let outage = false;

  const newer = (r: string): void => {
    if (revision === null || BigInt(r) > BigInt(revision)) revision = r;
  };

  /** Reads the key and applies a changed text; a read asked for meanwhile runs right after. */
  const check = async (): Promise<void> => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        const read = await o.registry.readConfig();
        newer(read.revision);
        // A missing config is an operator's slip mid-edit: keep running as configured.
        if (stopped || read.text === null || read.text === last) continue;
        last = read.text;
        await o.onChange(read.text);
      } while (again && !stopped);
    } finally {
      busy = false;
    }
  };
  const checkQuietly = (): void => {
    void check().catch((e: unknown) => o.log.debug(`reading the network config again failed: ${(e as Error).message}`));
  };
  const soon = (): void => {
    if (stopped || debounce) return;
    debounce = setTimeout(() => {
      debounce = null;
      checkQuietly();
    }, t.debounceMs);
    debounce.unref();
  };

  const startWatch = async (): Promise<void> => {
    if (revision === null) {
      const read = await o.registry.readConfig();
      newer(read.revision);
      if (read.text !== null && read.text !== last) soon(); // changed before the watch began
    }
    if (stopped) return;
    const w = o.registry.watchConfig(revision!, {
      changed: (r) => {
        newer(r);
        soon();
      },
      connected: () => {
        retryMs = t.retryMs;
        if (!outage) return;
        outage = false;
        o.log.info('watching the network config again');
        soon(); // one read to be sure nothing slipped by while etcd was away
      },
      broken: (reason, err) => {
        if (watch !== w) return;
        watch = null;
        // A compacted revision (v3) or a cleared event index (v2): start again from a fresh read.
        if (reason === 'canceled') revision = null;
        lost(err);
      },
    });
    watch = w;
  };
  const lost = (err: Error): void => {
    if (stopped) return;
    if (!outage) {
      outage = true;
      o.log.warn(`watching the network config stopped (${err.message}); the daemon keeps its config and watches again `
        + 'when etcd answers');
    }
    retry = setTimeout(() => {
      retry = null;
      void startWatch().catch((e: unknown) => lost(e as Error));
    }, retryMs);
    retry.unref();
    retryMs = Math.min(retryMs * 2, t.maxRetryMs);
  };

  void startWatch().catch((e: unknown) => lost(e as Error));
  const net = setInterval(checkQuietly, t.safetyNetMs);
  net.unref();
  return {
    stop: () => {
      stopped = true;
      clearInterval(net);
      if (debounce) clearTimeout(debounce);
      if (retry) clearTimeout(retry);
      void watch?.stop();
      watch = null;
    },
  };
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
