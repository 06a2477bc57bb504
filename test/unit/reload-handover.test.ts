// The reload's handover record, systemd's LISTEN_FDS and the fd store's names (pure), and the re-exec's command line
// and environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  datapathsFromStore, decodeHandover, decodeSnapshot, encodeHandover, fdStoreName, type Handover, HandoverError, listenFds, sameLoopConfig,
} from '../../src/reload/handover.js';
import { reexecArgv, reexecEnv } from '../../src/reload/reexec.js';

const LOOPS = { vni: 1, port: 8472, ownMac: 'aa:bb:cc:dd:ee:ff', localIP: 0xc000020c, network: { ip: 0x0a000000, prefixLen: 16 },
  subnetLen: 24, innerMtu: 1450, spinMicros: null, allowForeignSource: false, sendPath: 'tunnel-gso' as const, fifoPriority: 10 };
const GOOD: Handover = { version: 1, datapaths: [{ device: 'flannel.1', tunFds: [20, 21], udpFds: [22, 23], sendFds: [24, 25, 26],
  peers: [{ op: 'own', subnetIP: 0x0a005400, prefixLen: 24 },
    { op: 'set', subnetIP: 0x0a005f00, publicIP: 0xc000020b, mac: [0xce, 0x94, 0xa0, 0x80, 0xca, 0xbd] }], loops: LOOPS }] };

test('a handover survives encode and decode unchanged', () => {
  assert.deepEqual(decodeHandover(encodeHandover(GOOD)), GOOD);
  const noLoops = { version: 1 as const, datapaths: [{ ...GOOD.datapaths[0]!, loops: undefined }] };
  assert.equal(decodeHandover(JSON.stringify(noLoops)).datapaths[0]!.loops, undefined);
});

