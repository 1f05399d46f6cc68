import type { Logger } from 'pino';
import {
  chatModels,
  DEFAULT_SAMPLES,
  DEFAULT_TEMPERATURES,
  DEFAULT_TEST_TIMEOUT_SECONDS,
  EventLog,
  modelRateLimit,
  readGithubIssue,
  repositoryName,
  sharedAgentParts,
  solveIssue,
  type Ranker,
  type SolveContext,
  type SolveOptions,
} from '../agent/index.js';
import { type Settings, FixwrightError } from '../core/index.js';
import type { AgentEvent, EmitData, EventType } from '../events/index.js';
import { parseUserSpec, type SandboxRuntime } from '../sandbox/index.js';
import type { Calibration } from '../uncertainty/index.js';
import { observeEvent, serviceMetrics } from './metrics.js';
import { checkRepoPath } from './repo-roots.js';
import type { TaskStore } from './store/task-store.js';
import { changesSummary, foldEvent, TERMINAL_STATUSES, type TaskRecord, type TaskStatus } from './task.js';

/** What a worker lends every task it runs. */
export interface RunnerParts {
  store: TaskStore;
  settings: Settings;
  runtime: SandboxRuntime;
  /** One localiser for every task (its index cache is the process's). */
  localiser: Ranker;
  /** None: the shipped calibration. */
  calibration?: Calibration;
  logger: Logger;
  /**
   * The process's model rate limit (FIXWRIGHT_MODEL_RPM), one gate shared by every task it runs:
   * build it once with `serviceModelGate`, never per task; undefined when the setting is unset.
   */
  modelGate: SolveContext['modelGate'];
}

/** The gate of FIXWRIGHT_MODEL_RPM for one process (per process: several workers each have their own); none when unset. */
export function serviceModelGate(settings: Settings): SolveContext['modelGate'] {
  const perMinute = settings.service.modelRpm;
  return perMinute === undefined ? undefined : modelRateLimit(perMinute);
}

/**
 * What one task's run borrows from its process: the shared parts, the process's model gate included.
 * The model is the task's own (see runTask).
 */
export function taskSolveContext(
  parts: RunnerParts,
  events: EventLog,
  signal: AbortSignal,
): Omit<SolveContext, 'modelFor'> {
  return {
    ...sharedAgentParts(parts.settings, parts),
    settings: parts.settings,
    events,
    signal,
    modelGate: parts.modelGate,
  };
}

/** Why a run was stopped from outside: the user cancelled it, or the process is shutting down. */
export type AbortReason = 'cancel' | 'shutdown';

/** Secrets no event may carry. */
export function secretsOf(settings: Settings): string[] {
  return [settings.models.apiKey, settings.github.token, ...settings.service.apiKeys].filter((s): s is string =>
    Boolean(s),
  );
}

/**
 * Appends an event to a task's log from outside a run (the API cancelling a queued task, a worker
 * recording that a job was lost), numbered after the last one recorded.
 */
export async function appendTaskEvent<K extends EventType>(
  store: TaskStore,
  taskId: string,
  type: K,
  data: EmitData<K>,
): Promise<AgentEvent<K>> {
  const event = {
    task_id: taskId,
    seq: (await store.lastSeq(taskId)) + 1,
    ts: new Date().toISOString(),
    type,
    data,
  } as AgentEvent<K>;
  await store.append(event);
  return event;
}

/** Ends a task that no run will finish (cancelled while queued, a job lost for good): a last event, then the status. */
export async function endTask(
  store: TaskStore,
  taskId: string,
  status: 'cancelled' | 'error',
  message: string,
): Promise<TaskRecord | undefined> {
  const task = await store.get(taskId);
  if (!task || TERMINAL_STATUSES.includes(task.status)) return undefined;
  const event =
    status === 'cancelled'
      ? await appendTaskEvent(store, taskId, 'done', { status: 'failed', stopped_by: 'cancelled', message })
      : await appendTaskEvent(store, taskId, 'error', { status: 'failed', code: 'FW_ERR_LOST', message });
  const summary = foldEvent(task.summary, event);
  const ended = await store.change(taskId, {
    from: ['queued', 'running'],
    set: {
      status,
      finished_at: new Date().toISOString(),
      summary,
      ...(status === 'error' ? { error: { code: 'FW_ERR_LOST', message } } : {}),
    },
  });
  if (ended) serviceMetrics.tasksEnded.inc({ status, verdict: 'none' });
  return ended;
}

/** How a run left its task: the status to store, the verdict for the metrics, and the error to show. */
interface TaskEnd {
  status: TaskStatus;
  verdict: string;
  error: { code: string; message: string } | null;
}

