/**
 * The arithmetic of `perf:agent`: from a run's trajectory (node_start / node_end), the model
 * server's request times and the sandbox's test execs, how much of each attempt was fixwright's
 * own time. Pure functions over epoch milliseconds, so any build's run can be read the same way.
 */
import { z } from 'zod';

/** A span of time in epoch milliseconds, start <= end. */
export interface Interval {
  start: number;
  end: number;
}

/** One run of one agent node, as the trajectory records it. */
export interface NodeSpan extends Interval {
  node: string;
}

/** Merges overlapping or touching intervals into a sorted, disjoint list (empty ones dropped). */
export function unionIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals.filter((i) => i.end > i.start).sort((a, b) => a.start - b.start);
  const merged: Interval[] = [];
  for (const i of sorted) {
    const last = merged[merged.length - 1];
    if (last && i.start <= last.end) last.end = Math.max(last.end, i.end);
    else merged.push({ start: i.start, end: i.end });
  }
  return merged;
}

/** Total length of a set of intervals, overlaps counted once. */
export function coveredMs(intervals: readonly Interval[]): number {
  return unionIntervals(intervals).reduce((sum, i) => sum + (i.end - i.start), 0);
}

/** How much of `window` the intervals cover, overlaps counted once. */
export function overlapMs(intervals: readonly Interval[], window: Interval): number {
  return coveredMs(
    intervals.map((i) => ({ start: Math.max(i.start, window.start), end: Math.min(i.end, window.end) })),
  );
}

const trajectoryLine = z.object({
  ts: z.string(),
  type: z.string(),
  data: z.looseObject({ node: z.string().optional() }),
});

/**
 * The node spans of a trajectory.jsonl text, in order of start. A node_end closes the oldest open
 * start of the same node; a start left open (the process died) ends at the run's last event.
 */
export function parseNodeSpans(jsonl: string): NodeSpan[] {
  const open = new Map<string, number[]>();
  const spans: NodeSpan[] = [];
  let lastTs = 0;
  jsonl.split('\n').forEach((text, index) => {
    if (text.trim() === '') return;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new Error(`trajectory line ${index + 1} is not JSON`);
    }
    const parsed = trajectoryLine.safeParse(raw);
    if (!parsed.success) throw new Error(`trajectory line ${index + 1} is not an event ({ts, type, data})`);
    const ts = Date.parse(parsed.data.ts);
    if (Number.isNaN(ts))
      throw new Error(`trajectory line ${index + 1}: ts ${JSON.stringify(parsed.data.ts)} is not a time`);
    lastTs = Math.max(lastTs, ts);
    const node = parsed.data.data.node;
    if (node === undefined) return;
    if (parsed.data.type === 'node_start') {
      open.set(node, [...(open.get(node) ?? []), ts]);
    } else if (parsed.data.type === 'node_end') {
      const starts = open.get(node) ?? [];
      const start = starts.shift();
      if (start === undefined)
        throw new Error(`trajectory line ${index + 1}: node_end of ${node} without a node_start`);
      spans.push({ node, start, end: ts });
    }
  });
  for (const [node, starts] of open) for (const start of starts) spans.push({ node, start, end: lastTs });
  return spans.sort((a, b) => a.start - b.start);
}

/**
 * Nodes run once per run, whatever the attempts: everything before the first `generate` (localise,
 * context, baseline, the first reproduce) and `finish`. Every other node from a `generate` on
 * belongs to the attempt that `generate` opened (a reproduce after reflect is that retry's).
 */
const ONCE_PER_RUN_AFTER_ATTEMPTS = new Set(['finish']);
/** The node that opens an attempt. */
const ATTEMPT_START = 'generate';

/** A run's nodes split into the one-off part and its attempts, in order. */
export interface RunSegments {
  /** Nodes before the first attempt. */
  before: NodeSpan[];
  /** Each attempt's nodes, from its `generate` on. */
  attempts: NodeSpan[][];
  /** One-off nodes after the attempts (finish). */
  after: NodeSpan[];
}

/** Splits a run's node spans into the one-off part and its attempts (none when no `generate` ran). */
export function segmentRun(spans: readonly NodeSpan[]): RunSegments {
  const segments: RunSegments = { before: [], attempts: [], after: [] };
  for (const span of spans) {
    if (ONCE_PER_RUN_AFTER_ATTEMPTS.has(span.node)) segments.after.push(span);
    else if (span.node === ATTEMPT_START) segments.attempts.push([span]);
    else if (segments.attempts.length === 0) segments.before.push(span);
    else segments.attempts[segments.attempts.length - 1]!.push(span);
  }
  return segments;
}

/** The window a group of nodes occupies: first start to last end (transitions between them included). */
function windowOf(spans: readonly NodeSpan[]): Interval | undefined {
  if (spans.length === 0) return undefined;
  return { start: Math.min(...spans.map((s) => s.start)), end: Math.max(...spans.map((s) => s.end)) };
}

