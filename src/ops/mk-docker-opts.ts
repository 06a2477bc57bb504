// `tsflanneld mk-docker-opts`: upstream's dist/mk-docker-opts.sh, output byte for byte. It turns subnet.env into
// Docker daemon options: DOCKER_OPT_* lines and one combined `KEY=" --bip=… --ip-masq=… --mtu=…"` line.
// The pure part (renderDockerOpts) takes the variables and returns the file text; the command does the I/O.
// Like the script it passes the FLANNEL_IPV6_* keys by: an IPv6-only subnet.env gives no --bip.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface MkDockerOptsOptions {
  /** -f: the flannel env file. */
  readonly flannelEnv: string;
  /** -d: the Docker env file written. */
  readonly dockerEnv: string;
  /** -i: individual DOCKER_OPT_* lines. */
  readonly individual: boolean;
  /** -c: the combined line. Neither -i nor -c means both. */
  readonly combined: boolean;
  /** -k: name of the combined variable. */
  readonly combinedKey: string;
  /** false with -m: leave --ip-masq out (older Docker). */
  readonly ipMasq: boolean;
}

export const MK_DOCKER_OPTS_DEFAULTS: MkDockerOptsOptions = {
  flannelEnv: '/run/flannel/subnet.env', dockerEnv: '/run/docker_opts.env',
  individual: false, combined: false, combinedKey: 'DOCKER_OPTS', ipMasq: true,
};

/**
 * What the script prints on stderr for -h or any option it does not know, before it exits 1: the synopsis, one line
 * on what it does, and a tab-indented list of the options with their defaults.
 */
export const MK_DOCKER_OPTS_USAGE = `tsflanneld mk-docker-opts [-f FLANNEL-ENV-FILE] [-d DOCKER-ENV-FILE] [-i] [-c] [-m] [-k COMBINED-KEY]

Write Docker daemon options derived from the flannel env file
OPTIONS:
\t-f\tflannel env file to read (default ${MK_DOCKER_OPTS_DEFAULTS.flannelEnv})
\t-d\tDocker env file to write (default ${MK_DOCKER_OPTS_DEFAULTS.dockerEnv})
\t-i\twrite each option as a variable of its own, such as DOCKER_OPT_MTU=1500
\t-c\twrite the options combined into one variable (${MK_DOCKER_OPTS_DEFAULTS.combinedKey} unless -k)
\t-k\tname of the combined variable (default ${MK_DOCKER_OPTS_DEFAULTS.combinedKey})
\t-m\tleave --ip-masq out (for older Docker versions)

`;

export type RenderResult = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly error: string };

/**
 * `vars` is what the script sees after sourcing the env file: the process environment overlaid with the file's
 * assignments. DOCKER_OPT_* variables already present are emitted too (the script lists them with `set`).
 */
export function renderDockerOpts(opts: MkDockerOptsOptions, vars: Readonly<Record<string, string | undefined>>): RenderResult {
  const both = !opts.individual && !opts.combined;
  const individual = opts.individual || both;
  const combined = opts.combined || both;
  const dockerOpts = new Map<string, string>();
  for (const [name, value] of Object.entries(vars)) {
    if (name.startsWith('DOCKER_OPT_') && value !== undefined) dockerOpts.set(name, value);
  }
  const subnet = vars.FLANNEL_SUBNET ?? '';
  const mtu = vars.FLANNEL_MTU ?? '';
  const masq = vars.FLANNEL_IPMASQ ?? '';
  if (subnet !== '') dockerOpts.set('DOCKER_OPT_BIP', `--bip=${subnet}`);
  if (mtu !== '') dockerOpts.set('DOCKER_OPT_MTU', `--mtu=${mtu}`);
  if (masq !== '' && opts.ipMasq) {
    // Inverted on purpose: when flannel masquerades, Docker must not do it a second time.
    if (masq === 'true') dockerOpts.set('DOCKER_OPT_IPMASQ', '--ip-masq=false');
    else if (masq === 'false') dockerOpts.set('DOCKER_OPT_IPMASQ', '--ip-masq=true');
    else return { ok: false, error: `Invalid value of FLANNEL_IPMASQ: ${masq}` };
  }
  const existing = vars[opts.combinedKey] ?? '';
  let combinedValue = existing !== '' ? `${existing} ` : '';
  let text = '';
  // `set` lists variables sorted by name; `echo $VALUE` unquoted collapses blanks.
  for (const name of [...dockerOpts.keys()].sort()) {
    const value = (dockerOpts.get(name) as string).trim().split(/\s+/).join(' ');
    if (individual) text += `${name}="${value}"\n`;
    combinedValue += ` ${value}`;
  }
  if (combined) text += `${opts.combinedKey}="${combinedValue}"\n`;
  return { ok: true, text };
}

/** What `. subnet.env` assigns: `KEY=value` lines, optional quotes, `#` comments, optional `export`. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let value = (m[2] as string).trim();
    const quoted = /^"(.*)"$/.exec(value) ?? /^'(.*)'$/.exec(value);
    if (quoted) value = quoted[1] as string;
    else value = value.replace(/\s+#.*$/, '');
    out[m[1] as string] = value;
  }
  return out;
}

/** `10.1.74.1/24` → `10.1.74.0/24` the way the script computes it (last octet minus one). */
export function subnetOfFlannelSubnet(flannelSubnet: string): string | null {
  const m = /^(\d+\.\d+\.\d+)\.(\d+)\/(\d+)$/.exec(flannelSubnet);
  if (!m) return null;
  return `${m[1]}.${Number(m[2]) - 1}/${m[3]}`;
}

/** Lines of `ip route show` that already route our subnet through a gateway (Docker's bridge would clash). */
export function conflictingRoutes(ipRouteShow: string, subnet: string): string[] {
  return ipRouteShow.split('\n').filter((l) => l.includes(subnet) && l.includes('via'));
}

/** Runs the command; returns the exit status (0 or 1) after printing any error on stderr. */
export function runMkDockerOpts(opts: MkDockerOptsOptions, env: NodeJS.ProcessEnv = process.env): number {
  const vars: Record<string, string | undefined> = { ...env };
  try {
    if (fs.statSync(opts.flannelEnv).isFile()) Object.assign(vars, parseEnvFile(fs.readFileSync(opts.flannelEnv, 'utf8')));
  } catch { /* a missing env file is not an error for the script either */ }
  const result = renderDockerOpts(opts, vars);
  if (!result.ok) {
    process.stderr.write(`${result.error}\n`);
    return 1;
  }
  try {
    fs.writeFileSync(opts.dockerEnv, result.text);
  } catch (err) {
    process.stderr.write(`mk-docker-opts: cannot write ${opts.dockerEnv}: ${(err as Error).message}\n`);
    return 1;
  }
  const subnet = subnetOfFlannelSubnet(vars.FLANNEL_SUBNET ?? '');
  if (subnet !== null) {
    let routes = '';
    try {
      routes = execFileSync('ip', ['route', 'show'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch { /* without iproute2 the check cannot run; the script would not stop either */ }
    const clash = conflictingRoutes(routes, subnet);
    if (clash.length > 0) {
      process.stderr.write(`Your routing table already contains the subnet: ${clash.join('\n')}\n`);
      return 1;
    }
  }
  return 0;
}
