// Checks of single flag values: each takes the flag's text and returns the value, or throws an OptionsError that
// names the flag, the value and what is expected.
import { parseIPv4 } from '../net/ipv4.js';
import { formatIPv6, parseIPv6 } from '../net/ipv6.js';

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

export type LogLevel = 'info' | 'debug' | 'trace';

export function goBool(flag: string, text: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  throw new OptionsError(`invalid --${flag} "${text}": expected true or false`);
}

export function integer(flag: string, text: string, min: number, max: number, hint: string): number {
  const t = text.trim();
  if (!/^[+-]?\d+$/.test(t) || Number(t) < min || Number(t) > max) {
    throw new OptionsError(`invalid --${flag} "${text}": expected ${hint}`);
  }
  return Number(t);
}

export function ipv4OrEmpty(flag: string, text: string): string {
  const t = text.trim();
  if (t === '') return '';
  if (parseIPv4(t) === null) throw new OptionsError(`invalid --${flag} "${text}": expected an IPv4 address such as 192.0.2.10`);
  return t;
}

/** Either family (--iface-can-reach: upstream routes to an IPv6 address as well). */
export function ipOrEmpty(flag: string, text: string): string {
  const t = text.trim();
  if (t === '') return '';
  const ip6 = t.includes(':') ? parseIPv6(t) : null;
  if (ip6 !== null) return formatIPv6(ip6);
  if (parseIPv4(t) === null) {
    throw new OptionsError(`invalid --${flag} "${text}": expected an IPv4 address such as 192.0.2.10 or an IPv6 address such as 2001:db8::10`);
  }
  return t;
}

export function ipv6OrEmpty(flag: string, text: string): string {
  const t = text.trim();
  if (t === '') return '';
  const ip = parseIPv6(t);
  if (ip === null) throw new OptionsError(`invalid --${flag} "${text}": expected an IPv6 address such as 2001:db8::10`);
  return formatIPv6(ip);
}

export function endpoints(text: string): string[] {
  const list = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const hint = 'expected comma-separated URLs such as http://127.0.0.1:2379';
  if (list.length === 0) throw new OptionsError(`invalid --etcd-endpoints "${text}": ${hint}`);
  for (const e of list) {
    let url: URL;
    try {
      url = new URL(e);
    } catch {
      throw new OptionsError(`invalid --etcd-endpoints "${text}": "${e}" is not a URL; ${hint}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:' || url.hostname === '') {
      throw new OptionsError(`invalid --etcd-endpoints "${text}": "${e}" is not an http:// or https:// URL; ${hint}`);
    }
  }
  return list;
}

/** Go's path.Join drops a trailing slash and doubled slashes; keys are built the same way here. */
export function etcdPrefix(text: string): string {
  const t = text.trim();
  if (t === '' || t === '/') throw new OptionsError(`invalid --etcd-prefix "${text}": expected a key prefix such as /coreos.com/network`);
  const joined = t.replace(/\/+/g, '/');
  return joined.length > 1 && joined.endsWith('/') ? joined.slice(0, -1) : joined;
}

export function regexes(list: string[]): string[] {
  for (const r of list) {
    try {
      new RegExp(r);
    } catch (e) {
      throw new OptionsError(`invalid --iface-regex "${r}": ${(e as Error).message}`);
    }
  }
  return list;
}

export function logLevel(text: string | undefined): LogLevel | null {
  if (text === undefined) return null;
  const level = integer('v', text, 0, 1000, 'a verbosity level such as 0, 2 or 5');
  return level >= 5 ? 'trace' : level >= 2 ? 'debug' : 'info';
}
