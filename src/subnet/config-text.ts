// Network config text helpers: the etcdctl line that creates it (the daemon's and doctor's messages alike), and
// whether two texts mean the same config.
import { EXAMPLE_CONFIG } from '../config/parse.js';
import type { EtcdApi } from './registry.js';

/** The etcdctl line that creates the config in the store of `api` (CentOS 7's etcdctl speaks v2 unless told). */
export function createConfigHint(api: EtcdApi, key: string, endpoints?: string): string {
  const at = endpoints ? ` --endpoints=${endpoints}` : '';
  return api === 'v2'
    ? `ETCDCTL_API=2 etcdctl${at} set ${key} '${EXAMPLE_CONFIG}'`
    : `ETCDCTL_API=3 etcdctl${at} put ${key} '${EXAMPLE_CONFIG}'`;
}

/** The etcdctl line that deletes keys in the store of `api`. */
export function deleteKeysHint(api: EtcdApi, keys: readonly string[], endpoints: string): string {
  return api === 'v2'
    ? keys.map((k) => `ETCDCTL_API=2 etcdctl --endpoints=${endpoints} rm ${k}`).join('; ')
    : `etcdctl --endpoints=${endpoints} del ${keys.join(' ')}`;
}

/** JSON texts that mean the same config (key order and spacing aside). */
export function sameConfigText(a: string, b: string): boolean {
  const canon = (t: string): string => {
    try {
      return JSON.stringify(sortKeys(JSON.parse(t)));
    } catch {
      return t.trim();
    }
  };
  return canon(a) === canon(b);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
}
