// The timed starts of the control-plane daemons, measured in rounds: each round starts every daemon once, the first
// daemon rotating from round to round (schedule.ts), so a drift in machine load lands on all columns alike. Here the
// per-round ratios: a daemon's start in round i ÷ upstream's start in round i, which cancels the load of that round
// rather than comparing medians taken minutes apart. Pure.
import { ratio } from './results.js';
import { interleave } from './schedule.js';
import { spread, type Spread } from './stats.js';

/** One timed start: its round, its place in that round (0 = first) and its two figures. */
export interface StartSample {
  readonly round: number;
  readonly position: number;
  readonly subnetEnvMs: number;
  readonly readyMs: number | null;
}

/** A timed start to make: which round, which place in it. */
export interface StartSlot<T> {
  readonly round: number;
  readonly position: number;
  readonly item: T;
}

/** `rounds` rounds, each starting every item once, the first item of a round rotating by one each round. */
export function startOrder<T>(items: readonly T[], rounds: number): StartSlot<T>[] {
  return interleave(items, rounds).map((s, i) => ({ round: s.repetition, position: i % items.length, item: s.item }));
}

export type StartFigure = 'subnetEnvMs' | 'readyMs';

/**
 * Per round shared by both, `own`'s figure ÷ `ref`'s, in round order; a round where either start failed or lacks the
 * figure gives no ratio (null), so the list stays aligned with the rounds.
 */
export function roundRatios(own: readonly StartSample[], ref: readonly StartSample[], figure: StartFigure):
(number | null)[] {
  const rounds = [...new Set(own.map((s) => s.round))].sort((a, b) => a - b);
  return rounds.map((r) => ratio(own.find((s) => s.round === r)?.[figure], ref.find((s) => s.round === r)?.[figure]));
}

/** Median [min–max] of the per-round ratios that exist; null when no round had both starts. */
export function roundRatioSpread(ratios: readonly (number | null)[]): Spread | null {
  return spread(ratios.filter((x): x is number => x !== null));
}
