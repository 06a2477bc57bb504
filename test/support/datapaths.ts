// The datapaths that keep forwarding without the daemon (kernel state): the ones the outage and crash tests run on.

export interface KernelDatapath {
  readonly name: string;
  readonly backend: string;
  readonly daemonArgs: readonly string[];
}

export const KERNEL_DATAPATHS: readonly KernelDatapath[] = [
  { name: 'host-gw', backend: 'host-gw', daemonArgs: [] },
  { name: 'vxlan, kernel datapath', backend: 'vxlan', daemonArgs: ['--vxlan-datapath', 'kernel'] },
];
