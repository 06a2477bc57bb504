// Reads the `--json` report of one iperf3 client run (iperf3 3.x) into the few figures the benchmark keeps.
// Pure: text in, figures out; a report iperf3 marked as failed, or one without the expected sums, is an error
// that says which field was missing.

export interface TcpRun {
  readonly protocol: 'tcp';
  /** Bits per second as counted by the sender. */
  readonly senderBps: number;
  /** Bits per second that arrived: the figure the benchmark reports. */
  readonly receiverBps: number;
  readonly retransmits: number;
  readonly seconds: number;
}

export interface UdpRun {
  readonly protocol: 'udp';
  readonly packetsSent: number;
  readonly packetsLost: number;
  readonly seconds: number;
  /** Thousands of packets per second that reached the receiver. */
  readonly receivedKpps: number;
  readonly sentKpps: number;
}

export type IperfRun = TcpRun | UdpRun;

type Json = Record<string, unknown>;

function obj(v: unknown, where: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`iperf3 JSON: ${where} is missing or not an object`);
  return v as Json;
}

function num(o: Json, key: string, where: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`iperf3 JSON: ${where}.${key} is missing or not a number`);
  return v;
}

export function parseIperfJson(text: string): IperfRun {
  let root: Json;
  try {
    root = obj(JSON.parse(text), 'the document');
  } catch (e) {
    if (e instanceof SyntaxError) throw new Error(`iperf3 output is not JSON (did it run with --json?): ${text.slice(0, 200).trim()}`);
    throw e;
  }
  if (typeof root.error === 'string') throw new Error(`iperf3 failed: ${root.error}`);
  const end = obj(root.end, 'end');
  const start = typeof root.start === 'object' && root.start !== null ? root.start as Json : {};
  const testStart = typeof start.test_start === 'object' && start.test_start !== null ? start.test_start as Json : {};
  const isUdp = testStart.protocol === 'UDP' || (end.sum_sent === undefined && end.sum !== undefined)
    || (typeof end.sum === 'object' && end.sum !== null && 'lost_packets' in (end.sum as Json));
  if (isUdp) {
    // end.sum carries the receiver's view (packets sent by the client, lost counted by the receiver's sequence numbers).
    const sum = obj(end.sum, 'end.sum');
    const packets = num(sum, 'packets', 'end.sum');
    const lost = num(sum, 'lost_packets', 'end.sum');
    const seconds = num(sum, 'seconds', 'end.sum');
    if (seconds <= 0) throw new Error('iperf3 JSON: end.sum.seconds is 0 (the test did not run)');
    const received = Math.max(0, packets - lost);
    return { protocol: 'udp', packetsSent: packets, packetsLost: lost, seconds,
      receivedKpps: received / seconds / 1000, sentKpps: packets / seconds / 1000 };
  }
  const sent = obj(end.sum_sent, 'end.sum_sent');
  const received = obj(end.sum_received, 'end.sum_received');
  const retransmits = typeof sent.retransmits === 'number' ? sent.retransmits : 0;
  return { protocol: 'tcp', senderBps: num(sent, 'bits_per_second', 'end.sum_sent'),
    receiverBps: num(received, 'bits_per_second', 'end.sum_received'), retransmits,
    seconds: num(received, 'seconds', 'end.sum_received') };
}
