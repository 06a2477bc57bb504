// The Internet checksum (RFC 1071) over byte ranges, as plain numbers: sums stay exact doubles far beyond 64 KiB.

/** Folded sum of a byte range; the loop threads install the native one (see useRangeSum). */
export type RangeSum = (buf: Uint8Array, off: number, len: number) => number;

/** Ranges shorter than this are summed in JS even with a native sum installed: the call would cost more. */
const NATIVE_SUM_MIN_LEN = 128;
let rangeSum: RangeSum | null = null;

/** Installs a faster implementation of the range sum (the addon's checksumSum) for this thread. */
export function useRangeSum(fn: RangeSum | null): void {
  rangeSum = fn;
}

/** Adds the big-endian 16-bit words of buf[off, off+len) to `initial`; an odd last byte is padded with zero. */
export function sumWords(buf: Uint8Array, off: number, len: number, initial = 0): number {
  if (rangeSum !== null && len >= NATIVE_SUM_MIN_LEN) return initial + rangeSum(buf, off, len);
  return sumWordsJs(buf, off, len, initial);
}

/** The pure-JS range sum. */
export function sumWordsJs(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  const end = off + len;
  const evenEnd = off + (len & ~1);
  let i = off;
  for (; i + 8 <= evenEnd; i += 8) {
    sum += ((buf[i]! << 8) | buf[i + 1]!) + ((buf[i + 2]! << 8) | buf[i + 3]!)
      + ((buf[i + 4]! << 8) | buf[i + 5]!) + ((buf[i + 6]! << 8) | buf[i + 7]!);
  }
  for (; i < evenEnd; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (evenEnd < end) sum += buf[evenEnd]! << 8;
  return sum;
}

/** Folds a sum to 16 bits with end-around carry. */
export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for a sum: its ones' complement. */
export function finishChecksum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/** Sum of the IPv4 pseudo-header of a TCP/UDP segment, with addresses read from the IPv4 header at `ipOff`. */
export function pseudoHeaderSum(buf: Uint8Array, ipOff: number, protocol: number, l4Length: number): number {
  return sumWords(buf, ipOff + 12, 8, protocol + l4Length);
}

/** The CHECKSUM_PARTIAL seed the kernel leaves in an offloaded TCP/UDP header: the folded pseudo-header sum. */
export function pseudoHeaderSeed(buf: Uint8Array, ipOff: number, protocol: number, l4Length: number): number {
  return foldSum(pseudoHeaderSum(buf, ipOff, protocol, l4Length));
}

/** Recomputes the IPv4 header checksum in place. */
export function writeIPv4HeaderChecksum(buf: Uint8Array, ipOff: number, headerLen: number): void {
  buf[ipOff + 10] = 0;
  buf[ipOff + 11] = 0;
  const c = finishChecksum(sumWords(buf, ipOff, headerLen));
  buf[ipOff + 10] = c >> 8;
  buf[ipOff + 11] = c & 0xff;
}

/**
 * Completes a partial checksum as the kernel would for CHECKSUM_PARTIAL: the field at start+offset holds the seed;
 * the result covers buf[start, end). UDP's "no checksum" value 0 is sent as 0xffff.
 */
export function completePartialChecksum(buf: Uint8Array, start: number, offset: number, end: number, udp: boolean): void {
  let c = finishChecksum(sumWords(buf, start, end - start));
  if (udp && c === 0) c = 0xffff;
  buf[start + offset] = c >> 8;
  buf[start + offset + 1] = c & 0xff;
}
