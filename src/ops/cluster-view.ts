// One read of what etcd holds for this network (config and every lease), for `status` and `doctor`. Uses the
// daemon's own client settings and registry, with a deadline so an unreachable etcd gives a one-line answer.
import type { Etcd3 } from 'etcd3';
import { log } from '../log.js';
import type { Options } from '../options.js';
import { ConfigError, parseNetworkConfig } from '../config/parse.js';
import type { NetworkConfig } from '../config/network-config.js';
import { createEtcdClient, describeEtcdError } from '../subnet/etcd-client.js';
import type { Lease } from '../subnet/lease.js';
import { divergenceWarning, openRegistries, pickRegistry, readConfigTexts } from '../subnet/config-source.js';
import type { EtcdApi } from '../subnet/registry.js';

export interface ClusterView {
  readonly configKey: string;
  readonly subnetsPrefix: string;
  /** null when the key is absent. */
  readonly configText: string | null;
  readonly config: NetworkConfig | null;
  /** Why the config is unusable (absent or invalid), or null. */
  readonly configError: string | null;
  readonly leases: readonly Lease[];
  /** The etcd API the daemon uses (or would, once a config is there) under these flags. */
  readonly api?: EtcdApi;
  /** Set when both the v2 and the v3 store hold a config and they differ. */
  readonly apiWarning?: string | null;
}

export class EtcdUnreachable extends Error {
  override readonly name = 'EtcdUnreachable';
}

const DEADLINE_MS = 8000;

export async function readClusterView(options: Options): Promise<ClusterView> {
  // Quiet: the command prints its own one-line error; the client's retry chatter would only repeat it.
  const quiet = log.child({ component: 'ops-etcd' }, { level: 'silent' });
  let client: Etcd3;
  let regs: ReturnType<typeof openRegistries>;
  try {
    const co = { endpoints: options.etcdEndpoints, keyfile: options.etcdKeyfile, certfile: options.etcdCertfile,
      cafile: options.etcdCafile, username: options.etcdUsername, password: options.etcdPassword, callTimeoutMs: 3000 };
    client = createEtcdClient(co, quiet);
    regs = openRegistries(options.etcdApi, client, co, options.etcdPrefix, quiet);
  } catch (e) {
    throw new EtcdUnreachable((e as Error).message);
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${DEADLINE_MS / 1000} s`)), DEADLINE_MS);
  });
  try {
    const texts = await Promise.race([readConfigTexts(regs.list), deadline]);
    // Without a config anywhere: the store the daemon would wait in first (v3 under auto).
    const registry = pickRegistry(regs.list, texts) ?? regs.list[0]!;
    const configText = texts.get(registry.api) ?? null;
    const listed = await Promise.race([registry.listLeases(), deadline]);
    let config: NetworkConfig | null = null;
    let configError: string | null = null;
    if (configText === null) configError = `no network config at ${registry.configKey}`;
    else {
      try {
        config = parseNetworkConfig(configText);
      } catch (e) {
        configError = e instanceof ConfigError ? e.message : String(e);
      }
    }
    return { configKey: registry.configKey, subnetsPrefix: registry.subnetsPrefix, configText, config, configError,
      leases: listed.leases, api: registry.api, apiWarning: divergenceWarning(texts, registry.api, registry.configKey) };
  } catch (e) {
    throw new EtcdUnreachable(`cannot read etcd at ${options.etcdEndpoints.join(',')}: ${describeEtcdError(e)}`);
  } finally {
    clearTimeout(timer);
    client.close();
    regs.v2Client?.close();
  }
}
