import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { eventRecordProblem, isEventRecord, type AgentEvent } from '../events/index.js';

const messageSchema = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() });

/** A chat message as the model received it. */
export type ChatMessage = z.infer<typeof messageSchema>;

const modelCallSchema = z.object({
  step: z.enum(['reproduce', 'generate']),
  attempt: z.number().int().positive(),
  messages: z.array(messageSchema).min(1),
  response: z.string().optional(),
});

/** A failure as the agent recorded it: its category and what it said. */
export interface Diagnosis {
  category: string;
  message: string;
}

/**
 * One candidate of one attempt (issue 17: an attempt may draw several): the exact request and
 * answer of its `generate` call, and how it fared. A trajectory written before sampling has one
 * candidate per attempt, read as candidate 1.
 */
export interface AttemptTrace {
  attempt: number;
  candidate: number;
  /** The context cut its prompt showed (`conformal_set`, `top_file`, `top_k_functions`), when the log says. */
  contextCut?: string;
  temperature?: number;
  /** The lowest candidate of this attempt whose normalised change equals this one's (its patch event says). */
  group?: number;
  messages: ChatMessage[];
  response: string;
  diff?: string;
  /**
   * Test or apply output the candidate produced (the tail the agent kept; its group's run): for a
   * failure by `regression`, the existing tests' run, else the reproduction test's.
   */
  output?: string;
  /** The tail of the existing tests' run with its patch (test_result's existing_after.output; absent in older logs). */
  existingOutput?: string;
  /** What reflection recorded about the failure: an attempt's reflection belongs to the candidate the attempt selected. */
  reflection?: Diagnosis;
  /**
   * What the attempt's selection (its `select` log) recorded for this candidate: its failure, or
   * null when it failed no judge test and broke nothing; absent when the log has no selection (before sampling).
   */
  failure?: Diagnosis | null;
  /** The candidate its attempt selected (the only one, before sampling). */
  selected: boolean;
  /** Whether the edit was put to the test (applied, or refused by apply): only such a candidate can have failed. */
  judged?: boolean;
}

/** What a trajectory says about one run, as the exporter needs it. */
export interface RunTrace {
  file: string;
  taskId: string;
  /** The repository (owner/name for bench runs, the path or URL given to solve otherwise). */
  repo: string;
  /** The benchmark instance, for bench runs (their status event names it). */
  instanceId?: string;
  status: string;
  chosenAttempt: number | null;
  /** The candidate of the chosen attempt whose edit the run returned (1 before sampling); null when no attempt was chosen. */
  chosenCandidate: number | null;
  /** The patch the run returned (its `done` event): what bench submits and `fixwright eval` judges. */
  patch: string;
  /** Every candidate of every attempt, by attempt then candidate. */
  traces: AttemptTrace[];
}

/** A line or file the exporter could not use, and why. */
export interface TraceProblem {
  file: string;
  line?: number;
  message: string;
}

const asText = (v: unknown) => (typeof v === 'string' ? v : undefined);

/**
 * Reads one trajectory. Lines that are not JSON (a truncated write) or not events of the current
 * format (an older fixwright) are reported with their line number and skipped; a run without its
 * `done` event (it crashed or is still going) yields no trace.
 */
