// Conversions between our values and the raw Buffers the `netlink` package wants (it has no address types).
import { AttrStream, type StreamData } from 'netlink';
import { formatIPv4, ipFromBuffer, ipToBuffer, requireIPv4 } from '../net/ipv4.js';

export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_BRIDGE = 7;
export const RT_TABLE_MAIN = 254;
/** RTNH_F_ONLINK: the package's RouteFlags has no name for it. */
export const RTNH_F_ONLINK = 4;

/** Flattens what `ifla.formatInfo` / `formatVxlan` return into the Buffer that `linkinfo` / `Info.data` are typed as. */
export function toBuf(data: StreamData): Buffer {
  const stream = new AttrStream();
  stream.emit(data);
  return Buffer.concat(stream.bufs);
}

export { ipToBuffer as ip4ToBuf, ipFromBuffer as ip4FromBuf };

/** Dotted quad → 4-byte Buffer; throws on anything else (callers validate user input earlier). */
export function ip4StringToBuf(text: string): Buffer {
  return ipToBuffer(requireIPv4(text));
}

/** 4-byte Buffer → dotted quad; null when the attribute is absent or not IPv4. */
export function ip4BufToString(buf: Buffer | undefined): string | null {
  return buf && buf.length === 4 ? formatIPv4(ipFromBuffer(buf)) : null;
}

const MAC = /^([0-9a-f]{2})(?::([0-9a-f]{2})){5}$/i;

/** `aa:bb:cc:dd:ee:ff` → 6-byte Buffer. */
export function macToBuf(text: string): Buffer {
  if (!MAC.test(text)) throw new TypeError(`not a MAC address: '${text}'`);
  return Buffer.from(text.split(':').map((h) => parseInt(h, 16)));
}

/** 6-byte Buffer → lower-case `aa:bb:cc:dd:ee:ff`; null when absent or not 6 bytes. */
export function macFromBuf(buf: Buffer | undefined): string | null {
  if (!buf || buf.length !== 6) return null;
  return [...buf].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** 16-bit big-endian, as VXLAN's port attribute wants it. */
export function be16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

/** The package returns known enum values as names and unknown ones as numbers; we compare numbers. */
export function enumValue(table: Record<string, string | number>, value: string | number | undefined): number {
  if (value === undefined) return 0;
  if (typeof value === 'number') return value;
  const n = table[value];
  return typeof n === 'number' ? n : 0;
}