test('a bad handover is refused with one line naming the field and the value', () => {
  const dp = GOOD.datapaths[0]!;
  const cases: Array<[unknown, RegExp]> = [
    [{ ...GOOD, version: 2 }, /version is 2/],
    [{ version: 1, datapaths: [{ ...dp, device: 'x'.repeat(16) }] }, /datapaths\[0\]\.device/],
    [{ version: 1, datapaths: [{ ...dp, tunFds: [] }] }, /datapaths\[0\]\.tunFds is \[\]/],
    [{ version: 1, datapaths: [{ ...dp, udpFds: [2] }] }, /udpFds is \[2\]/],
    [{ version: 1, datapaths: [{ ...dp, sendFds: [20] }] }, /fd is 20/],
    [{ version: 1, datapaths: [{ ...dp, peers: [{ op: 'set', subnetIP: 1, publicIP: 2, mac: [1, 2] }] }] }, /peers\[0\]/],
    [{ version: 1, datapaths: [{ ...dp, loops: { ...LOOPS, port: 0 } }] }, /datapaths\[0\]\.loops/],
  ];
  for (const [value, re] of cases) {
    assert.throws(() => decodeHandover(JSON.stringify(value)), (e: unknown) => {
      assert.ok(e instanceof HandoverError);
      assert.match(e.message, re);
      assert.match(e.message, /^TSFLANNELD_HANDOVER: .* the datapath is opened afresh$/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  }
  assert.throws(() => decodeHandover('{'), HandoverError);
});

test('decodeHandover never throws anything but a HandoverError', () => {
  fc.assert(fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
    try {
      decodeHandover(text);
    } catch (e) {
      assert.ok(e instanceof HandoverError, String(e));
    }
  }), { numRuns: 500 });
});

test('LISTEN_FDS is ours only with our PID, and starts at fd 3', () => {
  assert.equal(listenFds({ LISTEN_FDS: '2', LISTEN_PID: '41' }, 42), null);
  assert.equal(listenFds({ LISTEN_FDS: '2' }, 42), null);
  assert.equal(listenFds({ LISTEN_FDS: 'x', LISTEN_PID: '42' }, 42), null);
  assert.deepEqual(listenFds({ LISTEN_FDS: '2', LISTEN_PID: '42', LISTEN_FDNAMES: 'a:b' }, 42), [{ fd: 3, name: 'a' }, { fd: 4, name: 'b' }]);
});

test('store fds are regrouped by device and role, queues in index order; strays and incomplete sets are unused', () => {
  const n = (role: 'tun' | 'udp' | 'send', i: number): string => fdStoreName('flannel.1', role, i);
  const { datapaths, unused } = datapathsFromStore([
    { fd: 3, name: n('tun', 1) }, { fd: 4, name: n('tun', 0) }, { fd: 5, name: n('udp', 0) }, { fd: 6, name: n('udp', 1) },
    { fd: 7, name: n('send', 0) }, { fd: 8, name: 'other' }, { fd: 9, name: fdStoreName('flannel.2', 'tun', 0) },
    { fd: 10, name: n('send', 0) },
  ]);
  assert.deepEqual(datapaths, [{ device: 'flannel.1', tunFds: [4, 3], udpFds: [5, 6], sendFds: [10], peers: [] }]);
  assert.deepEqual(unused.sort((a, b) => a - b), [7, 8, 9]);
  assert.ok(!fdStoreName('flannel.1', 'tun', 0).includes(':'), 'LISTEN_FDNAMES is split on ":"');
});

test('the IPv6 half is a datapath of its own in the store and in a re-exec handover (fds only, no peers)', () => {
  const fds = [['tun', 0, 3], ['udp', 0, 4], ['send', 0, 5], ['tun', 0, 6], ['udp', 0, 7], ['send', 0, 8]] as const;
  const { datapaths, unused } = datapathsFromStore(fds.map(([role, i, fd]) => ({
    fd, name: fdStoreName(fd < 6 ? 'flannel.1' : 'flannel-v6.1', role, i) })));
  assert.deepEqual(unused, []);
  assert.deepEqual(datapaths.map((d) => [d.device, d.tunFds, d.udpFds, d.sendFds]),
    [['flannel.1', [3], [4], [5]], ['flannel-v6.1', [6], [7], [8]]]);
  const v6 = { device: 'flannel-v6.4096', tunFds: [9, 10], udpFds: [11, 12], sendFds: [13], peers: [] };
  assert.deepEqual(decodeHandover(encodeHandover({ version: 1, datapaths: [v6] })).datapaths, [v6]);
});

test('loop settings compare field by field', () => {
  assert.ok(sameLoopConfig(LOOPS, { ...LOOPS, network: { ...LOOPS.network } }));
  assert.ok(!sameLoopConfig(LOOPS, { ...LOOPS, ownMac: 'aa:bb:cc:dd:ee:00' }));
  assert.ok(!sameLoopConfig(LOOPS, { ...LOOPS, network: { ip: LOOPS.network.ip, prefixLen: 8 } }));
  assert.ok(!sameLoopConfig(LOOPS, { ...LOOPS, spinMicros: 0 }));
  assert.ok(!sameLoopConfig(LOOPS, { ...LOOPS, sendPath: null }), 'the send path is part of the loop settings');
  assert.ok(!sameLoopConfig(LOOPS, { ...LOOPS, fifoPriority: null }), 'the loop priority is part of the loop settings');
});

test('the send path and the loop priority travel in the handover; a handover without them means the defaults', () => {
  const loops = decodeHandover(encodeHandover(GOOD)).datapaths[0]!.loops!;
  assert.equal(loops.sendPath, 'tunnel-gso');
  assert.equal(loops.fifoPriority, 10);
  const { sendPath: _s, fifoPriority: _f, ...older } = LOOPS;
  const fromOlder = decodeHandover(JSON.stringify({ version: 1, datapaths: [{ ...GOOD.datapaths[0]!, loops: older }] }));
  assert.equal(fromOlder.datapaths[0]!.loops!.sendPath, null);
  assert.equal(fromOlder.datapaths[0]!.loops!.fifoPriority, null);
  for (const bad of [{ sendPath: 'fast' }, { fifoPriority: 0 }, { fifoPriority: 100 }]) {
    assert.throws(() => decodeHandover(JSON.stringify({ version: 1, datapaths: [{ ...GOOD.datapaths[0]!, loops: { ...LOOPS, ...bad } }] })),
      /datapaths\[0\]\.loops/);
  }
});

test('the re-exec runs the same node, flags and script, with the handover and without LISTEN_*', () => {
  assert.deepEqual(reexecArgv(), [process.execPath, ...process.execArgv, ...process.argv.slice(1)]);
  const env = reexecEnv({ PATH: '/bin', LISTEN_FDS: '3', LISTEN_PID: '1', TSFLANNELD_HANDOVER: 'old', NOTIFY_SOCKET: '@x' }, 'new');
  assert.deepEqual(env, ['PATH=/bin', 'NOTIFY_SOCKET=@x', 'TSFLANNELD_HANDOVER=new']);
});

test('the stored loop snapshot goes with its device; one without a datapath is unused; a bad one is refused', () => {
  const n = (role: 'tun' | 'udp' | 'send' | 'state', i: number, dev = 'flannel.1'): string => fdStoreName(dev, role, i);
  const r = datapathsFromStore([{ fd: 3, name: n('tun', 0) }, { fd: 4, name: n('udp', 0) }, { fd: 5, name: n('send', 0) },
    { fd: 6, name: n('state', 0) }, { fd: 7, name: n('state', 0, 'flannel.2') }]);
  assert.deepEqual([...r.snapshots], [['flannel.1', 6]]);
  assert.deepEqual(r.unused, [7]);
  const snap = { peers: GOOD.datapaths[0]!.peers, loops: LOOPS };
  assert.deepEqual(decodeSnapshot(JSON.stringify(snap)), snap);
  assert.throws(() => decodeSnapshot(JSON.stringify({ peers: [], loops: { ...LOOPS, ownMac: 'x' } })), /snapshot\.loops/);
  assert.throws(() => decodeSnapshot('[]'), HandoverError);
});