/** Wall, model, test and own (wall less model and test, overlaps once) time of a window, in ms. */
export interface Share {
  wallMs: number;
  modelMs: number;
  testMs: number;
  ownMs: number;
}

function share(windows: readonly Interval[], model: readonly Interval[], tests: readonly Interval[]): Share {
  const outside = unionIntervals([...model, ...tests]);
  const sum = (f: (w: Interval) => number) => windows.reduce((s, w) => s + f(w), 0);
  const wallMs = sum((w) => w.end - w.start);
  return {
    wallMs,
    modelMs: sum((w) => overlapMs(model, w)),
    testMs: sum((w) => overlapMs(tests, w)),
    ownMs: wallMs - sum((w) => overlapMs(outside, w)),
  };
}

/** Where one run's time went. */
export interface RunBreakdown {
  /** One entry per attempt, in order. */
  attempts: Share[];
  /** Each attempt's window: its first node's start to its last node's end. */
  attemptWindows: Interval[];
  /** The one-off nodes: before the first attempt (localise … reproduce) and after the last (finish). */
  oneOff: Share;
  /** The whole process, spawn to exit. */
  process: Share;
  /** Own time outside every node: start-up, the model check, transitions between nodes, exit. */
  outsideNodesOwnMs: number;
  /** Of which before the first node (start-up, the model check, the sandbox runtime). */
  startupOwnMs: number;
  /** Of which after the last node (writing the results, closing sandboxes, exit). */
  exitOwnMs: number;
  /** Own time per attempt: the attempts' own time over their number. */
  ownPerAttemptMs: number;
}

/**
 * Attributes a run's time: each attempt's window (its first node's start to its last node's end)
 * and the one-off nodes' windows, less the model requests and test execs inside them.
 */
export function attributeRun(
  spans: readonly NodeSpan[],
  model: readonly Interval[],
  tests: readonly Interval[],
  process: Interval,
): RunBreakdown {
  const segments = segmentRun(spans);
  if (segments.attempts.length === 0)
    throw new Error(`the run made no attempt (no ${ATTEMPT_START} node in its trajectory)`);
  const attemptWindows = segments.attempts.map((nodes) => windowOf(nodes)!);
  const attempts = attemptWindows.map((w) => share([w], model, tests));
  const oneOffWindows = [windowOf(segments.before), windowOf(segments.after)].filter(
    (w): w is Interval => w !== undefined,
  );
  const oneOff = share(oneOffWindows, model, tests);
  const whole = share([process], model, tests);
  const attemptsOwn = attempts.reduce((s, a) => s + a.ownMs, 0);
  const firstStart = Math.min(...spans.map((x) => x.start));
  const lastEnd = Math.max(...spans.map((x) => x.end));
  return {
    attempts,
    attemptWindows,
    oneOff,
    process: whole,
    outsideNodesOwnMs: whole.ownMs - attemptsOwn - oneOff.ownMs,
    startupOwnMs: share([{ start: process.start, end: Math.max(process.start, firstStart) }], model, tests).ownMs,
    exitOwnMs: share([{ start: Math.min(lastEnd, process.end), end: process.end }], model, tests).ownMs,
    ownPerAttemptMs: attemptsOwn / attempts.length,
  };
}

const basename = (word: string) => word.slice(word.lastIndexOf('/') + 1);
const isPython = (word: string) => /^python[\d.]*$/.test(basename(word));
const isPytest = (word: string) => basename(word) === 'pytest' || basename(word) === 'py.test';

/** True when one simple command (no `&&` or `;`) is pytest itself, through the usual wrappers. */
function pytestIsTheCommand(words: readonly string[]): boolean {
  let i = 0;
  const skipOptions = () => {
    while (i < words.length && words[i]!.startsWith('-')) i++;
  };
  for (;;) {
    const word = words[i];
    if (word === undefined) return false;
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(word)) i++;
    else if (word === 'exec' || basename(word) === 'env') {
      i++;
      skipOptions();
    } else if (basename(word) === 'timeout') {
      // timeout [OPTIONS] DURATION COMMAND; --kill-after=5 is one word, `-k 5` two.
      i++;
      while (i < words.length && words[i]!.startsWith('-')) i += /^-(k|s)$/.test(words[i]!) ? 2 : 1;
      i++;
    } else if (basename(word) === 'nice') {
      i++;
      while (i < words.length && words[i]!.startsWith('-')) i += words[i] === '-n' ? 2 : 1;
    } else if (/^(ba|da)?sh$/.test(basename(word)) && words[i + 1] === '-c') {
      return isTestCommand(words.slice(i + 2).join(' '));
    } else return isPytest(word);
  }
}

