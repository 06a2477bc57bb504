// The order of measurements: every repetition visits every datapath (round robin), and the starting datapath
// rotates from one repetition to the next, so slow drifts in machine load hit all datapaths alike. Pure.

export interface Slot<T> {
  readonly repetition: number;
  readonly item: T;
}

export function interleave<T>(items: readonly T[], repetitions: number): Slot<T>[] {
  const slots: Slot<T>[] = [];
  for (let r = 0; r < repetitions; r++) {
    for (let i = 0; i < items.length; i++) {
      slots.push({ repetition: r, item: items[(i + r) % items.length] as T });
    }
  }
  return slots;
}
