import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SPIN_MICROS } from '../../src/datapath/userspace-datapath.js';
import { OptionsError, envName, normalizeArgv, parseOptions } from '../../src/options.js';

const noEnv = {};

test('defaults are upstream flanneld\'s', () => {
  const o = parseOptions([], noEnv);
  assert.deepEqual(o.etcdEndpoints, ['http://127.0.0.1:4001', 'http://127.0.0.1:2379']);
  assert.equal(o.etcdPrefix, '/coreos.com/network');
  assert.equal(o.subnetFile, '/run/flannel/subnet.env');
  assert.equal(o.subnetLeaseRenewMargin, 60);
  assert.equal(o.ipMasq, false);
  assert.equal(o.iptablesResync, 5);
  assert.equal(o.iptablesForwardRules, true);
  assert.equal(o.ipBlackholeRoute, false);
  assert.equal(o.healthzIP, '0.0.0.0');
  assert.equal(o.healthzPort, 0);
  assert.deepEqual(o.iface, []);
  assert.deepEqual(o.ifaceRegex, []);
  assert.equal(o.publicIP, '');
  assert.equal(o.backend, null);
  assert.equal(o.vxlanDatapath, 'userspace');
  assert.equal(o.stateDir, '/var/lib/tsflanneld');
  assert.equal(o.subnetLeaseTtl, 86400);
  assert.equal(o.logLevel, null);
  assert.equal(o.version, false);
});

test('Go-style spellings: single dash, = or space, bare bools', () => {
  for (const argv of [
    ['-etcd-endpoints=http://10.0.0.1:2379', '-ip-masq'],
    ['-etcd-endpoints', 'http://10.0.0.1:2379', '--ip-masq=true'],
    ['--etcd-endpoints', 'http://10.0.0.1:2379', '-ip-masq=true'],
    ['--etcd-endpoints=http://10.0.0.1:2379', '--ip-masq=1'],
  ]) {
    const o = parseOptions(argv, noEnv);
    assert.deepEqual(o.etcdEndpoints, ['http://10.0.0.1:2379'], argv.join(' '));
    assert.equal(o.ipMasq, true, argv.join(' '));
  }
  assert.equal(parseOptions(['--ip-masq=false'], noEnv).ipMasq, false);
  assert.equal(parseOptions(['-iptables-forward-rules=F'], noEnv).iptablesForwardRules, false);
});

test('a value that looks like a flag is kept as the value of the flag before it', () => {
  const o = parseOptions(['-etcd-prefix', '-odd-prefix'], noEnv);
  assert.equal(o.etcdPrefix, '-odd-prefix');
});

test('--iface and --iface-regex repeat in order', () => {
  const o = parseOptions(['--iface', 'eth1', '-iface=192.0.2.5', '--iface-regex', '^eth', '-iface-regex=^ens'], noEnv);
  assert.deepEqual(o.iface, ['eth1', '192.0.2.5']);
  assert.deepEqual(o.ifaceRegex, ['^eth', '^ens']);
});

test('FLANNELD_<FLAG> applies only when the flag is absent', () => {
  const env = { FLANNELD_ETCD_PREFIX: '/env/network', FLANNELD_IP_MASQ: 'true', FLANNELD_IFACE: 'eth9',
    FLANNELD_SUBNET_LEASE_RENEW_MARGIN: '30' };
  const fromEnv = parseOptions([], env);
  assert.equal(fromEnv.etcdPrefix, '/env/network');
  assert.equal(fromEnv.ipMasq, true);
  assert.deepEqual(fromEnv.iface, ['eth9']);
  assert.equal(fromEnv.subnetLeaseRenewMargin, 30);
  const fromCli = parseOptions(['--etcd-prefix=/cli/network', '--ip-masq=false', '--iface=eth1'], env);
  assert.equal(fromCli.etcdPrefix, '/cli/network');
  assert.equal(fromCli.ipMasq, false);
  assert.deepEqual(fromCli.iface, ['eth1']);
});

