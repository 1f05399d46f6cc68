import type { AgentEvent } from './envelope.js';
import {
  adoptChosen,
  candidateNumber,
  chosenCandidate,
  foldCandidateEvent,
  foldSelection,
  type CandidateView,
  type SelectionView,
} from './attempt-candidates.js';

export type { CandidateView, JudgeView, SelectionView } from './attempt-candidates.js';

/**
 * A task's life: `queued` → `running` → `finished` (the agent ran to its end; `verdict` says how
 * it went), or `cancelled`, or `error` (the run could not finish or be judged: a crash, a lost
 * worker twice, the model provider failing, an environment that does not work; `error` says why).
 */
export type TaskStatus = 'queued' | 'running' | 'finished' | 'cancelled' | 'error';

/** Every task status, for validation and metrics. */
export const TASK_STATUSES: readonly TaskStatus[] = ['queued', 'running', 'finished', 'cancelled', 'error'];

/** Statuses a task never leaves. */
export const TERMINAL_STATUSES: readonly TaskStatus[] = ['finished', 'cancelled', 'error'];

/**
 * The agent's own verdict (ARCHITECTURE.md, "three meanings of resolved"). A run that ended in the
 * agent's `error` has no verdict: the task's status is `error` and its `error` carries the reason.
 */
export type Verdict = 'resolved' | 'unverified' | 'failed';

/** What a caller asked for, as stored (validated by the route's schema). */
export interface TaskRequest {
  repo_url?: string;
  repo_path?: string;
  commit?: string;
  issue_text?: string;
  issue_url?: string;
  model?: string;
  max_attempts: number;
  /** The task's spending cap (the request's, or the server's cap when it named none). */
  max_cost_usd?: number;
  /** The task's wall-time cap in seconds (likewise). */
  max_seconds?: number;
  /** The environment spec the caller gave, validated (as an untrusted spec). */
  environment?: Record<string, unknown>;
  /** Candidate fixes per attempt (absent in tasks stored before sampling: one). */
  samples?: number;
}

/**
 * One attempt as the task view shows it, folded from the attempt's events. Its diff, files, apply,
 * tests, failure and score are those of its chosen candidate (the selection's winner; candidate 1
 * until one is chosen, and in logs from before sampling).
 */
export interface AttemptView {
  attempt: number;
  /** The chosen candidate, once the selection named it. */
  candidate?: number;
  /** Every candidate drawn, best first once selected, each with its own diff and tests. */
  candidates?: CandidateView[];
  /** Which candidate won, why, and the judge tests that rated them. */
  selection?: SelectionView;
  /** Fewer candidates were drawn than asked for: the cost cap stopped sampling. */
  sampling?: { stopped_by: string; drawn: number; wanted: number };
  diff?: string;
  files?: string[];
  apply?: Record<string, unknown>;
  tests?: Record<string, unknown>;
  reflection?: { category: string; message: string };
  /**
   * How the attempt ended: `null` when it passed every check, the failure (category and message,
   * as in result.json) when it did not, absent while that is not known yet. The last attempt is
   * never reflected on, so this, not `reflection`, says whether it passed.
   */
  failure?: { category: string; message: string } | null;
  /** The programmatic score that chooses the best unproven attempt (from the run's end). */
  score?: number;
}

/** What the events of a task add up to. */
export interface TaskSummary {
  localised_files: Array<{ path: string; score: number; in_set: boolean }>;
  set_size: number | null;
  /** The probability the conformal set holds the file to change (null without a calibration). */
  coverage: number | null;
  attempts: AttemptView[];
  final_patch: string;
  verdict: Verdict | null;
  stopped_by: string | null;
  /** Why the run stopped early, in words (what is missing from the environment, what the provider said). */
  stop_message: string | null;
  /** The environment the tests ran in: where it came from and how it was decided. */
  environment: { source: string; key: string; notes: string[] } | null;
  /** The baseline check before the first attempt: the project imports and its relevant tests collect. */
  baseline: { ok: boolean; message: string | null; collected: number | null } | null;
  tokens: { input: number; output: number };
  /** What the priced model calls cost; calls to a model with no known price add nothing here. */
  cost_usd: number;
  /** Model calls to a model with no known price: their cost is unknown, not zero. */
  unpriced_calls: number;
  /** Where the run's time went (the done event's `timing`: model, tests, fixwright's own; per node and attempt); null until the run ends. */
  timing?: Record<string, unknown> | null;
  last_seq: number;
}