/** A task's event log for one run, written to the store in order as the events arrive. */
interface TaskLog {
  events: EventLog;
  /** Waits for every write; `lost` is the error that stopped them, `ownerLost` when another run owns the task now. */
  settled(): Promise<{ lost: Error | undefined; ownerLost: boolean }>;
}

/**
 * Marks the task running (a retry counts itself); returns its status instead when it is not to run:
 * already ended, cancelled while queued, or taken by another run.
 */
async function claimTask(
  store: TaskStore,
  taskId: string,
  retry: boolean,
): Promise<TaskStatus | { running: TaskRecord; started: number }> {
  const task = await store.get(taskId);
  if (!task) throw new FixwrightError('FW_ERR_BAD_INPUT', `no task ${taskId}`);
  if (TERMINAL_STATUSES.includes(task.status)) return task.status;
  if (task.cancel_requested) {
    await endTask(store, taskId, 'cancelled', 'cancelled before it started');
    return 'cancelled';
  }
  const started = Date.now();
  const running = await store.change(taskId, {
    from: ['queued', 'running'],
    set: {
      status: 'running',
      started_at: task.started_at ?? new Date(started).toISOString(),
      retries: task.retries + (retry ? 1 : 0),
    },
  });
  if (!running) return (await store.get(taskId))?.status ?? 'error';
  return { running, started };
}

/**
 * Opens the run's event log, numbered after the task's last event: each event is observed, folded
 * into `summary` and written to the store; a write that fails aborts the run through `controller`.
 */
async function openTaskLog(
  store: TaskStore,
  taskId: string,
  summary: TaskRecord['summary'],
  secrets: string[],
  controller: AbortController,
  log: Logger,
): Promise<TaskLog> {
  let writes = Promise.resolve();
  let lostLog: Error | undefined;
  let ownerLost = false;
  const events = new EventLog(taskId, undefined, secrets, await store.lastSeq(taskId));
  events.subscribe((event) => {
    observeEvent(event);
    foldEvent(summary, event);
    const snapshot = structuredClone(summary);
    writes = writes.then(async () => {
      if (lostLog) return;
      try {
        await store.append(event);
        if (changesSummary(event)) await store.change(taskId, { set: { summary: snapshot } });
      } catch (err) {
        lostLog = err as Error;
        // A seq conflict means another run owns the task now; anything else is a store failure.
        ownerLost = /not the next one/.test((err as Error).message);
        log.error({ err }, 'could not record an event; stopping this run');
        controller.abort('lost');
      }
    });
  });
  return {
    events,
    settled: async () => {
      await writes;
      return { lost: lostLog, ownerLost };
    },
  };
}

/** The agent's options for a stored request, held to this server's caps. */
function taskSolveOptions(request: TaskRecord['request'], settings: Settings, issue: string): SolveOptions {
  return {
    repo: { url: request.repo_url, path: request.repo_path, commit: request.commit },
    issue,
    maxAttempts: request.max_attempts,
    // A task stored before sampling drew one candidate; one stored by a server with a higher cap is held to this one's.
    samples: Math.min(request.samples ?? DEFAULT_SAMPLES, settings.service.maxSamples),
    testTimeoutSeconds: DEFAULT_TEST_TIMEOUT_SECONDS,
    // A task stored before the caps existed (or by another server) is still bounded by this one's.
    maxCostUsd: Math.min(request.max_cost_usd ?? Infinity, settings.service.maxCostUsd),
    maxSeconds: Math.min(request.max_seconds ?? Infinity, settings.service.maxSeconds),
    ...(request.environment !== undefined
      ? {
          environment: {
            given: {
              spec: parseUserSpec(request.environment, "the request's environment", 'untrusted'),
              origin: "the request's environment field",
              trust: 'untrusted' as const,
            },
          },
        }
      : {}),
  };
}

