// Two hosts with one pod each, wired in namespaces with no control plane, for driving a datapath agent
// (support/agents/*-node.ts) directly: the hosts share an underlay veth (192.0.2.0/24), each pod hangs off its
// host by a veth whose host end is the pod subnet's .1. Also the agents' process handling (start until `ready`,
// stop by stdin EOF for the final counters, kill by PID when the suite ends) and flannel.1 as upstream's kernel
// vxlan backend programs it, the peer every userspace case talks to.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createNetns, inNetns, mustExec, removeNetns } from './netns.js';

export interface PairHost {
  readonly ns: string;
  readonly pod: string;
  readonly ip: string;
  readonly subnet: string;
  readonly podIP: string;
  readonly mac: string;
}

/**
 * Hosts A (192.0.2.1, 10.244.1.0/24) and B (192.0.2.2, 10.244.2.0/24), namespaces `<short>h{a,b}<tag>` and pods
 * `<short>c{a,b}<tag>`, MACs 02:<macByte>:00:00:00:0{1,2}.
 */
export function podPairHosts(short: string, tag: string, macByte: string): [PairHost, PairHost] {
  const host = (n: 1 | 2, l: 'a' | 'b'): PairHost => ({ ns: `${short}h${l}${tag}`, pod: `${short}c${l}${tag}`, ip: `192.0.2.${n}`,
    subnet: `10.244.${n}.0/24`, podIP: `10.244.${n}.2`, mac: `02:${macByte}:00:00:00:0${n}` });
  return [host(1, 'a'), host(2, 'b')];
}

/** Creates the four namespaces and their links; `linkTag` makes the temporary veth names unique. */
export async function buildPodPair([a, b]: readonly [PairHost, PairHost], linkTag: string): Promise<void> {
  for (const ns of [a.ns, b.ns, a.pod, b.pod]) await createNetns(ns);
  await mustExec(['ip', 'link', 'add', `${linkTag}u`, 'netns', a.ns, 'type', 'veth', 'peer', 'name', `${linkTag}u`, 'netns', b.ns]);
  for (const h of [a, b]) {
    await mustExec(['ip', '-n', h.ns, 'link', 'set', `${linkTag}u`, 'name', 'eth0']);
    await mustExec(['ip', '-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0']);
    await mustExec(['ip', '-n', h.ns, 'link', 'set', 'eth0', 'up']);
    const gw = h.subnet.replace('.0/24', '.1');
    await mustExec(['ip', 'link', 'add', `${linkTag}p`, 'netns', h.ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.pod]);
    await mustExec(['ip', '-n', h.ns, 'addr', 'add', `${gw}/24`, 'dev', `${linkTag}p`]);
    await mustExec(['ip', '-n', h.ns, 'link', 'set', `${linkTag}p`, 'up']);
    await mustExec(['ip', '-n', h.pod, 'addr', 'add', `${h.podIP}/24`, 'dev', 'eth0']);
    await mustExec(['ip', '-n', h.pod, 'link', 'set', 'eth0', 'mtu', '1450', 'up']);
    await mustExec(['ip', '-n', h.pod, 'route', 'add', 'default', 'via', gw]);
    await mustExec(inNetns(h.ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']));
  }
}

/** Kills the agents still running (by PID) and removes the namespaces by name, whatever state they are in. */
export async function destroyPodPair([a, b]: readonly [PairHost, PairHost], agents: Set<ChildProcessWithoutNullStreams>): Promise<void> {
  for (const proc of agents) {
    if (proc.pid !== undefined) {
      try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  for (const ns of [a.pod, b.pod, a.ns, b.ns]) await removeNetns(ns).catch(() => undefined);
}

/** Runs an agent script in `ns` with its JSON argument, adds it to `agents` and resolves once it printed `ready`. */
export async function startAgent(agents: Set<ChildProcessWithoutNullStreams>, ns: string, script: string, arg: unknown):
  Promise<{ proc: ChildProcessWithoutNullStreams; output: () => string }> {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, script, JSON.stringify(arg)]);
  agents.add(proc);
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  await new Promise<void>((resolve, reject) => {
    const check = (): void => { if (out.includes('ready\n')) resolve(); };
    proc.stdout.on('data', check);
    proc.once('exit', (code) => reject(new Error(`userspace node in ${ns} exited ${code}: ${err.trim()}`)));
  });
  return { proc, output: () => out };
}

/** Ends an agent (stdin EOF) and returns the counters it prints on the way out. */
export async function stopAgent(agents: Set<ChildProcessWithoutNullStreams>, proc: ChildProcessWithoutNullStreams):
  Promise<Record<string, number>> {
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let out = '';
  proc.stdout.on('data', (d: string) => { out += d; });
  proc.stdin.end();
  await exited;
  agents.delete(proc);
  const line = out.split('\n').find((l) => l.startsWith('{'));
  return line ? JSON.parse(line) as Record<string, number> : {};
}

/** flannel.1 on `self` as upstream flanneld's vxlan backend programs it, with `peer` as its one remote lease. */
export async function configureKernelVxlan(self: PairHost, peer: PairHost, peerMac = peer.mac): Promise<void> {
  const ip = (...args: string[]): Promise<string> => mustExec(['ip', '-n', self.ns, ...args]);
  await ip('link', 'add', 'flannel.1', 'type', 'vxlan', 'id', '1', 'local', self.ip, 'dev', 'eth0', 'dstport', '8472', 'nolearning');
  await ip('link', 'set', 'flannel.1', 'address', self.mac, 'mtu', '1450', 'up');
  await ip('addr', 'add', self.subnet.replace('/24', '/32'), 'dev', 'flannel.1');
  const peerNet = peer.subnet.replace('/24', '');
  await ip('neigh', 'replace', peerNet, 'lladdr', peerMac, 'dev', 'flannel.1', 'nud', 'permanent');
  await mustExec(['bridge', '-n', self.ns, 'fdb', 'append', peerMac, 'dev', 'flannel.1', 'dst', peer.ip, 'self', 'permanent']);
  await ip('route', 'replace', peer.subnet, 'via', peerNet, 'dev', 'flannel.1', 'onlink');
}
