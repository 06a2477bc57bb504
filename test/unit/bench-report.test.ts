// The benchmark's statistics, schedule, option parsing and report generators (latest.json, Markdown, SVG, text).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as path from 'node:path';
import { median, percentile, spread } from '../../bench/stats.js';
import { interleave } from '../../bench/schedule.js';
import { emptyControl, ratio, toLatestJson, type BenchReport, type ControlResult, type DatapathResult } from '../../bench/results.js';
import { markdownReport, textReport } from '../../bench/report.js';
import { ratioToReference, referenceDatapath, svgChart } from '../../bench/chart.js';
import { upstreamArgv } from '../../bench/daemons.js';
import { buildFailureLine, upstreamDir } from '../../bench/upstream.js';
import { isUpstreamDatapath, parseBenchOptions, ALL_DATAPATHS } from '../../bench/options.js';
import { isOnPath, missingTools, REQUIRED_TOOLS } from '../../bench/tools.js';
import { peerVtepMac, syntheticLeases } from '../../bench/peers.js';
import { roundRatios, roundRatioSpread, startOrder, type StartSample } from '../../bench/start-rounds.js';

test('median, percentiles and spread', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(percentile([1, 2, 3, 4, 5], 0), 1);
  assert.equal(percentile([1, 2, 3, 4, 5], 100), 5);
  assert.equal(percentile([10, 20], 99), 19.9);
  assert.ok(Number.isNaN(median([])));
  assert.deepEqual(spread([5, 1, 3]), { median: 3, min: 1, max: 5, n: 3 });
  assert.equal(spread([]), null);
  assert.deepEqual(spread([NaN, 2]), { median: 2, min: 2, max: 2, n: 1 });
  assert.throws(() => percentile([1], 101), /0\.\.100/);
});

test('percentiles stay within min..max and grow with p (property)', () => {
  fc.assert(fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 60 }),
    fc.double({ min: 0, max: 100, noNaN: true }), fc.double({ min: 0, max: 100, noNaN: true }), (xs, p, q) => {
      const [lo, hi] = p <= q ? [p, q] : [q, p];
      const a = percentile(xs, lo);
      const b = percentile(xs, hi);
      assert.ok(a >= Math.min(...xs) - 1e-9 && b <= Math.max(...xs) + 1e-9);
      assert.ok(a <= b + 1e-6);
    }));
});

test('interleave: every repetition visits each datapath once, starting one later each time', () => {
  const order = interleave(['a', 'b', 'c'], 4).map((s) => `${s.repetition}${s.item}`);
  assert.deepEqual(order, ['0a', '0b', '0c', '1b', '1c', '1a', '2c', '2a', '2b', '3a', '3b', '3c']);
  fc.assert(fc.property(fc.uniqueArray(fc.string(), { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 8 }),
    (items, reps) => {
      const slots = interleave(items, reps);
      assert.equal(slots.length, items.length * reps);
      for (let r = 0; r < reps; r++) {
        const inRep = slots.filter((s) => s.repetition === r).map((s) => s.item);
        assert.deepEqual([...inRep].sort(), [...items].sort());
      }
    }));
});

const s = (median: number, min = median, max = median, n = 3) => ({ median, min, max, n });

function control(name: ControlResult['name'], v: Partial<ControlResult>): ControlResult {
  return { ...emptyControl(name, 100, []), starts: 2, idleSeconds: 3, idleCpuWindowS: 5, ...v };
}

const UPSTREAM_CONTROL = control('upstream', { subnetEnvMs: 150, readyMs: 160, idleRssMb: 40, idleRssAnonMb: 16,
  idleRssFileMb: 24, idleCpuS: 0.02, threads: 8, convergeP50Ms: 5, convergeP99Ms: 10, convergeTotalMs: 400,
  programPerS: 5000, rssMb: 45, rssAnonMb: 20, rssFileMb: 25 });
