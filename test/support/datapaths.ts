// The daemon's datapaths as test cases, and the two-host network each runs on. The kernel ones keep forwarding
// without the daemon (kernel state): the ones the outage and crash tests run on.

export interface DaemonDatapath {
  readonly name: string;
  readonly backend: string;
  readonly daemonArgs: readonly string[];
}

export const KERNEL_DATAPATHS: readonly DaemonDatapath[] = [
  { name: 'host-gw', backend: 'host-gw', daemonArgs: [] },
  { name: 'vxlan, kernel datapath', backend: 'vxlan', daemonArgs: ['--vxlan-datapath', 'kernel'] },
];

/** Every datapath the daemon runs: the kernel ones and the userspace vxlan one. */
export const DAEMON_DATAPATHS: readonly DaemonDatapath[] = [
  ...KERNEL_DATAPATHS,
  { name: 'vxlan, userspace datapath', backend: 'vxlan', daemonArgs: ['--vxlan-datapath', 'userspace'] },
];

/** The network config the datapath suites put in etcd: 10.0.0.0/16 in /24s with the datapath's backend. */
export function datapathNetwork(dp: DaemonDatapath): { Network: string; SubnetLen: number; Backend: { Type: string } } {
  return { Network: '10.0.0.0/16', SubnetLen: 24, Backend: { Type: dp.backend } };
}
