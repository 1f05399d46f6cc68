import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ora, { type Ora } from 'ora';
import {
  defaultAgentParts,
  EventLog,
  redact,
  repositoryName,
  solveIssue,
  type AttemptRecord,
  type createLocaliser,
  type SolveContext,
  type SolveOutcome,
} from '../../agent/index.js';
import { type Settings, FixwrightError } from '../../core/index.js';
import { createSandboxRuntime } from '../../sandbox/index.js';
import type { SolveRun } from './solve-flags.js';

/**
 * Exit code of a run that ended in `error`: the model provider or the environment failed, so the
 * issue could not be judged (0 resolved, 1 unverified or failed, 2 bad flags, 125 fixwright's own failures).
 */
export const EXIT_RUN_ERROR = 3;

/** Where one run writes and what it has spent so far, so that any way it ends leaves the same files. */
interface RunRecord {
  out: string;
  taskId: string;
  events: EventLog;
  spinner: Ora;
  started: number;
  spent: NonNullable<SolveContext['spent']>;
}

/**
 * An attempt as result.json keeps it: `candidate` is the one kept (null when none won; 1 for a record
 * from before sampling), `candidates` how many were drawn, `selection` the winner and why.
 */
export function attemptEntry(a: AttemptRecord) {
  return {
    attempt: a.attempt,
    candidate: a.candidate ?? (a.candidates === undefined ? 1 : null),
    candidates: a.candidates?.length ?? 1,
    selection: a.selection ? { winner: a.selection.winner ?? null, reason: a.selection.reason } : null,
    failure: a.failure?.category ?? null,
    message: a.failure?.message ?? null,
    score: a.score,
  };
}

/** One line for an attempt that drew more than one candidate: which won and why (none otherwise). */
export function selectionLine(a: AttemptRecord): string | undefined {
  const drawn = a.candidates?.length ?? 1;
  if (drawn <= 1) return undefined;
  const winner = a.candidate ?? a.selection?.winner;
  const reason = a.selection?.reason ?? 'no selection recorded';
  return `attempt ${a.attempt}: ${winner === undefined ? 'no candidate' : `candidate ${winner}`} of ${drawn} won: ${reason}`;
}

