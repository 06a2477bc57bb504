// One read of what etcd holds for this network (config and every lease), for `status` and `doctor`. Uses the
// daemon's own client settings and registry, with a deadline so an unreachable etcd gives a one-line answer.
import type { Etcd3 } from 'etcd3';
import { log } from '../log.js';
import type { Options } from '../options.js';
import { ConfigError, parseNetworkConfig } from '../config/parse.js';
import type { NetworkConfig } from '../config/network-config.js';
import { createEtcdClient, describeEtcdError } from '../subnet/etcd-client.js';
import type { Lease } from '../subnet/lease.js';
import { SubnetRegistry } from '../subnet/registry.js';

export interface ClusterView {
  readonly configKey: string;
  readonly subnetsPrefix: string;
  /** null when the key is absent. */
  readonly configText: string | null;
  readonly config: NetworkConfig | null;
  /** Why the config is unusable (absent or invalid), or null. */
  readonly configError: string | null;
  readonly leases: readonly Lease[];
}

export class EtcdUnreachable extends Error {
  override readonly name = 'EtcdUnreachable';
}

const DEADLINE_MS = 8000;

export async function readClusterView(options: Options): Promise<ClusterView> {
  // Quiet: the command prints its own one-line error; the client's retry chatter would only repeat it.
  const quiet = log.child({ component: 'ops-etcd' }, { level: 'silent' });
  let client: Etcd3;
  try {
    client = createEtcdClient({ endpoints: options.etcdEndpoints, keyfile: options.etcdKeyfile, certfile: options.etcdCertfile,
      cafile: options.etcdCafile, username: options.etcdUsername, password: options.etcdPassword, callTimeoutMs: 3000 }, quiet);
  } catch (e) {
    throw new EtcdUnreachable((e as Error).message);
  }
  const registry = new SubnetRegistry(client, options.etcdPrefix, quiet);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${DEADLINE_MS / 1000} s`)), DEADLINE_MS);
  });
  try {
    const [configText, listed] = await Promise.race([
      Promise.all([registry.getConfigText(), registry.listLeases()]), deadline]);
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
      leases: listed.leases };
  } catch (e) {
    throw new EtcdUnreachable(`cannot read etcd at ${options.etcdEndpoints.join(',')}: ${describeEtcdError(e)}`);
  } finally {
    clearTimeout(timer);
    client.close();
  }
}