const KERNEL_CONTROL = control('tsflanneld-kernel', { subnetEnvMs: 790.1, readyMs: 812.4, idleRssMb: 70,
  idleRssAnonMb: 24, idleRssFileMb: 46, idleCpuS: 0.04, threads: 11, convergeP50Ms: 3.21, convergeP99Ms: 9.87,
  convergeTotalMs: 410, programPerS: 2500.123, rssMb: 71.5, rssAnonMb: 25, rssFileMb: 46.5 });

function sampleReport(): BenchReport {
  const datapaths: DatapathResult[] = [
    { name: 'underlay', metrics: { tcp_gbps: s(20.3, 16.5, 21.7), tcp4_gbps: s(22.5), tcp_rev_gbps: s(19),
      udp_kpps: s(169.4), rtt_us: s(69), rtt_p99_us: s(90), machine_cpu_s_per_gbit: s(0.1) }, errors: [] },
    { name: 'host-gw', metrics: { tcp_gbps: s(12.45), tcp4_gbps: s(13.6), tcp_rev_gbps: s(12), udp_kpps: s(92.3),
      rtt_us: s(113), rtt_p99_us: s(150), cpu_s_per_gbit: s(0), machine_cpu_s_per_gbit: s(0.16) }, errors: [] },
    { name: 'vxlan-kernel', metrics: { tcp_gbps: s(12.07, 11.35, 13.06), tcp4_gbps: s(15.2), tcp_rev_gbps: s(12),
      udp_kpps: s(61.3), rtt_us: s(160), rtt_p99_us: s(200), cpu_s_per_gbit: s(0.0001), machine_cpu_s_per_gbit: s(0.17) },
    errors: [] },
    { name: 'vxlan-userspace', metrics: {}, errors: ['setup failed: h1: cannot open /dev/net/tun'] },
  ];
  return {
    datapaths,
    controls: [],
    machine: { date: '2026-11-27T04:00:00.000Z', mode: 'quick', cpus: 2, repetitions: 2, seconds_per_run: 1 },
  };
}

/** The sample with an upstream datapath row and all three control rows (userspace failed). */
function upstreamReport(): BenchReport {
  const r = sampleReport();
  const up: DatapathResult = { name: 'vxlan-upstream', metrics: { tcp_gbps: s(10), tcp4_gbps: s(12), tcp_rev_gbps: s(10),
    udp_kpps: s(60), rtt_us: s(150), rtt_p99_us: s(200), cpu_s_per_gbit: s(0.001), machine_cpu_s_per_gbit: s(0.2) },
  errors: [] };
  return { ...r, datapaths: [...r.datapaths, up], controls: [UPSTREAM_CONTROL, KERNEL_CONTROL,
    emptyControl('tsflanneld-userspace', 100, ['daemon exited (1) before writing subnet.env'])] };
}

test('latest.json has exactly the issue schema, min/max beside each median, and an error note for a failed row', () => {
  const j = toLatestJson(sampleReport());
  assert.deepEqual(Object.keys(j).sort(), ['control', 'control_planes', 'datapaths', 'machine', 'start_rounds']);
  assert.equal(j.datapaths.length, 4);
  for (const row of j.datapaths) {
    for (const k of ['name', 'tcp_gbps', 'tcp4_gbps', 'tcp_rev_gbps', 'udp_kpps', 'rtt_us', 'rtt_p99_us', 'cpu_s_per_gbit']) {
      assert.ok(k in row, `datapath row lacks ${k}`);
    }
  }
  const [underlay, , vk, vu] = j.datapaths;
  assert.equal(underlay?.tcp_gbps, 20.3);
  assert.equal(underlay?.tcp_gbps_min, 16.5);
  assert.equal(underlay?.tcp_gbps_max, 21.7);
  assert.equal(underlay?.cpu_s_per_gbit, null);
  assert.equal(vk?.cpu_s_per_gbit, 0.0001);
  assert.equal(vu?.tcp_gbps, null);
  assert.match(String(vu?.error), /setup failed/);
  assert.match(String(j.control.error), /not measured/);
  assert.deepEqual(j.control_planes, []);
  assert.equal(j.machine.cpus, 2);
  // It must survive a JSON round trip unchanged (no undefined, no NaN).
  assert.deepEqual(JSON.parse(JSON.stringify(j)), j);
});

