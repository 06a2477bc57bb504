// A real etcd member on loopback and one client to it for a describe block of lease tests, and LeaseManagers with
// the tests' defaults (TTL 60 s, no previous subnet). Everything made is stopped after the block, before the
// client closes and etcd goes.
import { after, before } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { startEtcd, stopAllEtcd, type EtcdMember } from './etcd.js';
import { recordingLogger, type RecordingLogger } from './subnet-fixtures.js';
import { createEtcdClient } from '../../src/subnet/etcd-client.js';
import { SubnetRegistry } from '../../src/subnet/registry.js';
import { LeaseManager, type LeaseManagerOptions } from '../../src/subnet/lease-manager.js';
import type { NetworkConfig } from '../../src/config/network-config.js';
import type { LeaseAttrs } from '../../src/subnet/lease.js';

export interface LeaseLab {
  /** Set once the block's `before` ran. */
  readonly etcd: EtcdMember;
  readonly client: Etcd3;
  readonly rec: RecordingLogger;
  manager(prefix: string, config: NetworkConfig, attrs: LeaseAttrs, extra?: Partial<LeaseManagerOptions>): LeaseManager;
  /** Something else (a watcher) to stop after the block. */
  onStop(stop: () => Promise<void>): void;
}

/** Call inside a describe: registers its before/after. */
export function leaseLab(): LeaseLab {
  let etcd: EtcdMember | undefined;
  let client: Etcd3 | undefined;
  const rec = recordingLogger();
  const stops: Array<() => Promise<void>> = [];
  before(async () => {
    etcd = await startEtcd();
    client = createEtcdClient({ endpoints: [etcd.clientUrl] }, rec.log);
  });
  after(async () => {
    await Promise.all(stops.map((s) => s()));
    client?.close();
    await stopAllEtcd();
  });
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the lease lab is used before its describe block started etcd');
    return v;
  };
  return {
    get etcd() { return ready(etcd); },
    get client() { return ready(client); },
    rec,
    manager(prefix, config, attrs, extra = {}) {
      const m = new LeaseManager({ registry: new SubnetRegistry(ready(client), prefix, rec.log), config, ttlSeconds: 60,
        renewMarginMinutes: 60, attrs, previousSubnet: null, log: rec.log, ...extra });
      stops.push(() => m.stop());
      return m;
    },
    onStop(stop) {
      stops.push(stop);
    },
  };
}