/** True when the words hold `python… [OPTIONS] -m pytest` anywhere (as a script's positional arguments too). */
function hasPythonDashMPytest(words: readonly string[]): boolean {
  return words.some((word, start) => {
    if (!isPython(word)) return false;
    // Options before -m take no argument except -X and -W.
    for (let i = start + 1; i < words.length && words[i]!.startsWith('-'); i++) {
      if (words[i] === '-m') return words[i + 1] === 'pytest';
      if (words[i] === '-X' || words[i] === '-W') i++;
    }
    return false;
  });
}

const toWords = (text: string) =>
  text
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '')
    .map((w) => w.replace(/^["']|["']$/g, ''));

/**
 * True for an exec that runs the repository's tests, as Docker names the exec (its argv joined by
 * spaces): `python -m pytest` anywhere in it (so a `sh -c 'write the plugin; exec "$@"' sh … timeout
 * … python3 -m pytest …` wrapper counts), or pytest as the command of one of its simple commands,
 * under `timeout`, `env`, `nice`, `exec` or `sh -c`. Helpers whose arguments merely name pytest
 * (copying a plugin into /tmp/fixwright/pytest, reading /tmp/fixwright/pytest-report-….jsonl) are
 * not the tests.
 */
export function isTestCommand(command: string): boolean {
  if (hasPythonDashMPytest(toWords(command))) return true;
  return command.split(/\s*(?:&&|\|\||;|\n)\s*/).some((part) => pytestIsTheCommand(toWords(part)));
}

/** One Docker container event, the fields the bench reads. */
export interface ContainerEvent {
  action: string;
  /** Epoch nanoseconds as Docker stamps them (kept exact as a bigint, handed out in ms). */
  timeNano: bigint;
  containerId: string;
  attributes: Record<string, string>;
}

const dockerEvent = z.object({
  Type: z.string().optional(),
  Action: z.string(),
  timeNano: z.union([z.number(), z.string()]),
  Actor: z.object({ ID: z.string(), Attributes: z.record(z.string(), z.string()).optional() }),
});

/** A line of Docker's event stream as a container event, or undefined for other kinds of event. */
export function parseContainerEvent(line: string): ContainerEvent | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  const parsed = dockerEvent.safeParse(raw);
  if (!parsed.success || (parsed.data.Type !== undefined && parsed.data.Type !== 'container')) return undefined;
  // timeNano is an int64 of nanoseconds, past 2^53: read the digits, not the rounded JSON number.
  const digits = /"timeNano"\s*:\s*"?(\d+)/.exec(line)?.[1];
  return {
    action: parsed.data.Action,
    timeNano: BigInt(digits ?? String(parsed.data.timeNano)),
    containerId: parsed.data.Actor.ID,
    attributes: parsed.data.Actor.Attributes ?? {},
  };
}

const nanoToMs = (ns: bigint) => Number(ns / 1000n) / 1000;

/** An exec seen in the event stream: its command and when it started and died. */
export interface ExecRecord {
  execId: string;
  containerId: string;
  command: string;
  start?: number;
  end?: number;
}

/**
 * The execs of a list of container events (`exec_create: CMD`, `exec_start: CMD`, `exec_die`,
 * matched by Actor.Attributes.execID), in order of start. An exec with no exec_die (its container
 * was killed) ends at its container's `die`, when there is one.
 */
export function execsOf(events: readonly ContainerEvent[]): ExecRecord[] {
  const execs = new Map<string, ExecRecord>();
  const containerDied = new Map<string, number>();
  for (const e of events) {
    const at = nanoToMs(e.timeNano);
    if (e.action === 'die') containerDied.set(e.containerId, at);
    const execId = e.attributes.execID;
    if (execId === undefined) continue;
    const record = execs.get(execId) ?? { execId, containerId: e.containerId, command: '' };
    execs.set(execId, record);
    const named = /^exec_(create|start): ?(.*)$/s.exec(e.action);
    if (named) {
      record.command ||= named[2]!;
      if (named[1] === 'start') record.start = at;
    } else if (e.action === 'exec_die') {
      record.end = at;
    }
  }
  for (const r of execs.values())
    if (r.end === undefined && r.start !== undefined) r.end = containerDied.get(r.containerId);
  return [...execs.values()].sort((a, b) => (a.start ?? Infinity) - (b.start ?? Infinity));
}

/** The intervals of the execs that ran the repository's tests (started and ended). */
export function testIntervals(execs: readonly ExecRecord[]): Interval[] {
  return execs
    .filter((e) => e.start !== undefined && e.end !== undefined && isTestCommand(e.command))
    .map((e) => ({ start: e.start!, end: e.end! }));
}

/** Median, minimum and maximum of a non-empty list. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** The median (mean of the middle two for an even count), minimum and maximum of a non-empty list. */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('spread of no values');
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return { median: s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2, min: s[0]!, max: s[s.length - 1]! };
}