test('a repeatable flag\'s env value is one value, commas and all', () => {
  assert.deepEqual(parseOptions([], { FLANNELD_IFACE_REGEX: 'eth0,eth1' }).ifaceRegex, ['eth0,eth1']);
});

test('RPM sysconfig names are the last fallback', () => {
  const sysconfig = { FLANNEL_ETCD_ENDPOINTS: 'http://192.0.2.1:2379', FLANNEL_ETCD_PREFIX: '/atomic.io/network' };
  const o = parseOptions([], sysconfig);
  assert.deepEqual(o.etcdEndpoints, ['http://192.0.2.1:2379']);
  assert.equal(o.etcdPrefix, '/atomic.io/network');
  const older = parseOptions([], { FLANNEL_ETCD: 'http://192.0.2.2:2379', FLANNEL_ETCD_KEY: '/old/network' });
  assert.deepEqual(older.etcdEndpoints, ['http://192.0.2.2:2379']);
  assert.equal(older.etcdPrefix, '/old/network');
  const both = parseOptions([], { ...sysconfig, FLANNELD_ETCD_PREFIX: '/flanneld/network' });
  assert.equal(both.etcdPrefix, '/flanneld/network');
  assert.equal(parseOptions(['--etcd-prefix=/cli'], sysconfig).etcdPrefix, '/cli');
});

test('envName follows flagutil', () => {
  assert.equal(envName('etcd-endpoints'), 'FLANNELD_ETCD_ENDPOINTS');
  assert.equal(envName('subnet-lease-renew-margin'), 'FLANNELD_SUBNET_LEASE_RENEW_MARGIN');
});

test('etcd prefix is cleaned like Go path.Join', () => {
  assert.equal(parseOptions(['--etcd-prefix=/usr/local/bin/network/'], noEnv).etcdPrefix, '/usr/local/bin/network');
  assert.equal(parseOptions(['--etcd-prefix=//a//b'], noEnv).etcdPrefix, '/a/b');
});

test('our flags: --backend, --vxlan-datapath, --state-dir, --subnet-lease-ttl, -v', () => {
  const o = parseOptions(['--backend', 'Host-GW', '--vxlan-datapath=kernel', '-state-dir=/tmp/x',
    '--subnet-lease-ttl', '30', '-v', '2'], noEnv);
  assert.equal(o.backend, 'host-gw');
  assert.equal(o.vxlanDatapath, 'kernel');
  assert.equal(o.stateDir, '/tmp/x');
  assert.equal(o.subnetLeaseTtl, 30);
  assert.equal(o.logLevel, 'debug');
  assert.equal(parseOptions(['-v=0'], noEnv).logLevel, 'info');
  assert.equal(parseOptions(['--v=7'], noEnv).logLevel, 'trace');
});

test('--vxlan-busy-poll: the datapath\'s default spin, 0 turns it off', () => {
  assert.equal(parseOptions([], noEnv).vxlanBusyPoll, DEFAULT_SPIN_MICROS);
  assert.equal(parseOptions(['--vxlan-busy-poll=0'], noEnv).vxlanBusyPoll, 0);
  assert.equal(parseOptions([], { FLANNELD_VXLAN_BUSY_POLL: '50' }).vxlanBusyPoll, 50);
});

test('kube flags are accepted, kube mode is refused clearly', () => {
  const o = parseOptions(['--kube-api-url=https://x', '-kubeconfig-file=/k', '--kube-subnet-mgr=false',
    '-vmodule=x=2'], noEnv);
  assert.equal(o.etcdPrefix, '/coreos.com/network');
  assert.throws(() => parseOptions(['--kube-subnet-mgr'], noEnv), /not supported by tsflanneld: use etcd/);
  assert.throws(() => parseOptions([], { FLANNELD_KUBE_SUBNET_MGR: 'true' }), /not supported by tsflanneld/);
});

