// The checks both address families share in the network config parser: the one-line error and upstream's
// SubnetLen rules, parameterised by family.
import { truncateForLog } from '../log-values.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function fail(field: string, value: unknown, fix: string): never {
  throw new ConfigError(`invalid ${field} ${truncateForLog(JSON.stringify(value))} in the network config: ${fix}`);
}

/** The numbers that differ between the families in upstream's SubnetLen rules. */
export interface SubnetLenRules {
  readonly lenField: string;
  readonly networkField: string;
  /** The subnet length a big network gets (24 / 64). */
  readonly preferred: number;
  /** The longest subnet allowed (30 / 126): four addresses for the bridge and the device. */
  readonly longest: number;
}

/**
 * Upstream: `preferred` subnets for big networks, four subnets for small ones, nothing useful when four subnets of
 * the longest length do not fit.
 */
export function subnetLength(value: unknown, prefixLen: number, r: SubnetLenRules): number {
  if (value === undefined || value === 0) {
    if (prefixLen <= r.preferred - 2) return r.preferred;
    if (prefixLen <= r.longest - 2) return prefixLen + 2;
    fail(r.networkField, `/${prefixLen}`, `the smallest useful network is a /${r.longest - 2}; use a bigger ${r.networkField}`);
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    fail(r.lenField, value, `use a whole number such as ${r.preferred}`);
  }
  if (value > r.longest) fail(r.lenField, value, `use ${r.longest} or less`);
  if (value < prefixLen + 2) {
    fail(r.lenField, value, `the ${r.networkField} /${prefixLen} must hold at least four subnets: use ${prefixLen + 2} or more`);
  }
  return value;
}
