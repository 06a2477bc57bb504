// Reads subnet.env the way Docker's `--bip/--mtu` glue does: plain KEY=value lines.
import * as fs from 'node:fs';

export interface SubnetEnv {
  /** FLANNEL_NETWORK, e.g. 10.0.0.0/16 */
  readonly network: string;
  /** FLANNEL_SUBNET, e.g. 10.0.7.1/24 (the bridge address with the subnet's prefix) */
  readonly subnet: string;
  readonly mtu: number;
  readonly ipMasq: boolean;
  /** Every line as read, in order, for exact-format assertions and printing. */
  readonly raw: string;
  readonly vars: Readonly<Record<string, string>>;
}

export function parseSubnetEnv(text: string): SubnetEnv {
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) vars[line.slice(0, eq)] = line.slice(eq + 1);
  }
  const need = (k: string): string => {
    const v = vars[k];
    if (v === undefined) throw new Error(`subnet.env lacks ${k}: ${JSON.stringify(text)}`);
    return v;
  };
  return { network: need('FLANNEL_NETWORK'), subnet: need('FLANNEL_SUBNET'), mtu: Number(need('FLANNEL_MTU')),
    ipMasq: need('FLANNEL_IPMASQ') === 'true', raw: text, vars };
}

/** The parsed file, or null while it does not exist or is incomplete. */
export function readSubnetEnv(file: string): SubnetEnv | null {
  try {
    return parseSubnetEnv(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/** Every KEY=value line, whatever is missing (an IPv6-only subnet.env has no FLANNEL_SUBNET); {} while absent. */
export function readSubnetEnvVars(file: string): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) vars[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return vars;
}
