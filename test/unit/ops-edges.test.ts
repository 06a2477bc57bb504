// Issue 20 item 4 (pure parts): the health server's connection cap follows RLIMIT_NOFILE, and a tool that cannot be
// started for lack of descriptors is reported as such, never as "not found".
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkSubnetDirSpace, type DoctorFacts } from '../../src/ops/doctor-checks.js';
import { connectionCap, parseOpenFilesLimit } from '../../src/ops/fd-budget.js';
import { describeFailure } from '../../src/trafficmngr/exec.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            256                  4096                 files
Max locked memory         8388608              8388608              bytes
`;

describe('fd budget of the health server', () => {
  it('reads the soft open-files limit', () => {
    assert.equal(parseOpenFilesLimit(LIMITS), 256);
    assert.equal(parseOpenFilesLimit(LIMITS.replace('256 ', 'unlimited ')), null);
    assert.equal(parseOpenFilesLimit('garbage'), null);
  });

  it('keeps the cap a small slice of any limit, within 8..128', () => {
    assert.equal(connectionCap(256), 32);
    assert.equal(connectionCap(1024), 128);
    assert.equal(connectionCap(null), 128);
    fc.assert(fc.property(fc.integer({ min: 1, max: 1 << 24 }), (limit) => {
      const cap = connectionCap(limit);
      return cap >= 8 && cap <= 128 && (limit < 64 || cap <= limit / 8);
    }));
  });
});

describe('tool start failures', () => {
  it('names EMFILE instead of calling the tool missing', () => {
    const msg = describeFailure(['iptables-save', '-t', 'nat'],
      { code: -1, stdout: '', stderr: 'spawn iptables-save EMFILE', startError: 'EMFILE' });
    assert.match(msg, /^cannot start `iptables-save`: EMFILE \(too many open files/);
    assert.doesNotMatch(msg, /not found/);
  });

  it('still says "not found" for a missing tool', () => {
    const r = { code: 127, stdout: '', stderr: 'spawn nft ENOENT', startError: 'ENOENT' };
    assert.match(describeFailure(['nft'], r), /^`nft` not found: install iptables/);
  });
});

describe('doctor on the subnet file\'s disk', () => {
  const facts = (space: DoctorFacts['subnetDirSpace']): DoctorFacts => ({ subnetFile: '/run/flannel/subnet.env', subnetDirSpace: space } as DoctorFacts);

  it('fails on a full disk or no free inodes, and says so', () => {
    for (const space of [{ dir: '/run/flannel', freeBytes: 0, freeInodes: 100 }, { dir: '/run/flannel', freeBytes: 1 << 30, freeInodes: 0 }]) {
      const r = checkSubnetDirSpace(facts(space));
      assert.equal(r.status, 'fail');
      assert.match(r.detail, /^the disk holding \/run\/flannel is full/);
    }
  });

  it('passes with room to spare and skips when unknown', () => {
    assert.equal(checkSubnetDirSpace(facts({ dir: '/run/flannel', freeBytes: 1 << 20, freeInodes: 10 })).status, 'ok');
    assert.equal(checkSubnetDirSpace(facts(null)).status, 'skip');
  });
});
