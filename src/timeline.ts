// The start-up timeline: named marks in milliseconds since the process began (performance.now() counts from there,
// so Node's own boot and module loading are in the first mark). Marks made before the logger exists are kept and
// logged when it is attached; after that each mark is one debug line as it happens. `--log-level=debug` shows it.

/**
 * One mark: `ms` since the process started, `step` since the mark before, `cpuMs` the CPU time the process used so
 * far (on a busy machine the wall time swells with waiting for a CPU; the CPU time says what the start-up costs).
 */
export interface TimelineMark {
  readonly phase: string;
  readonly ms: number;
  readonly step: number;
  readonly cpuMs: number;
}

interface DebugSink {
  debug(fields: object, message: string): void;
}

/** Pure: the marks as a one-line summary, "phase 12 → phase 30 (+18)". */
export function formatTimeline(marks: readonly TimelineMark[]): string {
  return marks.map((m) => `${m.phase} ${Math.round(m.ms)}`).join(' → ');
}

export class Timeline {
  private readonly marks: TimelineMark[] = [];
  private sink: DebugSink | null = null;

  constructor(private readonly now: () => number = () => performance.now(), private readonly cpu: () => number = cpuMs) {}

  mark(phase: string): void {
    const ms = this.now();
    const last = this.marks[this.marks.length - 1];
    const m: TimelineMark = { phase, ms, step: last === undefined ? ms : ms - last.ms, cpuMs: this.cpu() };
    this.marks.push(m);
    this.sink?.debug(fieldsOf(m), `startup: ${phase}`);
  }

  /** Logs the marks so far and every later one. */
  attach(sink: DebugSink): void {
    this.sink = sink;
    for (const m of this.marks) sink.debug(fieldsOf(m), `startup: ${m.phase}`);
  }

  all(): readonly TimelineMark[] {
    return this.marks;
  }
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function fieldsOf(m: TimelineMark): object {
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { phase: m.phase, ms: r(m.ms), stepMs: r(m.step), cpuMs: r(m.cpuMs) };
}

/** The process's one timeline. */
export const timeline = new Timeline();
