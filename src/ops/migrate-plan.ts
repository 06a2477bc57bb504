// What `migrate-etcd --from v2 --to v3` would do, decided from what both stores hold: pure, so the dry run and the real
// run print the same plan and a second run finds nothing to do.
import { sameConfigText } from '../subnet/config-text.js';

export interface V2Entry {
  readonly key: string;
  readonly value: string;
  /** Seconds the key has left; null when it has no TTL (a reservation). */
  readonly ttl: number | null;
}

export type StepAction = 'copy' | 'same' | 'overwrite' | 'keep-v3' | 'skip-expiring';

export interface MigrationStep {
  readonly key: string;
  readonly value: string;
  readonly ttl: number | null;
  readonly action: StepAction;
}

export interface MigrationPlan {
  readonly config: MigrationStep;
  readonly leases: readonly MigrationStep[];
  /** Set when the v3 config differs and --force was not given: nothing may be written. */
  readonly refusal: string | null;
}

export interface MigrationInput {
  readonly configKey: string;
  readonly v2Config: string;
  readonly v3Config: string | null;
  readonly v2Leases: readonly V2Entry[];
  /** Key → value of what the v3 store holds under subnets/. */
  readonly v3Leases: ReadonlyMap<string, string>;
  readonly force: boolean;
}

export function planMigration(i: MigrationInput): MigrationPlan {
  let configAction: StepAction = 'copy';
  let refusal: string | null = null;
  if (i.v3Config !== null) {
    if (sameConfigText(i.v2Config, i.v3Config)) configAction = 'same';
    else if (i.force) configAction = 'overwrite';
    else {
      configAction = 'keep-v3';
      refusal = `the v3 store already holds a different config at ${i.configKey} (${i.v3Config.trim()}); `
        + 'nothing was written: check which one is right, then run again with --force to overwrite the v3 one';
    }
  }
  const leases = i.v2Leases.map((e): MigrationStep => {
    const inV3 = i.v3Leases.get(e.key);
    let action: StepAction;
    if (e.ttl !== null && e.ttl <= 0) action = 'skip-expiring';
    else if (inV3 === undefined) action = 'copy';
    else if (inV3 === e.value) action = 'same';
    else action = i.force ? 'overwrite' : 'keep-v3';
    return { key: e.key, value: e.value, ttl: e.ttl, action };
  });
  return { config: { key: i.configKey, value: i.v2Config, ttl: null, action: configAction }, leases, refusal };
}

const DONE: Record<StepAction, string> = {
  copy: 'copied', same: 'already in v3, the same', overwrite: 'overwrote the v3 value (--force)',
  'keep-v3': 'differs in v3: left as it is (--force overwrites)', 'skip-expiring': 'skipped: its TTL is running out',
};
const WOULD: Record<StepAction, string> = {
  copy: 'would copy', same: 'already in v3, the same', overwrite: 'would overwrite the v3 value (--force)',
  'keep-v3': 'differs in v3: would be left as it is (--force overwrites)', 'skip-expiring': 'would skip: its TTL is running out',
};

/** One line per step, then a summary. */
export function describePlan(plan: MigrationPlan, dryRun: boolean): string[] {
  const words = dryRun ? WOULD : DONE;
  const ttl = (s: MigrationStep): string => (s.ttl === null ? 'no TTL (reservation)' : `TTL ${s.ttl} s as a v3 lease`);
  const lines = [`config ${plan.config.key}: ${words[plan.config.action]}`];
  for (const s of plan.leases) lines.push(`lease ${s.key}: ${words[s.action]}${s.action === 'copy' || s.action === 'overwrite' ? `, ${ttl(s)}` : ''}`);
  const count = (a: StepAction): number => plan.leases.filter((s) => s.action === a).length;
  const written = count('copy') + count('overwrite');
  lines.push(`${dryRun ? 'dry run, nothing written: ' : ''}${written} of ${plan.leases.length} leases ${dryRun ? 'to copy' : 'copied'}, `
    + `${count('same')} already there${count('keep-v3') > 0 ? `, ${count('keep-v3')} differing left alone` : ''}`);
  return lines;
}