test('Markdown report: one row per datapath with median [min–max], control figures, errors listed', () => {
  const md = markdownReport(sampleReport());
  const main = md.slice(0, md.indexOf('Median ÷'));
  assert.match(md, /Median ÷ vxlan-kernel's median \(upstream was not measured\)/);
  const rows = main.split('\n').filter((l) => /^\| (underlay|host-gw|vxlan-kernel|vxlan-userspace) \|/.test(l));
  assert.equal(rows.length, 4);
  assert.ok(rows[0]?.includes('20.300 [16.500–21.700]'), rows[0]);
  assert.ok(rows[3]?.includes('| – |'), rows[3]);
  assert.match(md, /## Control plane\n\nNot measured\./);
  assert.match(md, /!\[[^\]]*\]\(chart\.svg\)/);
  assert.match(md, /- vxlan-userspace: setup failed/);
  // Header and separator have as many cells as the rows.
  const header = md.split('\n').find((l) => l.startsWith('| datapath |')) as string;
  assert.equal(header.split(' | ').length, (rows[0] as string).split(' | ').length);
});

test('text table: aligned columns, every datapath present', () => {
  const t = textReport(sampleReport());
  const lines = t.split('\n');
  const head = lines.findIndex((l) => l.startsWith('datapath'));
  const widths = lines.slice(head, head + 6).map((l) => [...l].length);
  assert.equal(new Set(widths).size, 1, `ragged table: ${widths.join(',')}`);
  // The sample has every row but the upstream, udp and IPv6 ones (bench-udp.test.ts covers udp).
  for (const name of ALL_DATAPATHS.filter((n) => !isUpstreamDatapath(n) && n !== 'udp' && !n.endsWith('-v6'))) {
    assert.ok(lines.some((l) => l.startsWith(name)), name);
  }
});

test('SVG chart: well-formed, a bar per charted datapath and metric, a 1.0 line, ratios to vxlan-kernel', () => {
  const r = sampleReport();
  const svg = svgChart(r.datapaths, r.controls);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  const opened = (svg.match(/<(rect|text|line)\b/g) ?? []).length;
  const closed = (svg.match(/<\/(rect|text)>|\/>/g) ?? []).length;
  assert.ok(opened <= closed + 0, `unclosed elements: ${opened} opened, ${closed} closed`);
  // 3 datapaths with data × 7 charted metrics; userspace has none.
  assert.equal((svg.match(/<title>/g) ?? []).length, 3 * 7);
  assert.match(svg, /stroke-dasharray/);
  assert.ok(svg.includes('underlay TCP 1 stream: 1.682×'), 'underlay/vxlan-kernel TCP ratio');
  const [underlay, , vk, vu] = r.datapaths;
  assert.equal(ratioToReference(vk as DatapathResult, vk, 'tcp_gbps'), 1);
  assert.equal(ratioToReference(vu as DatapathResult, vk, 'tcp_gbps'), null);
  assert.equal(ratioToReference(underlay as DatapathResult, undefined, 'tcp_gbps'), null);
  assert.ok(svg.includes('vxlan-userspace (failed)'));
});

test('options: --quick preset, defaults, and clear errors for bad values', () => {
  const q = parseBenchOptions(['--quick'], '/out');
  assert.equal(q.repetitions, 2);
  assert.equal(q.seconds, 1);
  assert.equal(q.omitSeconds, 0);
  assert.equal(q.peers, 100);
  assert.deepEqual(q.datapaths, [...ALL_DATAPATHS]);
  const f = parseBenchOptions([], '/out');
  assert.equal(f.repetitions, 5);
  assert.equal(f.peers, 1000);
  assert.equal(f.omitSeconds, 1);
  assert.equal(f.controlPlane, true);
  const c = parseBenchOptions(['--datapaths', 'host-gw,underlay', '--reps', '3', '--no-control-plane', '--out', '/x'], '/out');
  assert.deepEqual(c.datapaths, ['host-gw', 'underlay']);
  assert.equal(c.repetitions, 3);
  assert.equal(c.controlPlane, false);
  assert.equal(c.outDir, '/x');
  assert.deepEqual(parseBenchOptions(['--no-datapaths'], '/out').datapaths, []);
  const errors: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => { errors.push(String(chunk)); return true; }) as typeof process.stderr.write;
  try {
    assert.throws(() => parseBenchOptions(['--datapaths', 'wireguard'], '/out'));
    assert.throws(() => parseBenchOptions(['--reps', '0'], '/out'));
  } finally {
    process.stderr.write = write;
  }
  assert.match(errors.join(''), /--datapaths: unknown name "wireguard": choose from underlay/);
  assert.match(errors.join(''), /--reps must be a whole number ≥ 1, got "0"/);
});

