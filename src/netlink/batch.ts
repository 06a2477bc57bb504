// Several rtnetlink requests in one sendmsg and one acknowledgement for all of them. Requests made in the same turn
// of the event loop (a burst of peers being programmed) are gathered and sent as one datagram in which only the last
// message asks for an ACK. The kernel handles a datagram's messages in order and answers a failing one with an error
// message of its own whatever its flags, so once the last message is answered, every earlier one that drew no error
// has succeeded. Queries (a route lookup) get their reply as usual. Per request this saves a sendmsg, the ACK's
// receive and its callback, which were most of the daemon's netlink cost in a burst of joins.
//
// The receive buffer holds at most one answer per message sent and not yet settled; the socket's limiter bounds
// those (./socket.ts), so a batch never adds to what an ENOBUFS could be caused by.
import { checkError, Flags, formatMessage, MessageType, type NetlinkMessage, type RtNetlinkSocket } from 'netlink';

export interface BatchedRequest {
  /** rtnetlink message type (rt.MessageType). */
  readonly type: number;
  /** NLM_F_* beyond REQUEST and ACK, e.g. CREATE | REPLACE. */
  readonly flags: number;
  /** The payload: the family header and attributes, as the package's format functions emit them. */
  readonly data: readonly Uint8Array[];
  /** Answered by a message of its own (a route lookup), not only by success or an error. */
  readonly query: boolean;
}

/** What a request settles with: the query's reply, null for a plain success. */
export type BatchAnswer = NetlinkMessage | null;

interface Member {
  readonly req: BatchedRequest;
  readonly resolve: (answer: BatchAnswer) => void;
  readonly reject: (err: unknown) => void;
  reply: NetlinkMessage | null;
  error: unknown;
}

interface Sent {
  readonly members: readonly Member[];
  readonly seqs: readonly number[];
  readonly timer: NodeJS.Timeout;
}

/** At most this many messages per datagram (the socket's limiter usually bounds it lower). */
export const MAX_BATCH = 64;

/** Pads a message to the 4-byte boundary netlink aligns messages on. */
function padTo4(length: number): Uint8Array | null {
  const rest = length % 4;
  return rest === 0 ? null : new Uint8Array(4 - rest);
}

/** One per socket: gathers the requests of a turn and matches answers back to them by sequence number. */
export class RequestBatcher {
  private queued: Member[] = [];
  private flushScheduled = false;
  /** Sequence number → the batch it belongs to and its member. */
  private readonly bySeq = new Map<number, { readonly sent: Sent; readonly member: Member }>();
  private port: number | null = null;
  private closed = false;

  /** `sent` is told of every datagram with the number of requests in it (for counters and tests). */
  constructor(private readonly nl: RtNetlinkSocket, private readonly timeoutMs: number,
    private readonly sent: (requests: number) => void = () => undefined) {
    // Answers to our sequence numbers are not the package's own requests, so they arrive as 'message' events.
    nl.socket.on('message', (msgs) => this.onMessages(msgs));
  }

  /** Queues one request for the next datagram. Rejects with the package's errors (classified by the caller). */
  add(req: BatchedRequest): Promise<BatchAnswer> {
    if (this.closed) return Promise.reject(new Error('netlink socket closed'));
    return new Promise<BatchAnswer>((resolve, reject) => {
      this.queued.push({ req, resolve, reject, reply: null, error: null });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      // setImmediate, not a microtask: every worker that is about to ask in this turn gets into the same datagram.
      setImmediate(() => this.flush());
    });
  }

  /** Fails everything queued and in flight (the socket is being replaced or closed). */
  close(err: unknown): void {
    this.closed = true;
    const queued = this.queued;
    this.queued = [];
    for (const m of queued) m.reject(err);
    for (const { sent } of [...this.bySeq.values()]) this.finish(sent, err);
  }

  private flush(): void {
    this.flushScheduled = false;
    while (this.queued.length > 0 && !this.closed) this.send(this.queued.splice(0, MAX_BATCH));
  }

  private send(members: Member[]): void {
    this.port ??= this.nl.socket.socket.address().port;
    const bufs: Uint8Array[] = [];
    const seqs: number[] = [];
    members.forEach((m, i) => {
      const seq = this.nl.socket.generateSeq();
      seqs.push(seq);
      const ack = i === members.length - 1 ? Flags.ACK : 0;
      const msg = formatMessage({ type: m.req.type, flags: Flags.REQUEST | ack | m.req.flags, seq, port: this.port as number,
        data: [...m.req.data] });
      bufs.push(...msg);
      const pad = padTo4(msg.reduce((n, b) => n + b.length, 0));
      if (pad) bufs.push(pad);
    });
    const sent: Sent = { members, seqs, timer: setTimeout(() => this.finish(sent, new Error('Timeout has been reached')), this.timeoutMs) };
    members.forEach((member, i) => this.bySeq.set(seqs[i] as number, { sent, member }));
    this.sent(members.length);
    try {
      // An array of buffers is one iovec list: one datagram.
      this.nl.socket.socket.send(bufs as Uint8Array[] as Buffer[], {}, (error) => {
        if (error) this.finish(sent, error);
      });
    } catch (err) {
      this.finish(sent, err);
    }
  }

  private onMessages(msgs: readonly NetlinkMessage[]): void {
    for (const msg of msgs) {
      const entry = this.bySeq.get(msg.seq);
      if (!entry) continue;
      const { sent, member } = entry;
      if (msg.type !== MessageType.ERROR) {
        member.reply ??= msg;
        continue;
      }
      try {
        checkError(msg);
      } catch (err) {
        member.error ??= err;
      }
      // The last message's answer (its ACK or its error) comes after every answer to the messages before it.
      if (msg.seq === sent.seqs[sent.seqs.length - 1]) this.finish(sent, null);
    }
  }

  /** Settles every member of a batch: with `failure` when the batch as a whole failed, else by its own answer. */
  private finish(sent: Sent, failure: unknown): void {
    if (!this.bySeq.has(sent.seqs[0] as number)) return; // already settled
    clearTimeout(sent.timer);
    for (const seq of sent.seqs) this.bySeq.delete(seq);
    for (const m of sent.members) {
      if (failure !== null) m.reject(failure);
      else if (m.error !== null) m.reject(m.error);
      else if (m.req.query && m.reply === null) m.reject(new Error('the kernel sent no reply'));
      else m.resolve(m.req.query ? m.reply : null);
    }
  }
}