export function readTrajectory(file: string): { runs: RunTrace[]; problems: TraceProblem[]; notes: TraceProblem[] } {
  const problems: TraceProblem[] = [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { runs: [], problems: [{ file, message: `unreadable: ${(err as Error).message}` }], notes: [] };
  }
  const events: AgentEvent[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      problems.push({ file, line: i + 1, message: 'not JSON (a truncated or corrupted line); skipped' });
      return;
    }
    if (!isEventRecord(raw)) {
      const problem = eventRecordProblem(raw);
      // A JSON pointer (/data/x) reads as the dotted path the rest of the exporter's messages use.
      const where = problem?.path.replace(/^\//, '').replaceAll('/', '.') || 'line';
      problems.push({
        file,
        line: i + 1,
        message: `not an event of this fixwright's trajectory format (${where}: ${problem?.message ?? 'not an event'}; an older version?); skipped`,
      });
      return;
    }
    events.push(raw);
  });
  if (events.length === 0)
    return { runs: [], problems: problems.length ? problems : [{ file, message: 'no events' }], notes: [] };
  // One run per task: a folder that took several `solve` runs (before each run had to get its own
  // --out) holds them one after another, each from seq 1.
  const groups: Array<typeof events> = [];
  for (const e of events) {
    const current = groups.at(-1);
    if (!current || current[0]!.task_id !== e.task_id || e.seq <= current.at(-1)!.seq) groups.push([e]);
    else current.push(e);
  }
  // Said, but nothing is skipped: each run is read.
  const notes: TraceProblem[] =
    groups.length > 1
      ? [
          {
            file,
            message: `holds ${groups.length} runs one after another (written before each run needed its own --out); each is read as a run of its own`,
          },
        ]
      : [];
  const runs: RunTrace[] = [];
  for (const group of groups) {
    const run = runOf(file, group);
    if (typeof run === 'string') problems.push({ file, message: run });
    else runs.push(run);
  }
  return { runs, problems, notes };
}

/** A positive whole number, or undefined. */
const count = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined);

/** What a `select` log says of one candidate. */
interface SelectEntry {
  candidate: number;
  group?: number;
  failure: Diagnosis | null;
  contextCut?: string;
  temperature?: number;
}

/** A `select` log's winner (null when no candidate had a change to test) and its candidates, best first. */
function selectionOf(data: Record<string, unknown>): { winner: number | null; entries: SelectEntry[] } {
  const entries: SelectEntry[] = [];
  for (const raw of Array.isArray(data.candidates) ? data.candidates : []) {
    const c = (raw ?? {}) as Record<string, unknown>;
    const candidate = count(c.candidate);
    if (candidate === undefined) continue;
    const category = asText(c.failure);
    entries.push({
      candidate,
      group: count(c.group),
      failure: category ? { category, message: asText(c.message) ?? '' } : null,
      contextCut: asText(c.context_cut),
      temperature: typeof c.temperature === 'number' ? c.temperature : undefined,
    });
  }
  return { winner: count(data.winner) ?? null, entries };
}