test('missing tools: one line each naming the Debian package', () => {
  assert.deepEqual(missingTools(REQUIRED_TOOLS, () => true), []);
  const lines = missingTools(REQUIRED_TOOLS, (c) => c !== 'iperf3' && c !== 'etcd');
  assert.deepEqual(lines, [
    'iperf3 is missing (throughput and packet rate): apt-get install iperf3',
    'etcd is missing (the daemons\' store): apt-get install etcd-server',
  ]);
  assert.equal(isOnPath('node', path.dirname(process.execPath)), true);
  assert.equal(isOnPath('node', '/nonexistent-dir'), false);
  assert.equal(isOnPath('.', path.dirname(process.execPath)), false, 'a directory is not a command');
});

test('synthetic peer leases: upstream keys and JSON, own subnet and the first subnet skipped', () => {
  const leases = syntheticLeases(300, { prefix: '/coreos.com/network', network: '10.64.0.0/12', subnetLen: 24,
    exclude: ['10.64.2.0/24'], underlayBase: '192.0.2', firstHost: 100, lastHost: 250 });
  assert.equal(leases.length, 300);
  assert.equal(new Set(leases.map((l) => l.key)).size, 300);
  assert.equal(leases[0]?.key, '/coreos.com/network/subnets/10.64.1.0-24');
  assert.equal(leases[1]?.subnet, '10.64.3.0/24');
  assert.deepEqual(JSON.parse(leases[0]?.value ?? ''), { PublicIP: '192.0.2.100', PublicIPv6: null, BackendType: 'host-gw' });
  assert.equal(JSON.parse(leases[151]?.value ?? '').PublicIP, '192.0.2.100');
  assert.equal(leases[299]?.subnet, '10.65.45.0/24');
  assert.throws(() => syntheticLeases(4, { prefix: '/p', network: '10.0.0.0/22', subnetLen: 24, exclude: [],
    underlayBase: '192.0.2', firstHost: 100, lastHost: 101 }), /room for only 3 peer subnets/);
});

test('latest.json with upstream: control keeps issue 6\'s fields for tsflanneld, control_planes have ratios', () => {
  const j = toLatestJson(upstreamReport());
  for (const k of ['ready_ms', 'converge_ms_p50', 'converge_ms_p99', 'peers', 'program_per_s', 'rss_mb',
    'idle_rss_anon_mb', 'idle_rss_file_mb', 'rss_anon_mb', 'rss_file_mb']) {
    assert.ok(k in j.control, `control lacks ${k}`);
  }
  assert.equal(j.control.name, 'tsflanneld-kernel');
  assert.equal(j.control.program_per_s, 2500);
  assert.equal(j.control.converge_ms_p50, 3.21);
  assert.deepEqual(j.control_planes.map((c) => c.name), ['upstream', 'tsflanneld-kernel', 'tsflanneld-userspace']);
  const [up, kern, user] = j.control_planes;
  assert.ok(!('subnet_env_ms_vs_upstream' in (up ?? {})), 'upstream has no ratio to itself');
  assert.equal(kern?.subnet_env_ms_vs_upstream, 5.267);
  assert.equal(kern?.idle_rss_mb_vs_upstream, 1.75);
  assert.equal(kern?.idle_rss_anon_mb, 24);
  assert.equal(kern?.idle_rss_anon_mb_vs_upstream, 1.5);
  assert.equal(kern?.rss_file_mb_vs_upstream, 1.86);
  assert.equal(kern?.program_per_s_vs_upstream, 0.5);
  assert.equal(user?.subnet_env_ms, null);
  assert.equal(user?.subnet_env_ms_vs_upstream, null);
  assert.match(String(user?.error), /before writing subnet\.env/);
  assert.deepEqual(JSON.parse(JSON.stringify(j)), j);
});

