// The etcdctl line an operator runs to create the network config, for the daemon's and doctor's messages alike.
import { EXAMPLE_CONFIG } from '../config/parse.js';
import type { EtcdApi } from './registry.js';

/** The etcdctl line that creates the config in the store of `api` (CentOS 7's etcdctl speaks v2 unless told). */
export function createConfigHint(api: EtcdApi, key: string, endpoints?: string): string {
  const at = endpoints ? ` --endpoints=${endpoints}` : '';
  return api === 'v2'
    ? `ETCDCTL_API=2 etcdctl${at} set ${key} '${EXAMPLE_CONFIG}'`
    : `ETCDCTL_API=3 etcdctl${at} put ${key} '${EXAMPLE_CONFIG}'`;
}
