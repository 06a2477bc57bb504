// subnet.env (flannel-compat §4): the file Docker and the CNI plugin read. Written exactly as upstream writes it,
// atomically and world-readable; read back tolerantly, because operators and older tools edit it by hand.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../log.js';
import { formatCidr, formatIPv4, parseCidr, type Ipv4Net } from '../net/ipv4.js';
import { formatCidr6, formatIPv6, parseCidr6, type Ipv6Net } from '../net/ipv6.js';

export interface SubnetEnvValues {
  /** Null in an IPv6-only network (EnableIPv4 false): then no FLANNEL_NETWORK and no FLANNEL_SUBNET. */
  readonly network: Ipv4Net | null;
  /** Our lease's subnet; FLANNEL_SUBNET is its first address with the subnet's prefix. */
  readonly subnet: Ipv4Net | null;
  /** Set with EnableIPv6: FLANNEL_IPV6_NETWORK and FLANNEL_IPV6_SUBNET (first address, as for IPv4). */
  readonly ipv6Network?: Ipv6Net | null;
  readonly ipv6Subnet?: Ipv6Net | null;
  readonly mtu: number;
  readonly ipMasq: boolean;
}

/** The file's content, keys in upstream's order: the IPv4 pair, the IPv6 pair, MTU, IPMASQ. */
export function formatSubnetEnv(v: SubnetEnvValues): string {
  const lines: string[] = [];
  if (v.network && v.subnet) {
    lines.push(`FLANNEL_NETWORK=${formatCidr(v.network)}`,
      `FLANNEL_SUBNET=${formatIPv4((v.subnet.ip + 1) >>> 0)}/${v.subnet.prefixLen}`);
  }
  if (v.ipv6Network && v.ipv6Subnet) {
    lines.push(`FLANNEL_IPV6_NETWORK=${formatCidr6(v.ipv6Network)}`,
      `FLANNEL_IPV6_SUBNET=${formatIPv6(v.ipv6Subnet.ip + 1n)}/${v.ipv6Subnet.prefixLen}`);
  }
  lines.push(`FLANNEL_MTU=${v.mtu}`, `FLANNEL_IPMASQ=${v.ipMasq ? 'true' : 'false'}`);
  return lines.join('\n') + '\n';
}

/** dotenv-like: `KEY=value`, optional `export `, single or double quotes, `#` comments and blank lines. */
export function parseSubnetEnv(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = (m[2] as string).trim();
    const quote = value[0];
    if ((quote === '"' || quote === '\'') && value.indexOf(quote, 1) > 0) {
      value = value.slice(1, value.indexOf(quote, 1));
    } else {
      // An unquoted value ends at a comment that follows whitespace.
      value = value.replace(/\s+#.*$/, '');
    }
    vars[m[1] as string] = value;
  }
  return vars;
}

/** The subnet from a previous run's FLANNEL_SUBNET (`10.5.52.1/24` → 10.5.52.0/24); null if absent or bad. */
export function previousSubnetFrom(text: string): Ipv4Net | null {
  const value = parseSubnetEnv(text).FLANNEL_SUBNET;
  return value === undefined ? null : parseCidr(value);
}

/** The IPv6 subnet from a previous run's FLANNEL_IPV6_SUBNET (`fd00::1/64` → fd00::/64); null if absent or bad. */
export function previousIPv6SubnetFrom(text: string): Ipv6Net | null {
  const value = parseSubnetEnv(text).FLANNEL_IPV6_SUBNET;
  return value === undefined ? null : parseCidr6(value);
}

/** FLANNEL_NETWORK, FLANNEL_SUBNET and their IPv6 twins of an earlier run (host bits masked); null where absent or bad. */
export interface PreviousLease {
  readonly network: Ipv4Net | null;
  readonly subnet: Ipv4Net | null;
  readonly ipv6Network?: Ipv6Net | null;
  readonly ipv6Subnet?: Ipv6Net | null;
}

/** What the previous run wrote, read before this run rewrites the file (no file: both null). */
export function readPreviousLease(file: string): PreviousLease {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { network: null, subnet: null, ipv6Network: null, ipv6Subnet: null };
  }
  const vars = parseSubnetEnv(text);
  return {
    network: vars.FLANNEL_NETWORK === undefined ? null : parseCidr(vars.FLANNEL_NETWORK),
    subnet: previousSubnetFrom(text),
    ipv6Network: vars.FLANNEL_IPV6_NETWORK === undefined ? null : parseCidr6(vars.FLANNEL_IPV6_NETWORK),
    ipv6Subnet: previousIPv6SubnetFrom(text),
  };
}

export function readPreviousSubnet(file: string): Ipv4Net | null {
  return readPreviousLease(file).subnet;
}

/**
 * Replaces the file in one step, so a reader sees the old content or the new, never a part: a temp file in the same
 * directory, fsync, rename, then fsync of the directory. Mode 0644 whatever the umask; the directory is made 0755.
 */
export function writeSubnetEnvAtomic(file: string, content: string): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w', 0o644);
    fs.writeFileSync(fd, content); // loops over short writes; ENOSPC throws
    fs.fchmodSync(fd, 0o644);
    fs.fsyncSync(fd);
    const done = fd;
    fd = undefined;
    fs.closeSync(done); // may report a deferred write error too
    fs.renameSync(tmp, file);
  } catch (e) {
    // A full disk must not leave a 0-byte temp file behind for every attempt.
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  syncDir(dir);
}

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30_000;

/**
 * Keeps subnet.env written: a failed write (a full disk, a read-only mount) is retried with backoff (1 s doubling to
 * 30 s) until it succeeds or a newer content replaces it. Meanwhile the old file stays whole.
 */
export class SubnetEnvWriter {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly file: string, private readonly log: Logger) {}

  /**
   * Writes now; returns whether that worked. If not, retries in the background and calls `afterRetry` once a retry
   * has written the file.
   */
  write(content: string, afterRetry?: () => void): boolean {
    this.cancel();
    const attempt = (n: number): boolean => {
      try {
        writeSubnetEnvAtomic(this.file, content);
      } catch (e) {
        const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (n - 1));
        const fields = { file: this.file, attempt: n, retryInMs: delay, code: (e as NodeJS.ErrnoException).code };
        if (n === 1) this.log.error(fields, `cannot write the subnet file: ${describeWriteError(e, this.file)}; retrying`);
        else this.log.debug(fields, 'subnet file still not written');
        this.timer = setTimeout(() => {
          this.timer = null;
          if (attempt(n + 1)) afterRetry?.();
        }, delay);
        this.timer.unref();
        return false;
      }
      this.log.info({ file: this.file, ...(n > 1 ? { attempts: n } : {}) }, 'wrote subnet file');
      return true;
    };
    return attempt(1);
  }

  /** True while a failed write waits for its next attempt. */
  get pending(): boolean {
    return this.timer !== null;
  }

  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

function describeWriteError(e: unknown, file: string): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return `the file system holding ${path.dirname(file)} is full (${code}); free space there`;
  }
  return (e as Error).message;
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is already atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
