// Applies a batch of per-peer steps with up to `width` peers in flight at once. A burst of joins (a new cluster, a
// restart with 1000 leases) then costs a few netlink round trips in total rather than two or three per peer one after
// the other: the requests the peers in flight make in one turn share a datagram (../../netlink/batch.ts). Steps for
// the same key keep their order (a set then a remove of one subnet must not swap); different keys touch different
// kernel entries. The netlink socket bounds the requests in flight (../../netlink/limiter.ts).
import type { PeerStep } from './peer-diff.js';

/**
 * Peers programmed at once: as many as the socket lets be in flight (64), so a pass of up to 64 joins costs one
 * datagram per step kind (lookup, ARP, FDB, route) instead of one per 16 peers.
 */
export const PEER_STEP_WIDTH = 64;

/**
 * Runs every step; resolves when all are done. A failing step does not stop the others (each backend logs and
 * retries its own failures in its resync); the first failure is thrown once all have finished.
 */
export async function applySteps<P>(steps: readonly PeerStep<P>[], apply: (step: PeerStep<P>) => Promise<void>,
  width = PEER_STEP_WIDTH): Promise<void> {
  if (steps.length === 0) return;
  if (steps.length === 1) return apply(steps[0]!);
  // Lanes: the steps of one key, in order. Workers take whole lanes, so a key is never in two workers at once.
  const lanes = new Map<string, PeerStep<P>[]>();
  for (const s of steps) {
    const lane = lanes.get(s.key);
    if (lane) lane.push(s);
    else lanes.set(s.key, [s]);
  }
  const queue = [...lanes.values()];
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (next < queue.length) {
      const lane = queue[next++]!;
      for (const step of lane) {
        try {
          await apply(step);
        } catch (error) {
          failure ??= { error };
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, queue.length) }, worker));
  if (failure !== null) throw (failure as { error: unknown }).error;
}
