// Which etcd API holds the network: --etcd-api=v3|v2|auto. Auto takes v3 when `<prefix>/config` is in the v3 store,
// else v2 when it is in the v2 store (a flannel 0.7 cluster), else waits for either and says where it looked.
import type { Etcd3 } from 'etcd3';
import type { NetworkConfig } from '../config/network-config.js';
import { ConfigError, parseNetworkConfig } from '../config/parse.js';
import { createConfigHint, sameConfigText } from './config-text.js';
import { FollowingRegistry } from './following-registry.js';
import type { Logger } from '../log.js';
import { describeEtcdError, type EtcdClientOptions, isEtcdUnavailable, reportEtcdError } from './etcd-client.js';
import { type EtcdApi, type LeaseRegistry, SubnetRegistry } from './registry.js';
import { EtcdV2Client, EtcdV2Error } from './v2/client.js';
import { V2SubnetRegistry } from './v2/registry.js';

export type EtcdApiMode = EtcdApi | 'auto';

export interface Registries {
  /** In the order auto looks: v3 first. */
  readonly list: readonly LeaseRegistry[];
  readonly v2Client: EtcdV2Client | null;
}

/** The registries `mode` may use; the v2 client is only made when v2 may be used. */
export function openRegistries(mode: EtcdApiMode, v3: Etcd3, clientOptions: EtcdClientOptions, prefix: string, log: Logger): Registries {
  const list: LeaseRegistry[] = [];
  if (mode !== 'v2') list.push(new SubnetRegistry(v3, prefix, log));
  let v2Client: EtcdV2Client | null = null;
  if (mode !== 'v3') {
    v2Client = new EtcdV2Client(clientOptions, log);
    list.push(new V2SubnetRegistry(v2Client, prefix, log));
  }
  return { list, v2Client };
}

/** An etcd with v2 turned off answers 404 to /v2/keys: for auto that is "no v2 config", not an error. */
function v2Disabled(err: unknown): boolean {
  return err instanceof EtcdV2Error && err.code === 404;
}

/**
 * Reads `<prefix>/config` from every registry; throws the first error (in the list's order) that is not "v2 is off".
 * The reads go out together: with auto, the v2 store's HTTP round trip overlaps the v3 one on the way to subnet.env.
 */
export async function readConfigTexts(regs: readonly LeaseRegistry[]): Promise<Map<EtcdApi, string | null>> {
  const results = await Promise.allSettled(regs.map((r) => r.getConfigText()));
  const texts = new Map<EtcdApi, string | null>();
  for (const [i, r] of regs.entries()) {
    const result = results[i]!;
    if (result.status === 'fulfilled') texts.set(r.api, result.value);
    else if (regs.length > 1 && v2Disabled(result.reason)) texts.set(r.api, null);
    else throw result.reason;
  }
  return texts;
}

/** The registry to use given what each store holds: the first (v3 before v2) with a config, or null. */
export function pickRegistry(regs: readonly LeaseRegistry[], texts: ReadonlyMap<EtcdApi, string | null>): LeaseRegistry | null {
  return regs.find((r) => (texts.get(r.api) ?? null) !== null) ?? null;
}

/** The warning when both stores hold a config and they differ, or null. */
export function divergenceWarning(texts: ReadonlyMap<EtcdApi, string | null>, chosen: EtcdApi, key: string): string | null {
  const v2 = texts.get('v2') ?? null;
  const v3 = texts.get('v3') ?? null;
  if (v2 === null || v3 === null || sameConfigText(v2, v3)) return null;
  return `the v2 and v3 stores both hold ${key} and they differ; using the ${chosen} one. Remove the stale one `
    + `(ETCDCTL_API=2 etcdctl rm ${key}) or run tsflanneld migrate-etcd --from v2 --to v3 --force`;
}

function notFoundReason(regs: readonly LeaseRegistry[]): string {
  const key = regs[0]!.configKey;
  const where = regs.length > 1 ? 'the etcd v3 and v2 stores' : `the etcd ${regs[0]!.api} store`;
  const hint = regs.length === 1 && regs[0]!.api === 'v2' ? createConfigHint('v2', key) : createConfigHint('v3', key);
  return `network config not found at ${key} (looked in ${where}): create it with ${hint}`;
}

/**
 * Reads the config until a store has a valid one, every `retryMs`; says why once per distinct reason. Rejects when
 * `signal` aborts.
 */
export async function waitForNetworkConfig(regs: readonly LeaseRegistry[], log: Logger, signal: AbortSignal,
  retryMs = 1000): Promise<{ registry: LeaseRegistry; config: NetworkConfig; text: string }> {
  let lastReason = '';
  for (;;) {
    signal.throwIfAborted();
    let reason: string;
    let kind: string | null = null;
    try {
      const texts = await readConfigTexts(regs);
      const registry = pickRegistry(regs, texts);
      if (registry === null) {
        reason = notFoundReason(regs);
      } else {
        const text = texts.get(registry.api) as string;
        try {
          const config = parseNetworkConfig(text);
          if (regs.length > 1) {
            log.info({ key: registry.configKey, api: registry.api }, registry.api === 'v2'
              ? 'using the etcd v2 API: the network config is only in the v2 store (a flannel 0.7 cluster); '
                + 'move it with tsflanneld migrate-etcd --from v2 --to v3'
              : 'using the etcd v3 API');
          }
          const diverge = divergenceWarning(texts, registry.api, registry.configKey);
          if (diverge) log.warn({ key: registry.configKey }, diverge);
          // auto on v2: follow the network to v3 once migrate-etcd has copied it there.
          const v3 = regs.find((r) => r.api === 'v3');
          return { registry: registry.api === 'v2' && v3 ? new FollowingRegistry(registry, v3, log) : registry, config, text };
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          reason = `${e.message} (at ${registry.configKey}, etcd ${registry.api})`;
        }
      }
    } catch (e) {
      reason = describeEtcdError(e);
      if (isEtcdUnavailable(e)) kind = 'etcd unreachable';
      reportEtcdError('get_config');
    }
    if ((kind ?? reason) !== lastReason) {
      log.error({ key: regs[0]!.configKey }, `${reason}; retrying every ${retryMs / 1000} s`);
      lastReason = kind ?? reason;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, retryMs);
      signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
  }
}
