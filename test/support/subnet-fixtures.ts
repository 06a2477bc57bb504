// Shared bits for tests: network configs, a logger that records its lines, unique etcd prefixes.
import * as crypto from 'node:crypto';
import pino from 'pino';
import type { NetworkConfig } from '../../src/config/network-config.js';
import type { Logger } from '../../src/log.js';
import { parseCidr, parseIPv4, prefixSize } from '../../src/net/ipv4.js';

/** A NetworkConfig with upstream's defaults (first subnet skipped) unless SubnetMin/Max are given. */
export function testConfig(network: string, subnetLen: number, min?: string, max?: string): NetworkConfig {
  const net = parseCidr(network);
  if (!net) throw new Error(`bad network ${network}`);
  const size = prefixSize(subnetLen);
  return {
    enableIPv4: true, enableIPv6: false, enableNFTables: false, network: net, subnetLen,
    subnetMin: min ? parseIPv4(min)! : net.ip + size,
    subnetMax: max ? parseIPv4(max)! : net.ip + prefixSize(net.prefixLen) - size,
    backend: { type: 'alloc', raw: { Type: 'alloc' } },
  };
}

/** One pino JSON line. */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface RecordingLogger {
  readonly log: Logger;
  readonly lines: LogLine[];
  /** Messages (msg field) recorded so far. */
  messages(): string[];
  /** Messages logged at warn level (40). */
  warnings(): string[];
}

/**
 * A pino logger that keeps its JSON lines in memory (and prints them when TSFL_TEST_LOG=1). Its destination is a
 * plain synchronous write(), so a line is there as soon as the call that logs it returns.
 */
export function recordingLogger(level = 'debug'): RecordingLogger {
  const lines: LogLine[] = [];
  const sink = {
    write(chunk: string): void {
      for (const line of chunk.split('\n')) {
        if (!line.trim()) continue;
        lines.push(JSON.parse(line) as LogLine);
        if (process.env.TSFL_TEST_LOG === '1') process.stderr.write(`${line}\n`);
      }
    },
  };
  const log = pino({ level }, sink);
  return {
    log, lines,
    messages: () => lines.map((l) => String(l.msg)),
    warnings: () => lines.filter((l) => l.level === 40).map((l) => String(l.msg)),
  };
}

export function uniquePrefix(): string {
  return `/tsfl-test-${crypto.randomBytes(4).toString('hex')}/network`;
}