/** Runs the agent on the task's request with the task's own model; throws when the run cannot start or is stopped. */
async function solveTask(
  request: TaskRecord['request'],
  parts: RunnerParts,
  events: EventLog,
  signal: AbortSignal,
  retry: boolean,
): Promise<TaskEnd> {
  const { settings } = parts;
  const model = request.model ?? settings.models.chatModel;
  if (request.repo_path !== undefined) checkRepoPath(request.repo_path, settings.service.repoRoots);
  // The repository and model, as solve and bench record them, so exported service runs are split by repository.
  const repo = await repositoryName({ url: request.repo_url, path: request.repo_path });
  events.emit('status', {
    status: 'running',
    repo,
    ...(model ? { model } : {}),
    ...(retry ? { retry: true, reason: 'the previous worker was lost; starting again' } : {}),
  });
  if (!model)
    throw new FixwrightError(
      'FW_ERR_CONFIG',
      'no model configured: set FIXWRIGHT_MODEL for the worker, or pass "model" in the request',
    );
  const issue = request.issue_text ?? (await readGithubIssue(request.issue_url!, settings.github));
  const outcome = await solveIssue(taskSolveOptions(request, settings, issue), {
    ...taskSolveContext(parts, events, signal),
    modelFor: chatModels(settings, { model, baseURL: settings.models.baseURL, temperatures: DEFAULT_TEMPERATURES }),
  });
  if (outcome.status === 'error') {
    // The provider or the environment failed: not a verdict on the issue, so the task is an error with the reason.
    return {
      status: 'error',
      verdict: 'none',
      error: {
        code: outcome.stoppedBy === 'environment' ? 'FW_ERR_ENVIRONMENT' : 'FW_ERR_MODEL',
        message: outcome.stopMessage ?? 'the run could not be judged',
      },
    };
  }
  return { status: 'finished', verdict: outcome.status, error: null };
}

/** How a run that threw ends: cancelled, back in the queue at shutdown, left to the log's new owner, or an error. */
function stoppedTask(err: unknown, signal: AbortSignal, events: EventLog, log: Logger): TaskEnd {
  const reason = signal.aborted ? (signal.reason as AbortReason | 'lost') : undefined;
  if (reason === 'cancel') {
    events.emit('done', { status: 'failed', stopped_by: 'cancelled', message: 'cancelled by the user' });
    return { status: 'cancelled', verdict: 'none', error: null };
  }
  if (reason === 'shutdown') {
    events.emit('status', {
      status: 'queued',
      reason: 'the service is shutting down; the task starts again at the next start-up',
    });
    return { status: 'queued', verdict: 'none', error: null };
  }
  if (reason === 'lost') return { status: 'running', verdict: 'none', error: null }; // another writer owns the task now
  const code = err instanceof FixwrightError ? err.code : 'FW_ERR_INTERNAL';
  const message = err instanceof FixwrightError ? err.message : `internal error: ${(err as Error).message}`;
  if (!(err instanceof FixwrightError)) log.error({ err }, 'task crashed');
  events.emit('error', { status: 'failed', code, message });
  return { status: 'error', verdict: 'none', error: { code, message } };
}

/** Stores how the task ended (a task back in the queue has no finish time) and counts it. */
async function finishTask(
  store: TaskStore,
  taskId: string,
  end: TaskEnd,
  summary: TaskRecord['summary'],
  started: number,
  log: Logger,
): Promise<TaskStatus> {
  const { status, verdict, error } = end;
  await store.change(taskId, {
    from: ['running'],
    set: { status, summary, error, ...(status === 'queued' ? {} : { finished_at: new Date().toISOString() }) },
  });
  if (status !== 'queued') {
    serviceMetrics.tasksEnded.inc({ status, verdict });
    serviceMetrics.taskSeconds.observe((Date.now() - started) / 1000);
  }
  log.info({ status, verdict, duration_ms: Date.now() - started }, 'task ended');
  return status;
}

/**
 * Runs one task to a status that says how it ended. Every event goes to the store in order (the
 * WebSocket reads them there) and is folded into the task's summary as it arrives; a retried run
 * continues the task's numbering. A shutdown puts the task back in the queue for the next start.
 */
export async function runTask(
  taskId: string,
  parts: RunnerParts,
  signal: AbortSignal,
  options: { retry?: boolean } = {},
): Promise<TaskStatus> {
  const { store, settings, logger } = parts;
  const log = logger.child({ task_id: taskId });
  const retry = options.retry === true;
  const claimed = await claimTask(store, taskId, retry);
  if (typeof claimed === 'string') return claimed;
  const { running, started } = claimed;

  // The run's own controller: aborted from outside, or when this run lost the task's log to another writer.
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const summary = running.summary;
  const taskLog = await openTaskLog(store, taskId, summary, secretsOf(settings), controller, log);

  serviceMetrics.activeJobs.inc();
  let end: TaskEnd;
  try {
    end = await solveTask(running.request, parts, taskLog.events, controller.signal, retry);
  } catch (err) {
    end = stoppedTask(err, controller.signal, taskLog.events, log);
  } finally {
    signal.removeEventListener('abort', onAbort);
    serviceMetrics.activeJobs.dec();
  }
  const { lost, ownerLost } = await taskLog.settled();
  if (lost && ownerLost) return 'running';
  // The store failed under this run: fail the job, so whoever runs it records the end.
  if (lost) throw lost;
  return finishTask(store, taskId, end, summary, started, log);
}
