// The kernel IPv6 half retries a pass in which some peer failed soon, as flannel.<VNI> does, not at its next 10 s
// check: with IPv6 disabled on flannel-v6.1 the kernel refuses a new peer's neighbour and route; the backend says so
// and retries, and once IPv6 is back the peer ends up with its neighbour entry, FDB entry and route (IPv6-only
// network, kernel vxlan, one host). IPv6 off, rather than the link down, because nothing the daemon does undoes it:
// a resync of the device (e.g. after a kernel notice) would bring a downed link up again before the peer's pass.
import { after, before, describe, it } from 'node:test';
import { mustExec } from '../support/netns.js';
import { testbedUnavailable } from '../support/prerequisites.js';
import { addIpv6Underlay, ipv6RoutesReport, ipv6SubnetOf, waitForIpv6OnlyEnv } from '../support/ipv6-lab.js';
import { poll, Testbed, type Host } from '../support/testbed.js';

const DEVICE = 'flannel-v6.1';
const PEER_MAC = '02:6b:76:36:00:01';
const PEER_IP6 = '2001:db8::99';
const skip = testbedUnavailable();

describe('kernel vxlan, IPv6-only: a peer that fails to program is retried soon', { skip: skip ?? false, timeout: 120_000 }, () => {
  let tb: Testbed;
  let h1: Host;

  before(async () => {
    tb = await Testbed.create({ hosts: 1 });
    h1 = tb.host(1);
    await addIpv6Underlay(tb);
    await tb.putConfig({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00:61::/56', Backend: { Type: 'vxlan' } });
    tb.startDaemon(h1, ['--vxlan-datapath', 'kernel']);
    await waitForIpv6OnlyEnv(tb, h1, 30_000);
  });

  after(async () => {
    await tb?.destroy();
  });

  const show = async (argv: readonly string[]): Promise<string> => mustExec(['ip', '-n', h1.netns, ...argv]);

  it('the peer written while the device is down is programmed after the retry', () => tb.explainFailure(async () => {
    // Any /64 of the network but ours.
    const peer = ipv6SubnetOf(h1) === 'fd00:61:0:77::/64' ? 'fd00:61:0:78::' : 'fd00:61:0:77::';
    const ipv6Off = (off: boolean): Promise<string> =>
      mustExec(['ip', 'netns', 'exec', h1.netns, 'sysctl', '-qw', `net.ipv6.conf.${DEVICE.replace('.', '/')}.disable_ipv6=${off ? 1 : 0}`]);
    await ipv6Off(true);
    await tb.etcdctl(['put', `${tb.prefix}/subnets/0.0.0.0-0&${peer}-64`, JSON.stringify({ PublicIP: '0.0.0.0',
      PublicIPv6: PEER_IP6, BackendType: 'vxlan', BackendV6Data: { VNI: 1, VtepMAC: PEER_MAC } })]);
    // The backend said so and will retry, rather than leaving the peer to its 10 s check.
    await poll('the backend reports the failed IPv6 peer and a retry', () =>
      tb.daemonLog(h1).includes('some IPv6 peers could not be programmed; retrying them soon') ? true : null, 30_000);
    await ipv6Off(false);
    await poll('the peer\'s route, neighbour and FDB entries', async () => {
      const route = await show(['-6', 'route', 'show', 'exact', `${peer}/64`, 'dev', DEVICE]);
      const neigh = await show(['-6', 'neigh', 'show', 'dev', DEVICE, 'nud', 'permanent']);
      const fdb = await mustExec(['bridge', '-n', h1.netns, 'fdb', 'show', 'dev', DEVICE]);
      return route.includes('onlink') && neigh.includes(PEER_MAC) && fdb.includes(`${PEER_MAC} dst ${PEER_IP6}`) ? true : null;
    }, 60_000);
  }, () => ipv6RoutesReport(tb)));
});