test('ratio: missing values and a zero reference give null, never Infinity', () => {
  assert.equal(ratio(3, 2), 1.5);
  assert.equal(ratio(null, 2), null);
  assert.equal(ratio(3, 0), null);
  assert.equal(ratio(3, undefined), null);
  assert.equal(ratio(NaN, 1), null);
  assert.equal(ratio(5, -6.4), null, 'a negative reference has no meaningful ratio');
});

test('report with upstream: a column per daemon, × upstream beside each tsflanneld, datapaths ÷ vxlan-upstream', () => {
  const r = upstreamReport();
  const md = markdownReport(r);
  const header = md.split('\n').find((l) => l.startsWith('| measure |')) as string;
  assert.equal(header, '| measure | upstream v0.28.9 | tsflanneld kernel vxlan | × upstream | tsflanneld userspace vxlan '
    + '| × upstream | unit |');
  assert.match(md, /\| start → subnet\.env \(median of 2\) \| 150 \| 790 \| 5\.27× \| – \| – \| ms \|/);
  assert.match(md, /\| RSS idle \(after 3 s\) \| 40\.0 \| 70\.0 \| 1\.75× \| – \| – \| MiB \|/);
  // The private and the file-backed part right under each RSS row, each with its own ratio.
  const rows = md.split('\n');
  const idle = rows.findIndex((l) => l.startsWith('| RSS idle'));
  assert.match(rows[idle + 1] ?? '', /^\| … private \(RssAnon\) \| 16\.0 \| 24\.0 \| 1\.50× \| – \| – \| MiB \|$/);
  assert.match(rows[idle + 2] ?? '', /^\| … file-backed, shared \(RssFile\) \| 24\.0 \| 46\.0 \| 1\.92× \|/);
  const peers = rows.findIndex((l) => l.startsWith('| RSS at 100 peers'));
  assert.match(rows[peers + 1] ?? '', /^\| … private \(RssAnon\) \| 20\.0 \| 25\.0 \| 1\.25× \|/);
  assert.match(md, /\| netlink programming rate \| 5000 \| 2500 \| 0\.50× \| – \| – \| routes\/s \|/);
  assert.match(md, /Median ÷ vxlan-upstream's median/);
  assert.match(md, /\| vxlan-kernel \| 1\.21× \|/, 'vxlan-kernel TCP ÷ upstream 12.07/10');
  assert.match(md, /- control plane tsflanneld-userspace: daemon exited/);
  const t = textReport(r);
  assert.match(t, /Datapaths ÷ vxlan-upstream/);
  assert.match(t, /× upstream/);
});

test('chart with upstream: datapaths ÷ vxlan-upstream, and a control panel of tsflanneld ÷ upstream', () => {
  const r = upstreamReport();
  assert.equal(referenceDatapath(r.datapaths)?.name, 'vxlan-upstream');
  assert.equal(referenceDatapath(sampleReport().datapaths)?.name, 'vxlan-kernel');
  const failedUp = { ...r, datapaths: r.datapaths.map((d) => (d.name === 'vxlan-upstream'
    ? { name: d.name, metrics: {}, errors: ['setup failed'] } : d)) };
  assert.equal(referenceDatapath(failedUp.datapaths)?.name, 'vxlan-kernel', 'a failed upstream row is no reference');
  const svg = svgChart(r.datapaths, r.controls);
  assert.ok(svg.includes('vxlan-kernel TCP 1 stream: 1.207×'));
  assert.ok(svg.includes('Control plane: each tsflanneld relative to upstream'));
  assert.ok(svg.includes('tsflanneld kernel vxlan RSS idle: 1.750×'));
  assert.ok(svg.includes('tsflanneld kernel vxlan RSS idle private: 1.500×'));
  // 4 datapaths with data × 7 metrics, + the kernel control row's 14 figures (userspace has none).
  assert.equal((svg.match(/<title>/g) ?? []).length, 4 * 7 + 14);
  assert.ok(!svgChart(r.datapaths, [KERNEL_CONTROL]).includes('Control plane'), 'no control panel without upstream');
});

test('upstream: command line in a testbed host, build directory, one-line build failure', () => {
  assert.deepEqual(upstreamArgv('/c/flanneld', { etcdEndpoint: 'http://192.0.2.11:2379', prefix: '/p', ip: '192.0.2.11',
    subnetFile: '/t/subnet.env' }, ['--healthz-port', '9876']), ['/c/flanneld', '--etcd-endpoints', 'http://192.0.2.11:2379',
    '--etcd-prefix', '/p', '--iface', 'eth0', '--public-ip', '192.0.2.11', '--subnet-file', '/t/subnet.env',
    '--healthz-port', '9876']);
  assert.equal(upstreamDir({ TSF_UPSTREAM_DIR: '/u' }, '/root'), '/u');
  assert.equal(upstreamDir({ XDG_CACHE_HOME: '/x' }, '/root'), '/x/tsflanneld-upstream');
  assert.equal(upstreamDir({}, '/root'), '/root/.cache/tsflanneld-upstream');
  assert.equal(buildFailureLine('go: downloading x\nbuild.sh: Go is not installed (apt-get install golang-go)\n\n'),
    'build.sh: Go is not installed (apt-get install golang-go)');
  assert.equal(buildFailureLine(''), 'no output');
});

test('options: upstream rows by default, --no-upstream drops them, --control picks daemons, quick idles briefly', () => {
  const q = parseBenchOptions(['--quick'], '/out');
  assert.ok(q.datapaths.includes('vxlan-upstream'));
  assert.deepEqual(q.controlDaemons, ['upstream', 'tsflanneld-kernel', 'tsflanneld-userspace']);
  assert.deepEqual([q.starts, q.idleSeconds, q.idleCpuSeconds], [2, 3, 5]);
  const f = parseBenchOptions([], '/out');
  assert.deepEqual([f.starts, f.idleSeconds, f.idleCpuSeconds], [5, 30, 60]);
  const n = parseBenchOptions(['--no-upstream'], '/out');
  assert.ok(!n.datapaths.includes('vxlan-upstream'));
  assert.deepEqual(n.controlDaemons, ['tsflanneld-kernel', 'tsflanneld-userspace']);
  assert.deepEqual(parseBenchOptions(['--control', 'upstream'], '/out').controlDaemons, ['upstream']);
  assert.deepEqual(parseBenchOptions(['--no-control-plane'], '/out').controlDaemons, []);
});

test('synthetic vxlan leases carry BackendData with VNI 1 and a unique locally administered VtepMAC', () => {
  const leases = syntheticLeases(50, { prefix: '/p', network: '10.64.0.0/12', subnetLen: 24, exclude: [],
    underlayBase: '192.0.2', firstHost: 100, lastHost: 250, backend: 'vxlan' });
  const values = leases.map((l) => JSON.parse(l.value) as { BackendType: string; BackendData: { VNI: number; VtepMAC: string } });
  assert.ok(values.every((v) => v.BackendType === 'vxlan' && v.BackendData.VNI === 1));
  assert.equal(new Set(values.map((v) => v.BackendData.VtepMAC)).size, 50);
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (i) => {
    const mac = peerVtepMac(i);
    assert.match(mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.equal(Number.parseInt(mac.slice(0, 2), 16) & 0x03, 0x02, 'locally administered unicast');
  }));
});

