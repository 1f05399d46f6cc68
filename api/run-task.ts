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
      retries: task.retries + (options.retry ? 1 : 0),
    },
  });
  if (!running) return (await store.get(taskId))?.status ?? 'error';

  // The run's own controller: aborted from outside, or when this run lost the task's log to another writer.
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const summary = running.summary;
  let writes = Promise.resolve();
  let lostLog: Error | undefined;
  let ownerLost = false;
  const events = new EventLog(taskId, undefined, secretsOf(settings), await store.lastSeq(taskId));
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

  serviceMetrics.activeJobs.inc();
  const request = running.request;
  const model = request.model ?? settings.models.chatModel;
  let status: TaskStatus;
  let verdict = 'none';
  let error: { code: string; message: string } | null = null;
  try {
    if (request.repo_path !== undefined) checkRepoPath(request.repo_path, settings.service.repoRoots);
    // The repository and model, as solve and bench record them, so exported service runs are split by repository.
    const repo = await repositoryName({ url: request.repo_url, path: request.repo_path });
    events.emit('status', {
      status: 'running',
      repo,
      ...(model ? { model } : {}),
      ...(options.retry ? { retry: true, reason: 'the previous worker was lost; starting again' } : {}),
    });
    if (!model)
      throw new FixwrightError(
        'FW_ERR_CONFIG',
        'no model configured: set FIXWRIGHT_MODEL for the worker, or pass "model" in the request',
      );
    const issue = request.issue_text ?? (await readGithubIssue(request.issue_url!, settings.github));
    const outcome = await solveIssue(
      {
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
      },
      {
        ...taskSolveContext(parts, events, controller.signal),
        modelFor: chatModels(settings, { model, baseURL: settings.models.baseURL, temperatures: DEFAULT_TEMPERATURES }),
      },
    );
    if (outcome.status === 'error') {
      // The provider or the environment failed: not a verdict on the issue, so the task is an error with the reason.
      status = 'error';
      error = {
        code: outcome.stoppedBy === 'environment' ? 'FW_ERR_ENVIRONMENT' : 'FW_ERR_MODEL',
        message: outcome.stopMessage ?? 'the run could not be judged',
      };
    } else {
      status = 'finished';
      verdict = outcome.status;
    }
  } catch (err) {
    const reason = controller.signal.aborted ? (controller.signal.reason as AbortReason | 'lost') : undefined;
    if (reason === 'cancel') {
      events.emit('done', { status: 'failed', stopped_by: 'cancelled', message: 'cancelled by the user' });
      status = 'cancelled';
    } else if (reason === 'shutdown') {
      events.emit('status', {
        status: 'queued',
        reason: 'the service is shutting down; the task starts again at the next start-up',
      });
      status = 'queued';
    } else if (reason === 'lost') {
      status = 'running'; // another writer owns the task now
    } else {
      const code = err instanceof FixwrightError ? err.code : 'FW_ERR_INTERNAL';
      const message = err instanceof FixwrightError ? err.message : `internal error: ${(err as Error).message}`;
      if (!(err instanceof FixwrightError)) log.error({ err }, 'task crashed');
      events.emit('error', { status: 'failed', code, message });
      error = { code, message };
      status = 'error';
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    serviceMetrics.activeJobs.dec();
  }
  await writes;
  if (lostLog && ownerLost) return 'running';
  // The store failed under this run: fail the job, so whoever runs it records the end.
  if (lostLog) throw lostLog;
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
