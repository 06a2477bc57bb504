// Issue 20 item 6: a full disk under subnet.env. The daemon gets its lease while the file system holding the subnet
// file is full (a tiny tmpfs that this test mounts in its own temp dir and fills): it must say so, leave no temp file,
// keep /readyz at 503, let `doctor` name the full disk, and write the file (turning ready) once space is freed; the
// same when the disk is full at a later rewrite (a re-acquired lease).
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run, waitFor } from '../support/proc.js';
import { CLI_JS } from '../support/testbed.js';
import { Lab, labUnavailable } from '../support/daemon-lab.js';
import { logRecords, stackTraces } from '../support/proc-stats.js';

const CONFIG = '{"Network":"10.0.0.0/16","SubnetLen":24,"Backend":{"Type":"alloc"}}';
const PREFIX = '/full-disk/network';
const skip = labUnavailable();

/** Fills the file system holding `dir` with one file, until ENOSPC. */
function fill(file: string): void {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(4096, 0x55);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    fs.closeSync(fd);
  }
}

describe('full disk under subnet.env', { skip: skip ?? false, timeout: 150_000 }, () => {
  let lab: Lab;
  let mnt = '';
  let mounted = false;

  before(async () => {
    lab = await Lab.create(1);
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), `tsfl-full-${crypto.randomBytes(3).toString('hex')}-`));
    await run('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', path.basename(mnt), mnt]);
    mounted = true;
  });

  after(async () => {
    await lab?.destroy();
    if (mounted) await run('umount', [mnt], { allowFail: true }).then((r) => (r.code === 0 ? r : run('umount', ['-l', mnt], { allowFail: true })));
    if (mnt) fs.rmSync(mnt, { recursive: true, force: true });
  });

  const readyz = async (ip: string, port: number): Promise<number> => {
    const js = `fetch('http://${ip}:${port}/readyz').then((r) => console.log(r.status), () => console.log(0))`;
    const r = await run('ip', ['netns', 'exec', lab.ns, process.execPath, '-e', js]);
    return Number(r.stdout.trim());
  };

  it('retries the write, stays not ready, leaves no temp file, and doctor names the full disk', async () => {
    const ip = lab.ips[0] as string;
    const port = 20000 + crypto.randomInt(20000);
    const subnetFile = path.join(mnt, 'subnet.env');
    // No config yet: the daemon takes its subnet-file lock and waits, so the disk can fill before the lease.
    const d = lab.startDaemon({ name: 'full', ip, subnetFile, prefix: PREFIX, extra: ['--healthz-ip', ip, '--healthz-port', String(port)] });
    await waitFor(() => d.output.includes('network config not found'), { what: 'the daemon to wait for its config', timeoutMs: 15_000 });
    const filler = path.join(mnt, 'filler');
    fill(filler);
    await lab.etcdctl(['put', `${PREFIX}/config`, CONFIG]);

    await waitFor(() => logRecords(d.output).some((r) => String(r.msg).startsWith('cannot write the subnet file')),
      { what: 'the daemon to report the failed write', timeoutMs: 20_000 })
      .catch((e: Error) => { throw new Error(`${e.message}\n${d.output}`); });
    const line = logRecords(d.output).find((r) => String(r.msg).startsWith('cannot write the subnet file'));
    assert.equal(Number(line?.level), 50, JSON.stringify(line));
    assert.match(String(line?.msg), /is full \(ENOSPC\); free space there; retrying$/);
    await new Promise((r) => setTimeout(r, 3500)); // a few retries
    assert.equal(await readyz(ip, port), 503, 'ready without a subnet file');
    assert.equal(fs.existsSync(subnetFile), false);
    assert.deepEqual(fs.readdirSync(mnt).filter((n) => n.endsWith('.tmp')), [], 'temp files left behind');

    const doctor = await run('ip', ['netns', 'exec', lab.ns, process.execPath, CLI_JS, 'doctor', '--etcd-endpoints',
      lab.etcd.clientUrl, '--etcd-prefix', PREFIX, '--iface', ip, '--subnet-file', subnetFile], { allowFail: true });
    assert.match(doctor.stdout, /\[FAIL\] subnet_file_disk: the disk holding .* is full/, doctor.stdout + doctor.stderr);

    fs.rmSync(filler);
    await waitFor(() => fs.existsSync(subnetFile), { what: 'the subnet file after space was freed', timeoutMs: 40_000 });
    assert.match(fs.readFileSync(subnetFile, 'utf8'), /^FLANNEL_SUBNET=10\.0\.\d+\.1\/24$/m);
    await waitFor(async () => (await readyz(ip, port)) === 200, { what: '/readyz to turn 200', timeoutMs: 10_000 });

    // Again after a re-acquired lease: the rewrite fails, /readyz drops to 503 until the retry writes the file.
    fill(filler);
    await lab.etcdctl(['del', '--prefix', `${PREFIX}/subnets/`]);
    await waitFor(() => d.output.includes('lease re-acquired'), { what: 'the lease to be re-acquired', timeoutMs: 30_000 });
    await waitFor(async () => (await readyz(ip, port)) === 503, { what: '/readyz to turn 503', timeoutMs: 10_000 });
    assert.deepEqual(fs.readdirSync(mnt).filter((n) => n.endsWith('.tmp')), [], 'temp files left behind');
    fs.rmSync(filler);
    await waitFor(async () => (await readyz(ip, port)) === 200, { what: '/readyz to turn 200 again', timeoutMs: 40_000 });
    assert.equal(d.child.exitCode, null);
    assert.equal(await lab.terminate(d), 0);
    assert.deepEqual(stackTraces(d.output), []);
  });
});