/** One task's events as a run, or why they are not one. */
function runOf(file: string, events: AgentEvent[]): RunTrace | string {
  const done = events.find((e) => e.type === 'done');
  if (!done)
    return `the run has no done event (it crashed, was cancelled or is still running); skipped (task ${events[0]?.task_id ?? 'unknown'})`;
  const status = events.find((e) => e.type === 'status')?.data ?? {};
  // Keyed by attempt and candidate; an event without a candidate (a trajectory from before sampling) is candidate 1's.
  const traces = new Map<string, AttemptTrace>();
  const key = (attempt: number, candidate: number) => `${attempt}:${candidate}`;
  const selections = new Map<number, ReturnType<typeof selectionOf>>();
  const reflections = new Map<number, Diagnosis & { candidate?: number }>();
  for (const e of events) {
    const attempt = typeof e.data.attempt === 'number' ? e.data.attempt : undefined;
    const candidate = count(e.data.candidate) ?? 1;
    if (e.type === 'model_call') {
      const call = modelCallSchema.safeParse(e.data);
      if (call.success && call.data.step === 'generate' && call.data.response !== undefined) {
        traces.set(key(call.data.attempt, candidate), {
          attempt: call.data.attempt,
          candidate,
          ...(asText(e.data.context_cut) ? { contextCut: asText(e.data.context_cut) } : {}),
          ...(typeof e.data.temperature === 'number' ? { temperature: e.data.temperature } : {}),
          messages: call.data.messages,
          response: call.data.response,
          selected: false,
        });
      }
      continue;
    }
    if (attempt === undefined) continue;
    if (e.type === 'log' && e.data.step === 'select') {
      selections.set(attempt, selectionOf(e.data));
      continue;
    }
    if (e.type === 'reflection') {
      reflections.set(attempt, {
        category: asText(e.data.category) ?? 'unknown',
        message: asText(e.data.message) ?? '',
        candidate: count(e.data.candidate),
      });
      continue;
    }
    if (e.type === 'test_result') {
      // One run judges a whole group of equivalent candidates: it names them all.
      const shared = Array.isArray(e.data.candidates)
        ? e.data.candidates.map(count).filter((c): c is number => c !== undefined)
        : [];
      for (const c of shared.length > 0 ? shared : [candidate]) {
        const trace = traces.get(key(attempt, c));
        if (!trace) continue;
        trace.judged = true;
        const after = e.data.after as { output?: unknown } | undefined;
        trace.output = asText(after?.output) ?? trace.output;
        const existingAfter = e.data.existing_after as { output?: unknown } | undefined;
        const existingOutput = asText(existingAfter?.output);
        if (existingOutput !== undefined) trace.existingOutput = existingOutput;
      }
      continue;
    }
    const trace = traces.get(key(attempt, candidate));
    if (!trace) continue;
    if (e.type === 'patch') {
      trace.diff = asText(e.data.diff);
      const group = count(e.data.group);
      if (group !== undefined) trace.group = group;
    } else if (e.type === 'apply_result') {
      trace.judged = true;
      if (e.data.ok === false) trace.output = asText(e.data.message) ?? trace.output;
    }
  }
  // The candidate each attempt selected: its select log's winner, else what done's attempt_results
  // say, else the best-ranked; before sampling, the only one. The attempt's reflection is about it.
  const results = new Map<number, number>();
  for (const r of Array.isArray(done.data.attempt_results) ? done.data.attempt_results : []) {
    const entry = (r ?? {}) as Record<string, unknown>;
    const attempt = count(entry.attempt);
    const candidate = count(entry.candidate);
    if (attempt !== undefined && candidate !== undefined) results.set(attempt, candidate);
  }
  const attemptsSeen = new Set([...traces.values()].map((t) => t.attempt));
  const selectedOf = new Map<number, number>();
  for (const attempt of attemptsSeen) {
    const selection = selections.get(attempt);
    selectedOf.set(attempt, selection?.winner ?? results.get(attempt) ?? selection?.entries[0]?.candidate ?? 1);
    for (const entry of selection?.entries ?? []) {
      const trace = traces.get(key(attempt, entry.candidate));
      if (!trace) continue;
      trace.failure = entry.failure;
      if (trace.group === undefined && entry.group !== undefined) trace.group = entry.group;
      if (trace.contextCut === undefined && entry.contextCut !== undefined) trace.contextCut = entry.contextCut;
      if (trace.temperature === undefined && entry.temperature !== undefined) trace.temperature = entry.temperature;
    }
  }
  for (const [attempt, candidate] of selectedOf) {
    const trace = traces.get(key(attempt, candidate));
    if (trace) trace.selected = true;
  }
  for (const [attempt, r] of reflections) {
    const trace = traces.get(key(attempt, r.candidate ?? selectedOf.get(attempt) ?? 1));
    if (trace) trace.reflection = { category: r.category, message: r.message };
  }
  // A regression is in the existing tests' run, not the reproduction test's (which passed): show that
  // run, or, in a log from before it was recorded, what the failure said.
  for (const trace of traces.values()) {
    const diagnosis = trace.selected || trace.reflection ? trace.reflection : trace.failure;
    if (diagnosis?.category === 'regression')
      trace.output = trace.existingOutput ?? (diagnosis.message || trace.output);
  }
  const chosenAttempt = typeof done.data.chosen_attempt === 'number' ? done.data.chosen_attempt : null;
  // A run from before sampling names no candidate: its chosen attempt had one, candidate 1.
  const chosenCandidate =
    chosenAttempt === null ? null : (count(done.data.chosen_candidate) ?? selectedOf.get(chosenAttempt) ?? 1);
  // A GitHub URL and its owner/name are one repository for the split.
  const repo = (asText(status.repo) ?? 'unknown').replace(/^https:\/\/github\.com\/([^/]+\/[^/]+?)(\.git)?\/?$/, '$1');
  return {
    file,
    taskId: done.task_id,
    repo,
    instanceId: asText(status.instance_id),
    status: asText(done.data.status) ?? 'failed',
    chosenAttempt,
    chosenCandidate,
    patch: asText(done.data.patch) ?? '',
    traces: [...traces.values()].sort((a, b) => a.attempt - b.attempt || a.candidate - b.candidate),
  };
}