test('the userspace datapath\'s share of the private memory: userspace minus kernel RssAnon of the same run', () => {
  const user = control('tsflanneld-userspace', { idleRssAnonMb: 44, rssAnonMb: 47, threads: 13 });
  const r: BenchReport = { ...sampleReport(), controls: [UPSTREAM_CONTROL, KERNEL_CONTROL, user] };
  const line = 'The userspace datapath\'s share of the private memory (userspace RssAnon − kernel RssAnon, same run): '
    + '20.0 MiB idle, 22.0 MiB at 100 peers, 2 loop thread(s): 10.0 MiB each.';
  assert.ok(markdownReport(r).includes(`\n${line}\n`));
  assert.ok(textReport(r).includes(line));
  // Without both tsflanneld rows (or their RssAnon) there is no share to state.
  assert.ok(!markdownReport(upstreamReport()).includes('share of the private memory'));
  assert.ok(!textReport({ ...r, controls: [UPSTREAM_CONTROL, user] }).includes('share of the private memory'));
});

test('the writer\'s own time stands beside each daemon\'s convergence total, in both reports and the JSON', () => {
  const up = { ...UPSTREAM_CONTROL, convergeWriterMs: 380.4 };
  const k = { ...KERNEL_CONTROL, convergeWriterMs: 395.6 };
  const r: BenchReport = { ...sampleReport(), controls: [up, k] };
  const line = 'Convergence: the bench\'s writer (64 puts in flight over 4 connections to etcd) took, for its 100 puts, '
    + 'first sent → last acknowledged: upstream v0.28.9 380 ms (total 400 ms), tsflanneld kernel vxlan 396 ms (total '
    + '410 ms). A total counts from the first put and is never shorter than its writer\'s time.';
  assert.ok(markdownReport(r).includes(`\n${line}\n`));
  assert.ok(textReport(r).includes(line));
  assert.equal(toLatestJson(r).control_planes[1]?.converge_writer_ms, 395.6);
  // No convergence measured (the field unset): no line.
  assert.ok(!markdownReport(upstreamReport()).includes('the bench\'s writer'));
});