test('bad values are one-line errors naming the flag, the value and the fix', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--public-ip', '1.2.3'], /^invalid --public-ip "1\.2\.3": expected an IPv4 address such as 192\.0\.2\.10$/],
    [['--iface-can-reach=300.1.1.1'], /^invalid --iface-can-reach "300\.1\.1\.1": expected an IPv4 address/],
    [['--subnet-lease-renew-margin=0'], /^invalid --subnet-lease-renew-margin "0": expected minutes between 1 and 1439$/],
    [['--subnet-lease-renew-margin=1440'], /1439/],
    [['--healthz-port=70000'], /^invalid --healthz-port "70000"/],
    [['--healthz-ip=nope'], /^invalid --healthz-ip "nope"/],
    [['--iface-regex=eth('], /^invalid --iface-regex "eth\("/],
    [['--ip-masq=yes'], /^invalid --ip-masq "yes": expected true or false$/],
    [['--vxlan-datapath=dpdk'], /^invalid --vxlan-datapath "dpdk": expected userspace or kernel$/],
    [['--vxlan-busy-poll=-1'], /^invalid --vxlan-busy-poll "-1": expected microseconds between 0 \(off\) and 10000$/],
    [['--vxlan-busy-poll=20000'], /^invalid --vxlan-busy-poll "20000"/],
    [['--etcd-endpoints=127.0.0.1:2379'], /^invalid --etcd-endpoints "127\.0\.0\.1:2379"/],
    [['--etcd-endpoints=ftp://x'], /not an http:\/\/ or https:\/\/ URL/],
    [['--subnet-lease-ttl=abc'], /^invalid --subnet-lease-ttl "abc"/],
    [['--public-ipv6=192.0.2.1'], /^invalid --public-ipv6 "192\.0\.2\.1": expected an IPv6 address/],
    [['--no-such-flag'], /unknown option '--no-such-flag'/],
    [['-no-such-flag=1'], /unknown option '-no-such-flag=1'/],
    [['--etcd-prefix'], /argument missing/],
    [['--ip-masq', 'false'], /too many arguments/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(() => parseOptions(argv, noEnv), (e: unknown) => {
      assert.ok(e instanceof OptionsError, `${argv.join(' ')}: ${String(e)}`);
      assert.match(e.message, re, argv.join(' '));
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    });
  }
  assert.throws(() => parseOptions([], { FLANNELD_PUBLIC_IP: 'x' }), /invalid --public-ip "x"/);
});

test('normalizeArgv leaves operands, values and short flags alone', () => {
  assert.deepEqual(normalizeArgv(['run', '-etcd-prefix', '-x', '-h', '--', '-iface=a']),
    ['run', '--etcd-prefix', '-x', '-h', '--', '-iface=a']);
  assert.deepEqual(normalizeArgv(['-ip-masq', '-public-ip=192.0.2.1']), ['--ip-masq=true', '--public-ip=192.0.2.1']);
  assert.deepEqual(normalizeArgv(['mk-docker-opts', '-ic', '-k', 'DOCKER_OPTS']), ['mk-docker-opts', '-ic', '-k', 'DOCKER_OPTS']);
});

test('--public-ipv6 and FLANNELD_PUBLIC_IPV6 give the canonical IPv6 text', () => {
  assert.equal(parseOptions(['--public-ipv6=2001:DB8:0:0::10'], noEnv).publicIPv6, '2001:db8::10');
  assert.equal(parseOptions([], { FLANNELD_PUBLIC_IPV6: '2001:db8::11' }).publicIPv6, '2001:db8::11');
  assert.equal(parseOptions([], noEnv).publicIPv6, '');
});

test('--iface-can-reach takes an IPv6 address as upstream does (written in its short form)', () => {
  assert.equal(parseOptions(['--iface-can-reach=2001:DB8:0::99'], noEnv).ifaceCanReach, '2001:db8::99');
  assert.equal(parseOptions(['--iface-can-reach=192.0.2.9'], noEnv).ifaceCanReach, '192.0.2.9');
  assert.throws(() => parseOptions(['--iface-can-reach=2001:db8::zz'], noEnv), /^OptionsError: invalid --iface-can-reach "2001:db8::zz"/);
});
