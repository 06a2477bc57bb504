// The `tunnel_gso_rules` check of `tsflanneld doctor`: FORWARD rules the userspace datapath's tunnel-gso send path
// inserted for its TAP (`flannel.<VNI>-gso`, `gso6.<VNI>`) and that outlived it. The TAP goes with the process, the
// rule is removed at the final stop; after a crash, or when the host no longer runs that path, it stays. It only
// accepts packets entering through a device that no longer exists, so it is harmless, but it is ours to clean.
// Pure: iptables-save / ip6tables-save text and the link names in, a CheckResult out.
import { TUNNEL_GSO_RULE_COMMENT } from '../datapath/send-path.js';
import { parseSave, quoteArg } from '../trafficmngr/iptables-rules.js';
import type { CheckResult } from './doctor-checks.js';

interface TapRule {
  readonly tool: 'iptables' | 'ip6tables';
  readonly device: string;
  readonly spec: readonly string[];
}

function tapRules(save: string | null, tool: TapRule['tool']): TapRule[] {
  if (save === null) return [];
  return parseSave(save).flatMap((r) => {
    const i = r.spec.indexOf('-i');
    const device = i >= 0 ? r.spec[i + 1] : undefined;
    if (r.chain !== 'FORWARD' || device === undefined || !r.spec.includes(TUNNEL_GSO_RULE_COMMENT)) return [];
    return [{ tool, device, spec: r.spec }];
  });
}

export function checkTunnelGsoRules(filterSave: string | null, filterSave6: string | null,
  linkNames: ReadonlySet<string> | null): CheckResult {
  const id = 'tunnel_gso_rules';
  if (linkNames === null) return { id, status: 'skip', detail: 'cannot list this host\'s links' };
  if (filterSave === null && filterSave6 === null) return { id, status: 'skip', detail: 'iptables-save not available' };
  const rules = [...tapRules(filterSave, 'iptables'), ...tapRules(filterSave6, 'ip6tables')];
  const stale = rules.filter((r) => !linkNames.has(r.device));
  if (stale.length === 0) {
    return { id, status: 'ok', detail: rules.length === 0 ? 'no tunnel-gso FORWARD rule'
      : `${rules.length} tunnel-gso FORWARD rule(s), each for a TAP that exists` };
  }
  return {
    id, status: 'warn',
    detail: `FORWARD rule(s) of the tunnel-gso send path for a TAP that no longer exists (a crash, or the path is no `
      + `longer used): ${stale.map((r) => `${r.tool} -i ${r.device}`).join(', ')}`,
    fix: stale.map((r) => `${r.tool} -D FORWARD ${r.spec.map(quoteArg).join(' ')}`).join('; '),
  };
}