test('start order: each round starts every daemon once, the first daemon rotating, positions 0..n-1', () => {
  const order = startOrder(['u', 'k', 's'], 3).map((x) => `${x.round}${x.position}${x.item}`);
  assert.deepEqual(order, ['00u', '01k', '02s', '10k', '11s', '12u', '20s', '21u', '22k']);
  assert.deepEqual(startOrder(['k'], 3).map((x) => [x.round, x.position]), [[0, 0], [1, 0], [2, 0]]);
  fc.assert(fc.property(fc.uniqueArray(fc.string(), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 9 }),
    (items, rounds) => {
      const slots = startOrder(items, rounds);
      for (let r = 0; r < rounds; r++) {
        const inRound = slots.filter((x) => x.round === r);
        assert.deepEqual(inRound.map((x) => x.position), items.map((_, i) => i));
        assert.deepEqual(inRound.map((x) => x.item).sort(), [...items].sort());
      }
      // No daemon is always first once there are at least as many rounds as daemons.
      if (rounds >= items.length) {
        assert.equal(new Set(slots.filter((x) => x.position === 0).map((x) => x.item)).size, items.length);
      }
    }));
});

const start = (round: number, subnetEnvMs: number, readyMs: number | null = subnetEnvMs + 10): StartSample =>
  ({ round, position: 0, subnetEnvMs, readyMs });

test('per-round ratios: own start ÷ upstream\'s start of the same round, null where a round lacks either', () => {
  const up = [start(0, 100), start(1, 200), start(2, 100, null)];
  const own = [start(2, 300), start(0, 150), start(1, 200)];
  assert.deepEqual(roundRatios(own, up, 'subnetEnvMs'), [1.5, 1, 3]);
  assert.deepEqual(roundRatios(own, up, 'readyMs'), [160 / 110, 210 / 210, null]);
  assert.deepEqual(roundRatios([start(0, 150), start(3, 100)], up, 'subnetEnvMs'), [1.5, null]);
  assert.deepEqual(roundRatioSpread([1.5, null, 1, 3]), { median: 1.5, min: 1, max: 3, n: 3 });
  assert.equal(roundRatioSpread([null]), null);
  // The median of per-round ratios differs from the ratio of medians when the load drifts between rounds.
  const drifting = [start(0, 100), start(1, 300), start(2, 500)];
  const doubled = [start(0, 200), start(1, 600), start(2, 1000)];
  assert.deepEqual(roundRatios(doubled, drifting, 'subnetEnvMs'), [2, 2, 2]);
});

