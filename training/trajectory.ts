import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** One line of a trajectory: the event log of ARCHITECTURE.md ("One event log"). */
const eventSchema = z.object({
  task_id: z.string().min(1),
  seq: z.number().int().positive(),
  ts: z.string(),
  type: z.enum(['status', 'node_start', 'node_end', 'log', 'localised_files', 'context', 'model_call', 'patch', 'apply_result', 'test_result', 'reflection', 'done', 'error']),
  data: z.record(z.string(), z.unknown()),
});

const messageSchema = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() });

/** A chat message as the model received it. */
export type ChatMessage = z.infer<typeof messageSchema>;

const modelCallSchema = z.object({
  step: z.enum(['reproduce', 'generate']),
  attempt: z.number().int().positive(),
  messages: z.array(messageSchema).min(1),
  response: z.string().optional(),
});

/** One attempt of a run: the exact request and answer of its `generate` call, and how it fared. */
export interface AttemptTrace {
  attempt: number;
  messages: ChatMessage[];
  response: string;
  diff?: string;
  /** Test or apply output the attempt produced (the tail the agent kept). */
  output?: string;
  /** What reflection recorded about the failure, when the attempt failed and was reflected on. */
  reflection?: { category: string; message: string };
  /** Whether the edit was put to the test (applied, or refused by apply): only such an attempt can have failed. */
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
  /** The patch the run returned (its `done` event): what bench submits and `fixwright eval` judges. */
  patch: string;
  attempts: AttemptTrace[];
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
  const events: Array<z.infer<typeof eventSchema>> = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      problems.push({ file, line: i + 1, message: 'not JSON (a truncated or corrupted line); skipped' });
      return;
    }
    const parsed = eventSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      problems.push({ file, line: i + 1, message: `not an event of this fixwright's trajectory format (${issue.path.join('.') || 'line'}: ${issue.message}; an older version?); skipped` });
      return;
    }
    events.push(parsed.data);
  });
  if (events.length === 0) return { runs: [], problems: problems.length ? problems : [{ file, message: 'no events' }], notes: [] };
  // One run per task: a folder that took several `solve` runs (before each run had to get its own
  // --out) holds them one after another, each from seq 1.
  const groups: Array<typeof events> = [];
  for (const e of events) {
    const current = groups.at(-1);
    if (!current || current[0]!.task_id !== e.task_id || e.seq <= current.at(-1)!.seq) groups.push([e]);
    else current.push(e);
  }
  // Said, but nothing is skipped: each run is read.
  const notes: TraceProblem[] = groups.length > 1 ? [{ file, message: `holds ${groups.length} runs one after another (written before each run needed its own --out); each is read as a run of its own` }] : [];
  const runs: RunTrace[] = [];
  for (const group of groups) {
    const run = runOf(file, group);
    if (typeof run === 'string') problems.push({ file, message: run });
    else runs.push(run);
  }
  return { runs, problems, notes };
}

/** One task's events as a run, or why they are not one. */
function runOf(file: string, events: Array<z.infer<typeof eventSchema>>): RunTrace | string {
  const done = events.find((e) => e.type === 'done');
  if (!done) return `the run has no done event (it crashed, was cancelled or is still running); skipped (task ${events[0]?.task_id ?? 'unknown'})`;
  const status = events.find((e) => e.type === 'status')?.data ?? {};
  const attempts = new Map<number, AttemptTrace>();
  for (const e of events) {
    const attempt = typeof e.data.attempt === 'number' ? e.data.attempt : undefined;
    if (e.type === 'model_call') {
      const call = modelCallSchema.safeParse(e.data);
      if (call.success && call.data.step === 'generate' && call.data.response !== undefined) {
        attempts.set(call.data.attempt, { attempt: call.data.attempt, messages: call.data.messages, response: call.data.response });
      }
      continue;
    }
    const trace = attempt === undefined ? undefined : attempts.get(attempt);
    if (!trace) continue;
    if (e.type === 'patch') trace.diff = asText(e.data.diff);
    else if (e.type === 'apply_result') {
      trace.judged = true;
      if (e.data.ok === false) trace.output = asText(e.data.message) ?? trace.output;
    } else if (e.type === 'test_result') {
      trace.judged = true;
      const after = e.data.after as { output?: unknown } | undefined;
      trace.output = asText(after?.output) ?? trace.output;
    } else if (e.type === 'reflection') trace.reflection = { category: asText(e.data.category) ?? 'unknown', message: asText(e.data.message) ?? '' };
  }
  // A GitHub URL and its owner/name are one repository for the split.
  const repo = (asText(status.repo) ?? 'unknown').replace(/^https:\/\/github\.com\/([^/]+\/[^/]+?)(\.git)?\/?$/, '$1');
  return {
      file,
      taskId: done.task_id,
      repo,
      instanceId: asText(status.instance_id),
      status: asText(done.data.status) ?? 'failed',
      chosenAttempt: typeof done.data.chosen_attempt === 'number' ? done.data.chosen_attempt : null,
      patch: asText(done.data.patch) ?? '',
      attempts: [...attempts.values()].sort((a, b) => a.attempt - b.attempt),
  };
}
