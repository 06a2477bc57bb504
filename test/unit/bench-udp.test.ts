// The udp rows of the benchmark: `udp` (tsflanneld) and `udp-upstream` (the real v0.28.9), their options, the
// same-backend ratio udp ÷ udp-upstream in the report and the chart, and the rows' setup notes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { svgChart } from '../../bench/chart.js';
import { isUpstreamDatapath, parseBenchOptions } from '../../bench/options.js';
import { pairRatios, pairsJson } from '../../bench/pairs.js';
import { overlayNote } from '../../bench/paths.js';
import { markdownReport, textReport } from '../../bench/report.js';
import type { BenchReport, DatapathResult } from '../../bench/results.js';

const s = (median: number) => ({ median, min: median, max: median, n: 2 });

const UDP: DatapathResult = { name: 'udp', metrics: { tcp_gbps: s(2.4), tcp4_gbps: s(2.6), tcp_rev_gbps: s(2.2),
  udp_kpps: s(90), rtt_us: s(400), rtt_p99_us: s(900), cpu_s_per_gbit: s(0.5), machine_cpu_s_per_gbit: s(0.8) },
errors: [] };
const UDP_UPSTREAM: DatapathResult = { name: 'udp-upstream', metrics: { tcp_gbps: s(0.2), tcp4_gbps: s(0.2),
  tcp_rev_gbps: s(0.25), udp_kpps: s(60), rtt_us: s(500), rtt_p99_us: s(1000), cpu_s_per_gbit: s(5),
  machine_cpu_s_per_gbit: s(8) }, errors: [] };
const KERNEL: DatapathResult = { name: 'vxlan-kernel', metrics: { tcp_gbps: s(10), rtt_us: s(150) }, errors: [] };

function report(datapaths: DatapathResult[]): BenchReport {
  return { datapaths, controls: [], machine: { date: '2026-12-06T05:30:00.000Z', mode: 'quick', repetitions: 2,
    seconds_per_run: 1 } };
}

test('options: --datapaths takes udp and udp-upstream, --no-upstream drops udp-upstream, --quick stays quick', () => {
  const o = parseBenchOptions(['--quick', '--datapaths', 'udp,udp-upstream,vxlan-kernel'], '/out');
  assert.deepEqual(o.datapaths, ['udp', 'udp-upstream', 'vxlan-kernel']);
  assert.deepEqual([o.repetitions, o.seconds, o.pingCount], [2, 1, 100]);
  const all = parseBenchOptions([], '/out').datapaths;
  assert.ok(all.includes('udp') && all.includes('udp-upstream'), 'both udp rows run by default');
  const n = parseBenchOptions(['--no-upstream', '--datapaths', 'udp,udp-upstream,vxlan-upstream'], '/out');
  assert.deepEqual(n.datapaths, ['udp']);
  assert.deepEqual(['udp-upstream', 'vxlan-upstream', 'udp', 'vxlan-userspace', 'upstream'].map(isUpstreamDatapath),
    [true, true, false, false, false]);
});

test('pair ratios: udp ÷ udp-upstream per metric, only when both rows were asked for', () => {
  const [p, ...rest] = pairRatios([KERNEL, UDP, UDP_UPSTREAM]);
  assert.equal(rest.length, 0);
  assert.equal(p?.label, 'udp ÷ udp-upstream');
  assert.ok(Math.abs((p?.ratios.tcp_gbps ?? 0) - 12) < 1e-9);
  assert.ok(Math.abs((p?.ratios.rtt_us ?? 0) - 0.8) < 1e-9);
  assert.deepEqual(pairRatios([KERNEL, UDP]), [], 'no pair without its upstream row');
  const failed: DatapathResult = { name: 'udp-upstream', metrics: {}, errors: ['setup failed: x'] };
  assert.equal(pairRatios([UDP, failed])[0]?.ratios.tcp_gbps, null, 'a failed row gives nulls, not Infinity');
});

test('latest.json same_backend: the pair with the rounded ratio per metric, null where unmeasured', () => {
  const [j] = pairsJson(pairRatios([UDP, { ...UDP_UPSTREAM, metrics: { ...UDP_UPSTREAM.metrics, rtt_us: null } }]));
  assert.equal(j?.name, 'udp ÷ udp-upstream');
  assert.deepEqual([j?.own, j?.upstream, j?.tcp_gbps, j?.tcp_rev_gbps, j?.rtt_us], ['udp', 'udp-upstream', 12, 8.8, null]);
});

test('pair ratios equal own ÷ upstream for any medians (property)', () => {
  fc.assert(fc.property(fc.double({ min: 1e-3, max: 1e3, noNaN: true }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }),
    (a, b) => {
      const own: DatapathResult = { name: 'udp', metrics: { tcp_gbps: s(a) }, errors: [] };
      const up: DatapathResult = { name: 'udp-upstream', metrics: { tcp_gbps: s(b) }, errors: [] };
      const r = pairRatios([up, own])[0]?.ratios;
      assert.ok(r !== undefined && r.tcp_gbps !== null && Math.abs(r.tcp_gbps - a / b) <= 1e-9 * (a / b));
      assert.equal(r.rtt_us, null);
    }));
});

test('report: a same-backend section with udp ÷ udp-upstream in the text and the Markdown', () => {
  const r = report([UDP, UDP_UPSTREAM, KERNEL]);
  const t = textReport(r);
  assert.match(t, /Same backend, tsflanneld ÷ upstream flanneld/);
  assert.match(t, /udp ÷ udp-upstream\s+12\.0×\s+13\.0×\s+8\.80×\s+1\.50×\s+0\.80×\s+0\.90×\s+0\.10×/);
  const md = markdownReport(r);
  assert.match(md, /\| udp ÷ udp-upstream \| 12\.0× \| 13\.0× \| 8\.80× \| 1\.50× \| 0\.80× \| 0\.90× \| 0\.10× \|/);
  assert.ok(!textReport(report([UDP, KERNEL])).includes('Same backend'), 'no section without the upstream row');
  assert.ok(!markdownReport(report([UDP, KERNEL])).includes('Same backend'));
});

test('chart: a same-backend panel with the clipped udp ÷ udp-upstream bars labelled with their ratio', () => {
  const r = report([UDP, UDP_UPSTREAM, KERNEL]);
  const svg = svgChart(r.datapaths, [], pairRatios(r.datapaths));
  assert.match(svg, /Same backend: tsflanneld relative to the real upstream flanneld/);
  assert.match(svg, /<title>udp ÷ udp-upstream TCP 1 stream: 12\.000×<\/title>/);
  assert.match(svg, />12<\/text>/, 'the clipped 12× bar carries its label');
  assert.ok(!svgChart(r.datapaths).includes('Same backend'), 'no panel without pairs');
});

test('row notes: upstream rows say which backend upstream ran, tsflanneld rows their flags', () => {
  assert.equal(overlayNote({ backendType: 'udp', daemonArgs: [], upstream: true }, '/bin/flanneld'),
    'upstream flanneld /bin/flanneld (its udp backend from the config)');
  assert.equal(overlayNote({ backendType: 'vxlan', daemonArgs: [], upstream: true }, '/bin/flanneld'),
    'upstream flanneld /bin/flanneld (kernel vxlan from the config)');
  assert.equal(overlayNote({ backendType: 'udp', daemonArgs: ['--backend', 'udp'] }, null), 'daemons with --backend udp');
});