/** A stored task. */
export interface TaskRecord {
  task_id: string;
  status: TaskStatus;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  request: TaskRequest;
  /** Runs started after a worker was lost. */
  retries: number;
  cancel_requested: boolean;
  error: { code: string; message: string } | null;
  summary: TaskSummary;
}

/** A summary with nothing in it yet. */
export function emptySummary(): TaskSummary {
  return {
    localised_files: [],
    set_size: null,
    coverage: null,
    attempts: [],
    final_patch: '',
    verdict: null,
    stopped_by: null,
    stop_message: null,
    environment: null,
    baseline: null,
    tokens: { input: 0, output: 0 },
    cost_usd: 0,
    unpriced_calls: 0,
    last_seq: 0,
  };
}

/** A new queued task. */
export function newTask(taskId: string, request: TaskRequest, now = new Date()): TaskRecord {
  return {
    task_id: taskId,
    status: 'queued',
    created_at: now.toISOString(),
    started_at: null,
    finished_at: null,
    request,
    retries: 0,
    cancel_requested: false,
    error: null,
    summary: emptySummary(),
  };
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function attemptOf(summary: TaskSummary, data: Record<string, unknown>): AttemptView | undefined {
  const n = data.attempt;
  if (typeof n !== 'number') return undefined;
  let view = summary.attempts.find((a) => a.attempt === n);
  if (!view) {
    view = { attempt: n };
    summary.attempts.push(view);
    summary.attempts.sort((a, b) => a.attempt - b.attempt);
  }
  return view;
}

/**
 * The run's own account of how each attempt ended (`done.attempt_results`, the same records as
 * result.json's `attempts`). A log from before that field: a resolved run's chosen attempt passed.
 */
function foldAttemptResults(summary: TaskSummary, d: Record<string, unknown>): void {
  if (Array.isArray(d.attempt_results)) {
    for (const r of d.attempt_results as Array<Record<string, unknown>>) {
      const view = attemptOf(summary, r);
      if (!view) continue;
      if (typeof r.candidate === 'number' && r.candidate !== chosenCandidate(view)) {
        view.candidate = r.candidate;
        adoptChosen(view);
      }
      view.failure =
        typeof r.failure === 'string'
          ? { category: r.failure, message: typeof r.message === 'string' ? r.message : '' }
          : null;
      if (typeof r.score === 'number') view.score = r.score;
    }
  } else if (d.status === 'resolved' && typeof d.chosen_attempt === 'number') {
    const view = attemptOf(summary, { attempt: d.chosen_attempt });
    if (view) view.failure = null;
  }
}

/**
 * Folds one event into a summary (in place, returning it). Pure over the event log, so the API,
 * the worker and the UI rebuild the same view from a replay. A retried run starts its attempts
 * afresh, so a `status: running` event with `retry` clears the previous run's attempts.
 */
export function foldEvent(summary: TaskSummary, event: AgentEvent): TaskSummary {
  const d = event.data;
  summary.last_seq = Math.max(summary.last_seq, event.seq);
  switch (event.type) {
    case 'status':
      if (d.status === 'running' && d.retry) {
        summary.attempts = [];
        summary.final_patch = '';
      }
      break;
    case 'localised_files': {
      const files = Array.isArray(d.files) ? (d.files as Array<Record<string, unknown>>) : [];
      // `inSet` is how logs written before the field was renamed spell it.
      summary.localised_files = files.map((f) => ({
        path: String(f.path),
        score: num(f.score),
        in_set: Boolean(f.in_set ?? f.inSet),
      }));
      summary.set_size = typeof d.set_size === 'number' ? d.set_size : null;
      summary.coverage = typeof d.coverage === 'number' ? d.coverage : null;
      break;
    }
    case 'model_call': {
      const usage = (d.usage ?? {}) as Record<string, unknown>;
      summary.tokens.input += num(usage.input_tokens);
      summary.tokens.output += num(usage.output_tokens);
      summary.cost_usd += num(d.cost_usd);
      // A summary stored before the count existed has none.
      if (d.priced === false) summary.unpriced_calls = (summary.unpriced_calls ?? 0) + 1;
      if (d.step === 'generate') {
        const view = attemptOf(summary, d);
        if (view) foldCandidateEvent(view, 'model_call', d);
      }
      break;
    }
    case 'patch':
    case 'apply_result':
    case 'test_result': {
      const view = attemptOf(summary, d);
      if (!view) break;
      foldCandidateEvent(view, event.type, d);
      adoptChosen(view);
      // Only the chosen candidate's failing apply is the attempt's failure.
      if (
        event.type === 'apply_result' &&
        d.ok === false &&
        typeof d.category === 'string' &&
        candidateNumber(d) === chosenCandidate(view)
      ) {
        view.failure = { category: d.category, message: String(d.message ?? '') };
      }
      break;
    }
    case 'reflection': {
      const view = attemptOf(summary, d);
      if (view) {
        view.reflection = { category: String(d.category), message: String(d.message) };
        view.failure = { ...view.reflection };
      }
      break;
    }
    case 'log':
      if (d.step === 'environment' && typeof d.source === 'string') {
        summary.environment = {
          source: d.source,
          key: String(d.key ?? ''),
          notes: Array.isArray(d.notes) ? d.notes.map(String) : [],
        };
      } else if (d.step === 'baseline') {
        const failed = d.stopped_by === 'environment';
        summary.baseline = {
          ok: !failed && d.ok !== false,
          message: typeof d.message === 'string' ? d.message : (summary.baseline?.message ?? null),
          collected: typeof d.collected === 'number' ? d.collected : (summary.baseline?.collected ?? null),
        };
      } else if (d.step === 'select') {
        const view = attemptOf(summary, d);
        if (view) foldSelection(view, d);
      } else if (d.step === 'generate' && typeof d.stopped_by === 'string') {
        const view = attemptOf(summary, d);
        if (view) view.sampling = { stopped_by: d.stopped_by, drawn: num(d.drawn), wanted: num(d.wanted) };
      }
      break;
    case 'done':
      // A cancelled run was stopped, not judged: the task's status says cancelled, and there is no verdict.
      if (d.stopped_by === 'cancelled') summary.verdict = null;
      else if (d.status === 'resolved' || d.status === 'unverified' || d.status === 'failed')
        summary.verdict = d.status;
      foldAttemptResults(summary, d);
      summary.stopped_by = typeof d.stopped_by === 'string' ? d.stopped_by : null;
      summary.stop_message = typeof d.message === 'string' ? d.message : null;
      summary.final_patch = typeof d.patch === 'string' ? d.patch : '';
      if (d.timing && typeof d.timing === 'object') summary.timing = d.timing as Record<string, unknown>;
      break;
    default:
      break;
  }
  return summary;
}

/** Does this event change the summary (every type but `log`, and the `log` steps the summary reads)? */
export function changesSummary(event: AgentEvent): boolean {
  const { step } = event.data;
  return (
    event.type !== 'log' ||
    step === 'environment' ||
    step === 'baseline' ||
    step === 'select' ||
    (step === 'generate' && typeof event.data.stopped_by === 'string')
  );
}

/** Is this event the last of a run (the WebSocket closes after it)? */
export function isFinalEvent(event: AgentEvent): boolean {
  return event.type === 'done' || event.type === 'error';
}
