import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatSubnetEnv, readPreviousLease } from '../../src/subnet/subnet-env.js';
import { MK_DOCKER_OPTS_DEFAULTS, parseEnvFile, renderDockerOpts } from '../../src/ops/mk-docker-opts.js';
import { parseCidr } from '../../src/net/ipv4.js';
import { formatCidr6, parseCidr6 } from '../../src/net/ipv6.js';

const DUAL = 'FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.52.1/24\n'
  + 'FLANNEL_IPV6_NETWORK=2001:cafe:42::/56\nFLANNEL_IPV6_SUBNET=2001:cafe:42::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n';

describe('subnet.env with IPv6', () => {
  it('dual stack: the v6 pair after the v4 pair, first address of each subnet, as upstream', () => {
    assert.equal(formatSubnetEnv({ network: parseCidr('10.5.0.0/16'), subnet: parseCidr('10.5.52.0/24'),
      ipv6Network: parseCidr6('2001:cafe:42::/56'), ipv6Subnet: parseCidr6('2001:cafe:42::/64'), mtu: 1450, ipMasq: false }), DUAL);
  });
  it('IPv6-only: no FLANNEL_NETWORK and no FLANNEL_SUBNET', () => {
    assert.equal(formatSubnetEnv({ network: null, subnet: null, ipv6Network: parseCidr6('fd00:10::/56'),
      ipv6Subnet: parseCidr6('fd00:10:0:7::/64'), mtu: 1430, ipMasq: true }),
    'FLANNEL_IPV6_NETWORK=fd00:10::/56\nFLANNEL_IPV6_SUBNET=fd00:10:0:7::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=true\n');
  });
  it('the previous run\'s IPv6 subnet is read back in network form', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsfl-env6-'));
    try {
      const file = path.join(dir, 'subnet.env');
      fs.writeFileSync(file, DUAL);
      const prev = readPreviousLease(file);
      assert.equal(formatCidr6(prev.ipv6Subnet!), '2001:cafe:42::/64');
      assert.equal(formatCidr6(prev.ipv6Network!), '2001:cafe:42::/56');
      fs.writeFileSync(file, 'FLANNEL_SUBNET=10.5.52.1/24\nFLANNEL_IPV6_SUBNET=nonsense\n');
      assert.equal(readPreviousLease(file).ipv6Subnet, null);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('mk-docker-opts with IPv6 keys (upstream\'s script passes them by)', () => {
  it('dual stack: only the IPv4 --bip, as the script writes', () => {
    const r = renderDockerOpts(MK_DOCKER_OPTS_DEFAULTS, parseEnvFile(DUAL));
    assert.deepEqual(r, { ok: true, text: 'DOCKER_OPT_BIP="--bip=10.5.52.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\n'
      + 'DOCKER_OPT_MTU="--mtu=1450"\nDOCKER_OPTS=" --bip=10.5.52.1/24 --ip-masq=true --mtu=1450"\n' });
  });
  it('IPv6-only: no --bip at all', () => {
    const r = renderDockerOpts(MK_DOCKER_OPTS_DEFAULTS,
      parseEnvFile('FLANNEL_IPV6_NETWORK=fd00:10::/56\nFLANNEL_IPV6_SUBNET=fd00:10:0:7::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=true\n'));
    assert.deepEqual(r, { ok: true, text: 'DOCKER_OPT_IPMASQ="--ip-masq=false"\nDOCKER_OPT_MTU="--mtu=1430"\n'
      + 'DOCKER_OPTS=" --ip-masq=false --mtu=1430"\n' });
  });
});
