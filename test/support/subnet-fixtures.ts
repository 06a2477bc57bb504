// Shared bits for the subnet integration tests: network configs, a logger that records lines, unique prefixes.
import * as crypto from 'node:crypto';
import { Writable } from 'node:stream';
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

export interface RecordingLogger {
  readonly log: Logger;
  readonly lines: Array<Record<string, unknown>>;
  /** Messages (msg field) recorded so far. */
  messages(): string[];
}

/** A pino logger that keeps its JSON lines in memory (and prints them when TSFL_TEST_LOG=1). */
export function recordingLogger(level = 'debug'): RecordingLogger {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        lines.push(JSON.parse(line) as Record<string, unknown>);
        if (process.env.TSFL_TEST_LOG === '1') process.stderr.write(`${line}\n`);
      }
      cb();
    },
  });
  const log = pino({ level }, sink);
  return { log, lines, messages: () => lines.map((l) => String(l.msg)) };
}

export function uniquePrefix(): string {
  return `/tsfl-test-${crypto.randomBytes(4).toString('hex')}/network`;
}
