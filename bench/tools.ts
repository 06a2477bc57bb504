// The external programs the benchmark runs, checked up front so a missing one is one clear line, not a stack trace.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Tool {
  readonly command: string;
  readonly debianPackage: string;
  readonly neededFor: string;
}

export const REQUIRED_TOOLS: readonly Tool[] = [
  { command: 'ip', debianPackage: 'iproute2', neededFor: 'the namespace testbed' },
  { command: 'iperf3', debianPackage: 'iperf3', neededFor: 'throughput and packet rate' },
  { command: 'etcd', debianPackage: 'etcd-server', neededFor: 'the daemons\' store' },
  { command: 'etcdctl', debianPackage: 'etcd-client', neededFor: 'health checks and the network config' },
  { command: 'ping', debianPackage: 'iputils-ping', neededFor: 'round-trip times' },
];

export function isOnPath(command: string, searchPath = process.env.PATH ?? ''): boolean {
  return searchPath.split(path.delimiter).filter((d) => d !== '').some((dir) => {
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return fs.statSync(path.join(dir, command)).isFile();
    } catch {
      return false;
    }
  });
}

/** One line per missing tool, e.g. "iperf3 is missing (throughput and packet rate): apt-get install iperf3". */
export function missingTools(tools: readonly Tool[] = REQUIRED_TOOLS, onPath: (c: string) => boolean = isOnPath): string[] {
  return tools.filter((t) => !onPath(t.command))
    .map((t) => `${t.command} is missing (${t.neededFor}): apt-get install ${t.debianPackage}`);
}
