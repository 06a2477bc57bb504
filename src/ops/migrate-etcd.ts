// `tsflanneld migrate-etcd --from v2 --to v3 [--dry-run] [--force]`: copies a flannel 0.7 network (config and every
// lease, each with its remaining TTL as a v3 lease) from the v2 store into the v3 store of the same etcd, so nodes on
// the v3 API find it. Prints what it did; a second run finds everything there and writes nothing.
import * as path from 'node:path';
import type { Etcd3 } from 'etcd3';
import { log } from '../log.js';
import type { Options } from '../options.js';
import { parseSubnetKey } from '../subnet/codec.js';
import { createEtcdClient, describeEtcdError, type EtcdClientOptions } from '../subnet/etcd-client.js';
import { networkKeys } from '../subnet/registry.js';
import { EtcdV2Client, EtcdV2Error, V2_KEY_NOT_FOUND } from '../subnet/v2/client.js';
import { describePlan, planMigration, type MigrationPlan, type MigrationStep, type V2Entry } from './migrate-plan.js';

export interface MigrateRequest {
  readonly from: string;
  readonly to: string;
  readonly dryRun: boolean;
  readonly force: boolean;
}

/** Thrown for what the operator must fix; the command prints the message as one line and exits 1. */
export class MigrateError extends Error {
  override readonly name = 'MigrateError';
}

async function readV2(client: EtcdV2Client, prefix: string): Promise<{ config: string; leases: V2Entry[] }> {
  const { configKey, subnetsPrefix } = networkKeys(prefix);
  const conf = await client.getOrNull(configKey);
  if (!conf || conf.node.dir) {
    throw new MigrateError(`no network config in the v2 store at ${configKey}: nothing to migrate (check --etcd-prefix; `
      + `ETCDCTL_API=2 etcdctl get ${configKey} shows what is there)`);
  }
  const leases: V2Entry[] = [];
  try {
    const res = await client.get(subnetsPrefix, { recursive: true });
    for (const n of res.node.nodes ?? []) {
      if (n.dir || !parseSubnetKey(path.posix.basename(n.key))) continue;
      leases.push({ key: n.key, value: n.value ?? '', ttl: n.ttl ?? null });
    }
  } catch (err) {
    if (!(err instanceof EtcdV2Error && err.code === V2_KEY_NOT_FOUND)) throw err;
  }
  return { config: conf.node.value ?? '', leases };
}

async function apply(v3: Etcd3, step: MigrationStep): Promise<void> {
  if (step.action !== 'copy' && step.action !== 'overwrite') return;
  if (step.ttl === null) {
    await v3.put(step.key).value(step.value).exec();
    return;
  }
  const grant = await v3.leaseClient.leaseGrant({ TTL: step.ttl, ID: 0 });
  await v3.put(step.key).value(step.value).lease(grant.ID).exec();
}

/** Plans (and unless dry-run, applies) the copy; returns the plan. Throws MigrateError for a refusal. */
export async function migrateV2ToV3(v2: EtcdV2Client, v3: Etcd3, prefix: string, req: Pick<MigrateRequest, 'dryRun' | 'force'>): Promise<MigrationPlan> {
  const src = await readV2(v2, prefix);
  const { configKey, subnetsPrefix } = networkKeys(prefix);
  const v3Config = await v3.get(configKey).string();
  const listed = await v3.getAll().prefix(`${subnetsPrefix}/`).strings();
  const plan = planMigration({ configKey, v2Config: src.config, v3Config, v2Leases: src.leases,
    v3Leases: new Map(Object.entries(listed)), force: req.force });
  if (plan.refusal !== null || req.dryRun) return plan;
  // Leases first: a v3 node that starts on the config must find the leases already there, not pick a taken subnet.
  for (const s of plan.leases) await apply(v3, s);
  await apply(v3, plan.config);
  return plan;
}

export async function runMigrateEtcd(options: Options, req: MigrateRequest, out: (line: string) => void): Promise<number> {
  if (req.from !== 'v2' || req.to !== 'v3') {
    throw new MigrateError(`migrate-etcd --from ${req.from} --to ${req.to}: only --from v2 --to v3 is supported`);
  }
  const quiet = log.child({ component: 'migrate' }, { level: 'silent' });
  const co: EtcdClientOptions = { endpoints: options.etcdEndpoints, keyfile: options.etcdKeyfile, certfile: options.etcdCertfile,
    cafile: options.etcdCafile, username: options.etcdUsername, password: options.etcdPassword, callTimeoutMs: 3000 };
  const v2 = new EtcdV2Client(co, quiet);
  const v3 = createEtcdClient(co, quiet);
  try {
    const plan = await migrateV2ToV3(v2, v3, options.etcdPrefix, req);
    for (const line of describePlan(plan, req.dryRun || plan.refusal !== null)) out(line);
    if (plan.refusal !== null) throw new MigrateError(plan.refusal);
    return 0;
  } catch (err) {
    if (err instanceof MigrateError) throw err;
    throw new MigrateError(`cannot migrate (etcd at ${options.etcdEndpoints.join(',')}): ${describeEtcdError(err)}`);
  } finally {
    v2.close();
    v3.close();
  }
}
