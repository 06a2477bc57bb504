// The main thread's one record of the peer model: the ops posted to the loop threads, compacted to what a fresh
// table needs (our own subnet, then one `set` per peer subnet). A loop started or restarted later is fed this replay
// instead of a copy of the table, so the loops' tables are the only tables.
import type { PeerTableOp } from './peer-table.js';

type SetOp = Extract<PeerTableOp, { op: 'set' }>;
type OwnOp = Extract<PeerTableOp, { op: 'own' }>;

export class PeerReplayLog {
  private readonly sets = new Map<number, SetOp>();
  private own: OwnOp | null = null;

  /** Folds `op` into the log. */
  record(op: PeerTableOp): void {
    if (op.op === 'set') this.sets.set(op.subnetIP >>> 0, op);
    else if (op.op === 'delete') this.sets.delete(op.subnetIP >>> 0);
    else if (op.op === 'own') this.own = op;
    else this.sets.clear();
  }

  /** The ops that bring an empty table to the state the posted ops left. */
  replay(): PeerTableOp[] {
    return this.own ? [this.own, ...this.sets.values()] : [...this.sets.values()];
  }
}