/** The model's endpoint did not answer before the run: an empty patch, a result saying why, exit code 3. */
export function recordUnreachableModel(out: string, taskId: string, message: string): number {
  writeFileSync(join(out, 'patch.diff'), '');
  const result = {
    task_id: taskId,
    status: 'error',
    stopped_by: 'model_error',
    message,
    attempts: [],
    tokens: { input: 0, output: 0 },
    cost_usd: 0,
    duration_ms: 0,
  };
  writeFileSync(join(out, 'result.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stderr.write(`fixwright: ${message}\n`);
  process.stdout.write(`error: ${message}\n`);
  return EXIT_RUN_ERROR;
}

/**
 * A live timeline: one line per event, and a spinner while the model is thinking, on a terminal
 * only (in a log or a pipe the spinner would leave "- waiting for …" lines).
 */
function showTimeline(events: EventLog, model: string): Ora {
  const spinner = ora({ stream: process.stderr, discardStdin: false, isSilent: process.stderr.isTTY !== true });
  events.subscribe((e) => {
    if (spinner.isSpinning) spinner.stop();
    const detail =
      e.type === 'node_end'
        ? `${e.data.node} (${e.data.duration_ms} ms)`
        : e.type === 'node_start'
          ? `${e.data.node}…`
          : e.type === 'done'
            ? `status ${e.data.status}`
            : JSON.stringify(e.data).slice(0, 120);
    process.stderr.write(`[${String(e.seq).padStart(3)}] ${e.type.padEnd(15)} ${detail}\n`);
    if (e.type === 'node_start' && (e.data.node === 'generate' || e.data.node === 'reproduce'))
      spinner.start(`waiting for ${model}`);
  });
  return spinner;
}

function writeResult(record: RunRecord, result: Record<string, unknown>): void {
  writeFileSync(join(record.out, 'result.json'), `${JSON.stringify(redact(result, record.events.secrets), null, 2)}\n`);
}

/** A cancelled or crashed run still ends with a typed status on disk and in the log; the error to throw on. */
function recordStoppedRun(record: RunRecord, err: unknown, cancelled: boolean): unknown {
  if (record.spinner.isSpinning) record.spinner.stop();
  record.events.emit(cancelled ? 'done' : 'error', {
    status: 'failed',
    stopped_by: cancelled ? 'cancelled' : 'error',
    message: (err as Error).message,
  });
  writeFileSync(join(record.out, 'patch.diff'), '');
  const { spent } = record;
  writeResult(record, {
    task_id: record.taskId,
    status: 'failed',
    stopped_by: cancelled ? 'cancelled' : 'error',
    message: (err as Error).message,
    attempts: [],
    tokens: spent.tokens,
    cost_usd: spent.costUsd,
    duration_ms: Date.now() - record.started,
    ...(spent.timing ? { timing: spent.timing } : {}),
  });
  // Ctrl-C is the user's choice, not a bug: say where the run's record is, in one line.
  if (cancelled)
    return new FixwrightError(
      'FW_ERR_CANCELLED',
      `cancelled; the run so far is in ${record.out} (result.json says stopped_by "cancelled")`,
    );
  return err;
}

function recordOutcome(record: RunRecord, final: SolveOutcome, samples: number): void {
  writeFileSync(join(record.out, 'patch.diff'), final.finalPatch);
  writeResult(record, {
    task_id: record.taskId,
    status: final.status,
    stopped_by: final.stoppedBy,
    message: final.stopMessage,
    samples,
    attempts: final.attempts.map(attemptEntry),
    // snake_case on disk, as in the API and the trajectory.
    localised_files: final.files.map((f) => ({ path: f.path, score: f.score, in_set: f.inSet })),
    tokens: final.tokens,
    cost_usd: final.costUsd,
    duration_ms: Date.now() - record.started,
    // Where the time went: model calls, the repository's tests and fixwright's own time (README, "Where the time goes").
    timing: final.timing ?? null,
  });
}

/** Prints which candidate each sampled attempt kept, and how the run ended; returns the exit code. */
function printOutcome(out: string, final: SolveOutcome): number {
  for (const a of final.attempts) {
    const line = selectionLine(a);
    if (line) process.stdout.write(`${line}\n`);
  }
  const patchNote = final.finalPatch ? join(out, 'patch.diff') : 'no patch';
  if (final.status === 'error') {
    // The run could not be judged: say why, so the user can fix the key, the URL or the environment.
    process.stderr.write(`fixwright: ${final.stopMessage ?? 'the run ended in error'}\n`);
    process.stdout.write(
      `error: ${final.stopMessage ?? 'the run ended in error'} (${patchNote}; ${final.attempts.length} attempt(s))\n`,
    );
  } else {
    process.stdout.write(
      `${final.status}` +
        `: ${final.status === 'failed' ? 'no patch' : join(out, 'patch.diff')} ` +
        `(${final.attempts.length} attempt(s), ${final.tokens.input + final.tokens.output} tokens)\n`,
    );
  }
  return final.status === 'resolved' ? 0 : final.status === 'error' ? EXIT_RUN_ERROR : 1;
}

/**
 * Runs the agent on the checked flags with the live timeline, writes patch.diff, trajectory.jsonl and
 * result.json under `out` (also when the run is cancelled or crashes) and returns the exit code.
 */
export async function runSolve(
  run: SolveRun & { model: string },
  settings: Settings,
  localiser: ReturnType<typeof createLocaliser>,
  out: string,
  taskId: string,
): Promise<number> {
  const { model, baseURL, provider, temperatures } = run;
  const events = new EventLog(
    taskId,
    join(out, 'trajectory.jsonl'),
    settings.models.apiKey ? [settings.models.apiKey] : [],
  );
  const spinner = showTimeline(events, model);
  const started = Date.now();
  const runtime = await createSandboxRuntime(settings);
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const spent: RunRecord['spent'] = { tokens: { input: 0, output: 0 }, costUsd: 0 };
  const record: RunRecord = { out, taskId, events, spinner, started, spent };
  events.emit('status', { status: 'running', repo: await repositoryName(run.request.repo), model });
  let final: SolveOutcome;
  try {
    final = await solveIssue(run.request, {
      ...defaultAgentParts(settings, { model, baseURL, provider, temperatures }, { runtime, localiser }),
      settings,
      events,
      signal: controller.signal,
      spent,
      modelGate: run.modelGate,
    });
  } catch (err) {
    throw recordStoppedRun(record, err, controller.signal.aborted);
  }
  recordOutcome(record, final, run.samples);
  return printOutcome(out, final);
}
