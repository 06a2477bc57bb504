// Side-by-side pairs: a tsflanneld row and the real upstream flanneld row with the same backend, measured in the
// same run. Each pair's ratio (tsflanneld's median ÷ upstream's) is the figure the backend's issue asks for, so the
// report and the chart show it beside the ratios to the reference datapath. Pure.
import { DATAPATH_METRICS, ratio, round, type DatapathMetric, type DatapathResult } from './results.js';

export interface UpstreamPair {
  readonly own: string;
  readonly upstream: string;
}

/** vxlan's pair is the reference datapath already (every row is divided by vxlan-upstream). */
export const UPSTREAM_PAIRS: readonly UpstreamPair[] = [{ own: 'udp', upstream: 'udp-upstream' }];

export interface PairRatios {
  /** "udp ÷ udp-upstream". */
  readonly label: string;
  readonly own: string;
  readonly upstream: string;
  /** Per metric, null where either side has no median (or upstream's is 0). */
  readonly ratios: Readonly<Record<DatapathMetric, number | null>>;
}

/** One entry per pair whose two rows were both asked for (a failed row gives nulls, not a missing entry). */
export function pairRatios(datapaths: readonly DatapathResult[],
  pairs: readonly UpstreamPair[] = UPSTREAM_PAIRS): PairRatios[] {
  const out: PairRatios[] = [];
  for (const p of pairs) {
    const own = datapaths.find((d) => d.name === p.own);
    const up = datapaths.find((d) => d.name === p.upstream);
    if (own === undefined || up === undefined) continue;
    const ratios = Object.fromEntries(DATAPATH_METRICS.map((m) => [m, ratio(own.metrics[m]?.median,
      up.metrics[m]?.median)])) as
      Record<DatapathMetric, number | null>;
    out.push({ label: `${p.own} ÷ ${p.upstream}`, own: p.own, upstream: p.upstream, ratios });
  }
  return out;
}

/** latest.json's `same_backend`: one object per pair, `<metric>` the ratio of the medians (null when unmeasured). */
export function pairsJson(pairs: readonly PairRatios[]): Array<Record<string, string | number | null>> {
  return pairs.map((p) => ({ name: p.label, own: p.own, upstream: p.upstream,
    ...Object.fromEntries(DATAPATH_METRICS.map((m) => [m, round(p.ratios[m])])) }));
}
