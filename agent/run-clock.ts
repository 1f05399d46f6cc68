import type { NodeName } from './state.js';

/** What a span of a run spent, in ms: `own_ms` is the time neither a model nor the repository's tests were running. */
export interface Timing {
  wall_ms: number;
  /** Some model call was in flight (the union of the calls, so parallel candidates count once). */
  model_ms: number;
  /** Some run of the repository's tests was in flight and no model call was. */
  test_ms: number;
  /** The rest: fixwright's own work and waits (sandboxes starting, copying, parsing, localising). */
  own_ms: number;
}

/** A run's timing: in all, per node, and split into the one-off steps and the attempts. */
export interface RunTiming extends Timing {
  /** localise, context, baseline, the first reproduce and finish: paid once per run. */
  one_off: Timing;
  /** generate, apply, test, reflect and a reproduce after a reflection: paid per attempt. */
  attempts: Timing & { count: number; own_ms_per_attempt: number | null };
  /** Per node name, summed over its runs. */
  nodes: Partial<Record<NodeName, Timing & { runs: number }>>;
}

/** What kept a run busy that is not fixwright's own work. */
export type BusyKind = 'model' | 'test';

interface Interval {
  start: number;
  end: number;
}

/** The length of the union of `intervals` within [from, to]. */
export function unionLength(intervals: readonly Interval[], from: number, to: number): number {
  const clipped = intervals
    .map((i) => ({ start: Math.max(i.start, from), end: Math.min(i.end, to) }))
    .filter((i) => i.end > i.start)
    .sort((a, b) => a.start - b.start);
  let total = 0;
  let start = -Infinity;
  let end = -Infinity;
  for (const i of clipped) {
    if (i.start > end) {
      if (end > start) total += end - start;
      start = i.start;
      end = i.end;
    } else end = Math.max(end, i.end);
  }
  if (end > start) total += end - start;
  return total;
}

/** The timing of the window [from, to] given the busy intervals of each kind. */
export function windowTiming(model: readonly Interval[], test: readonly Interval[], from: number, to: number): Timing {
  const wall = Math.max(0, to - from);
  const modelMs = unionLength(model, from, to);
  const busy = unionLength([...model, ...test], from, to);
  return { wall_ms: wall, model_ms: modelMs, test_ms: busy - modelMs, own_ms: wall - busy };
}

const ZERO: Timing = { wall_ms: 0, model_ms: 0, test_ms: 0, own_ms: 0 };
const add = (a: Timing, b: Timing): Timing => ({
  wall_ms: a.wall_ms + b.wall_ms,
  model_ms: a.model_ms + b.model_ms,
  test_ms: a.test_ms + b.test_ms,
  own_ms: a.own_ms + b.own_ms,
});

/** Nodes that run once per attempt; a reproduce after the first attempt belongs to the attempt that follows it. */
const ATTEMPT_NODES = new Set<NodeName>(['generate', 'apply', 'test', 'reflect']);
export const isAttemptNode = (node: NodeName, attempt: number) =>
  ATTEMPT_NODES.has(node) || (node === 'reproduce' && attempt > 0);

/**
 * Where a run's time goes: busy intervals of model calls and of the repository's test runs, and
 * each node's window, so that what is left (fixwright's own time) can be told apart per node.
 * Unions rather than sums, as candidates' calls and sandboxes overlap.
 */
export class RunClock {
  private readonly busyIntervals: Record<BusyKind, Interval[]> = { model: [], test: [] };
  private readonly nodeRuns: Array<{ node: NodeName; attempt: number; timing: Timing }> = [];

  constructor(readonly now: () => number = Date.now) {}

  /**
   * Runs `call`, counting it busy of `kind` until it returns. `ownDuration` reads from the result
   * how long the busy part itself took (a test run's exec), which then ends where the call ends:
   * the setup around it stays fixwright's. A call that throws counts whole for a model (the wait was
   * the provider's) and not at all for a test run (the sandbox failed, not the tests).
   */
  async busy<T>(kind: BusyKind, call: () => Promise<T>, ownDuration?: (result: T) => number | undefined): Promise<T> {
    const start = this.now();
    let result: T;
    try {
      result = await call();
    } catch (err) {
      if (kind === 'model') this.record(kind, start, this.now());
      throw err;
    }
    const end = this.now();
    const took = ownDuration?.(result);
    this.record(kind, took === undefined ? start : Math.max(start, end - Math.max(0, took)), end);
    return result;
  }

  /** Records [start, end] as busy of `kind`. */
  record(kind: BusyKind, start: number, end: number): void {
    if (end > start) this.busyIntervals[kind].push({ start, end });
  }

  /** The timing of [from, to]. */
  span(from: number, to: number): Timing {
    return windowTiming(this.busyIntervals.model, this.busyIntervals.test, from, to);
  }

  /** Records a node's run over [from, to] and returns its timing. */
  nodeEnded(node: NodeName, attempt: number, from: number, to: number): Timing {
    const timing = this.span(from, to);
    this.nodeRuns.push({ node, attempt, timing });
    return timing;
  }

  /** The run's timing over [from, to], with the nodes recorded so far; `attempts` is how many the run made. */
  summary(from: number, to: number, attempts: number): RunTiming {
    let oneOff = ZERO;
    let perAttempt = ZERO;
    const nodes: RunTiming['nodes'] = {};
    for (const { node, attempt, timing } of this.nodeRuns) {
      if (isAttemptNode(node, attempt)) perAttempt = add(perAttempt, timing);
      else oneOff = add(oneOff, timing);
      const had = nodes[node] ?? { ...ZERO, runs: 0 };
      nodes[node] = { ...add(had, timing), runs: had.runs + 1 };
    }
    return {
      ...this.span(from, to),
      one_off: oneOff,
      attempts: {
        ...perAttempt,
        count: attempts,
        own_ms_per_attempt: attempts > 0 ? Math.round(perAttempt.own_ms / attempts) : null,
      },
      nodes,
    };
  }
}

/** Runs `call` busy of `kind` on the run's clock, or just runs it where there is none (a node called alone). */
export function busy<T>(
  clock: RunClock | undefined,
  kind: BusyKind,
  call: () => Promise<T>,
  ownDuration?: (result: T) => number | undefined,
): Promise<T> {
  return clock ? clock.busy(kind, call, ownDuration) : call();
}