test('latest.json and reports: per-round start ratios beside the ratio of medians', () => {
  const r = upstreamReport();
  const up = { ...UPSTREAM_CONTROL, startRounds: [start(0, 100), start(1, 200), start(2, 150)] };
  const k = { ...KERNEL_CONTROL, startRounds: [start(0, 150), start(1, 500), start(2, 300)] };
  const report = { ...r, controls: [up, k, r.controls[2] as ControlResult] };
  const j = toLatestJson(report);
  const kRow = j.control_planes.find((c) => c.name === 'tsflanneld-kernel');
  assert.equal(kRow?.subnet_env_ms_round_ratio_median, 2);
  assert.equal(kRow?.subnet_env_ms_round_ratio_min, 1.5);
  assert.equal(kRow?.subnet_env_ms_round_ratio_max, 2.5);
  assert.equal(j.control_planes.find((c) => c.name === 'upstream')?.subnet_env_ms_round_ratio_median, undefined);
  assert.deepEqual(j.start_rounds['tsflanneld-kernel']?.subnet_env_ms, [150, 500, 300]);
  assert.deepEqual(j.start_rounds['tsflanneld-kernel']?.subnet_env_ms_vs_upstream, [1.5, 2.5, 2]);
  assert.deepEqual(j.start_rounds.upstream?.round, [1, 2, 3]);
  assert.equal(j.start_rounds.upstream?.subnet_env_ms_vs_upstream, undefined);
  assert.deepEqual(JSON.parse(JSON.stringify(j)), j);
  const md = markdownReport(report);
  assert.match(md, /3 rounds, each starting \(and stopping\) every daemon once/);
  assert.match(md, /ratio of the medians \(the headline\)/);
  assert.match(md, /- tsflanneld kernel vxlan: subnet\.env 2\.00× \[1\.50×–2\.50×\] over 3, READY /);
  assert.match(textReport(report), /tsflanneld kernel vxlan: subnet\.env 2\.00× \[1\.50×–2\.50×\] over 3/);
  // One daemon alone: nothing to interleave, no ratios.
  const alone = textReport({ ...report, controls: [k] });
  assert.match(alone, /one after the other \(one daemon: nothing to interleave\)/);
  assert.doesNotMatch(alone, /ratio of the medians/);
});

test('the runtime floor: its RSS split, ÷ upstream\'s idle RSS, in both reports and latest.json; absent when not run', () => {
  const floor = { idleSeconds: 3, memory: { rssMb: 54, anonMb: 12, fileMb: 42 } };
  const r: BenchReport = { ...sampleReport(), controls: [UPSTREAM_CONTROL, KERNEL_CONTROL], runtimeFloor: floor };
  const line = 'Runtime floor (Node.js with the daemon\'s V8 settings and malloc trims, the etcd3 package loaded, nothing '
    + 'else: no connection, no lease, no datapath) after 3 s idle: RSS 54.0 MiB (1.35× upstream\'s idle RSS), '
    + 'private 12.0 MiB, file-backed 42.0 MiB.';
  assert.ok(markdownReport(r).includes(`\n${line}\n`));
  assert.ok(textReport(r).includes(line));
  assert.deepEqual(toLatestJson(r).runtime_floor, { idle_s: 3, rss_mb: 54, rss_anon_mb: 12, rss_file_mb: 42,
    rss_mb_vs_upstream: 1.35 });
  // Without upstream there is no ratio; without a floor, no line and no key.
  assert.ok(textReport({ ...r, controls: [KERNEL_CONTROL] }).includes('after 3 s idle: RSS 54.0 MiB, private'));
  assert.ok(!markdownReport(upstreamReport()).includes('Runtime floor'));
  assert.equal('runtime_floor' in toLatestJson(upstreamReport()), false);
});
