import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { EventLog } from '../../agent/index.js';
import { FixwrightError, redisURLForDisplay, instanceFileName } from '../../core/index.js';
import type { loadEnvironmentTable } from '../eval/environments.js';
import type { InstanceResult } from '../eval/evaluate-instance.js';
import type { EvalRow, Prediction } from '../eval/instances.js';
import type { Variant } from '../run/ablation.js';
import type { BenchContext, InstanceRun, RemoteBench } from '../run/solve-instances.js';
import {
  EVENTS_MAX_LEN,
  FINISHED_JOB_AGE_SECONDS,
  fixwrightVersion,
  LOCAL_FAULT_ATTEMPTS,
  LOCAL_FAULT_BACKOFF_MS,
  INSTANCE_QUEUE,
  jobId,
  jobSolve,
  queueRunId,
  tableFor,
  unpackText,
  type BenchJob,
  type BenchPayload,
  type BenchReturn,
  type EvalJob,
  type EvalReturn,
  type EvalSettings,
  type JobRun,
} from './jobs.js';

/** One rejection per cancel signal, shared by every instance waiting on it (one abort listener, not one each). */
const cancellations = new WeakMap<AbortSignal, Promise<never>>();

/** Waits for a promise, or rejects when the run is cancelled. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  let cancelled = cancellations.get(signal);
  if (!cancelled) {
    cancelled = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(new Error('cancelled'));
      else signal.addEventListener('abort', () => reject(new Error('cancelled')), { once: true });
    });
    cancelled.catch(() => undefined);
    cancellations.set(signal, cancelled);
  }
  return Promise.race([promise, cancelled]);
}

/** How often a waiting submitter checks that each awaited job still exists, and says where the run stands. */
export const CHECK_INTERVAL_MS = 30_000;

/** What a submitter waiting on its jobs is told now and then (and the figures of its progress line). */
export interface QueueNotes {
  /** One line for the user (a job gone from the queue and queued again, a progress line). */
  line(text: string): void;
}

/** A job's answer as the submitter collects it: the worker's result, the text of its payload, and who ran it. */
export type Collected<R> = R & { text: string };

/**
 * The submitting side of the instance queue: puts one job per instance on it, waits for a worker's
 * result, and takes a job (and its payload key) off once its result is written into the run
 * directory. While it waits it checks every CHECK_INTERVAL_MS that each awaited job still exists (a
 * Redis restarted empty, another submitter's Ctrl-C): a job gone is queued again, and said so.
 */
export class InstanceQueueClient {
  private readonly connection: Redis;
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  /** Jobs this client waits on or collected, by instance id: the job id and the payload key once finished. */
  private readonly jobs = new Map<string, { id: string; payload?: string }>();
  /** Job ids this client added (Ctrl-C takes off only these: another submitter's jobs are its own). */
  private readonly created = new Set<string>();
  /** Jobs being waited on now. */
  private readonly waiting = new Set<string>();
  /** Collected jobs still being taken off the queue (closing waits for them). */
  private readonly removals = new Set<Promise<unknown>>();
  private readonly db: string;
  private progress: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  /**
   * Connects to the queue's Redis, first checking once that it answers (a wrong --queue URL fails
   * here with one clear error, not as retries in every instance). Connection trouble later is told
   * to `onError` once per 30 s while ioredis retries.
   */
  static async connect(
    url: string,
    onError: (err: Error) => void = () => undefined,
    prefix = 'fixwright',
    timeoutMs = 5000,
    notes?: QueueNotes,
    checkMs = CHECK_INTERVAL_MS,
  ): Promise<InstanceQueueClient> {
    const probe = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: timeoutMs,
    });
    let cause: Error | undefined;
    probe.on('error', (err: Error) => void (cause ??= err)); // reported below
    try {
      await probe.connect();
      await probe.ping();
    } catch (err) {
      throw new FixwrightError(
        'FW_ERR_CONFIG',
        `the queue's Redis at ${redisURLForDisplay(url)} does not answer: ${(cause ?? (err as Error)).message}`,
        { field: '--queue' },
      );
    } finally {
      probe.disconnect();
    }
    let last = 0;
    const client = new InstanceQueueClient(
      url,
      prefix,
      (err) => {
        if (Date.now() - last < 30_000) return;
        last = Date.now();
        onError(err);
      },
      notes,
      checkMs,
    );
    await client.events.waitUntilReady();
    return client;
  }

  private constructor(
    readonly url: string,
    prefix: string,
    onError: (err: Error) => void,
    private readonly notes: QueueNotes | undefined,
    private readonly checkMs: number,
  ) {
    this.db = new URL(url).pathname.replace(/^\//, '') || '0';
    this.connection = new Redis(url, { maxRetriesPerRequest: null });
    this.connection.on('error', onError);
    this.queue = new Queue(INSTANCE_QUEUE, {
      connection: this.connection,
      prefix,
      streams: { events: { maxLen: EVENTS_MAX_LEN } },
    });
    this.queue.on('error', onError);
    // Every instance waiting on its job listens for the queue closing: as many listeners as instances, by design.
    this.queue.setMaxListeners(0);
    const events = new Redis(url, { maxRetriesPerRequest: null });
    events.on('error', onError);
    this.events = new QueueEvents(INSTANCE_QUEUE, { connection: events, prefix });
    this.events.on('error', onError);
    this.events.setMaxListeners(0);
  }

  /**
   * `fixwright worker` processes taking instance jobs right now, on this Redis database and prefix
   * (CLIENT LIST names every database's clients).
   */
  async workers(): Promise<number> {
    return (await this.queue.getWorkers()).filter((w) => w.db === undefined || w.db === this.db).length;
  }

  /** Starts the progress line: every CHECK_INTERVAL_MS while jobs are awaited, how many wait, run, and which workers are there. */
  private progressLine(): void {
    if (this.progress || !this.notes) return;
    this.progress = setInterval(() => {
      if (this.waiting.size === 0) return;
      void Promise.all([this.queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active'), this.workers()])
        .then(([c, workers]) => {
          this.notes?.line(
            `fixwright: ` +
              `queue: ${this.waiting.size} instance(s) ` +
              `awaited: ${(c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0)} ` +
              `waiting, ${c.active ?? 0} running; ${workers} worker(s) on this database and prefix\n`,
          );
        })
        .catch(() => undefined); // the connection's own error line says Redis is unreachable
    }, this.checkMs);
    this.progress.unref();
  }

  /** Adds the job, or finds the one of that id already there (a rerun, another submitter). */
  private async add(kind: 'bench' | 'eval', id: string, data: BenchJob | EvalJob): Promise<Job> {
    const existing = await this.queue.getJob(id);
    if (existing) return existing;
    const job = await this.queue.add(kind, data, {
      jobId: id,
      // A worker's local fault (a repository or commit it lacks, Docker down) leaves the job to another worker, a bounded number of times.
      attempts: LOCAL_FAULT_ATTEMPTS,
      backoff: { type: 'exponential', delay: LOCAL_FAULT_BACKOFF_MS },
      removeOnComplete: { age: FINISHED_JOB_AGE_SECONDS },
      removeOnFail: { age: FINISHED_JOB_AGE_SECONDS },
    });
    this.created.add(id);
    return job;
  }

  /**
   * Waits for the job to finish: its completed or failed event, and every `checkMs` its state (a job
   * gone from the queue is queued again and said so; one finished while no event came is taken as it is).
   */
  private async finished(
    kind: 'bench' | 'eval',
    instanceId: string,
    id: string,
    data: BenchJob | EvalJob,
    job: Job,
    signal?: AbortSignal,
  ): Promise<unknown> {
    for (;;) {
      try {
        return await unlessAborted(job.waitUntilFinished(this.events, this.checkMs), signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        // Timed out (time for a check), failed, or gone (BullMQ then rejects with an object): the state says which.
      }
      const state = await this.queue.getJobState(id);
      if (state === 'unknown') {
        this.notes?.line(
          `fixwright: queue: the job of ${instanceId} is gone from the queue (Redis restarted empty, or another submitter took it off); queued again\n`,
        );
        job = await this.add(kind, id, data);
      } else if (state === 'completed' || state === 'failed') {
        const found = await this.queue.getJob(id);
        if (!found) continue;
        if (state === 'failed') throw new Error(found.failedReason || 'the job failed');
        return found.returnvalue;
      }
    }
  }

  /**
   * Runs one job through the queue and returns the worker's answer with its payload's text.
   * `collectedToken`: the run token recorded in the run directory's result of this instance (it runs
   * again): a job of the same id that answered with that token is that old answer, not a new one.
   */
  async run<R extends { payload: string; run: JobRun }>(
    kind: 'bench' | 'eval',
    instanceId: string,
    data: BenchJob | EvalJob,
    collectedToken: string | undefined,
    signal?: AbortSignal,
  ): Promise<Collected<R>> {
    // Cancelling ends the wait at once, whatever Redis is doing (a command to a Redis that is down waits for it to come back).
    const running = this.runJob<R>(kind, instanceId, data, collectedToken, signal);
    running.catch(() => undefined);
    return unlessAborted(running, signal);
  }

  private async runJob<R extends { payload: string; run: JobRun }>(
    kind: 'bench' | 'eval',
    instanceId: string,
    data: BenchJob | EvalJob,
    collectedToken: string | undefined,
    signal?: AbortSignal,
  ): Promise<Collected<R>> {
    const id = jobId(kind, data);
    this.jobs.set(instanceId, { id });
    this.waiting.add(id);
    this.progressLine();
    try {
      for (let tries = 0; ; tries += 1) {
        let job: Job | undefined = await this.queue.getJob(id);
        if (job) {
          const state = await job.getState();
          const old =
            state === 'completed' &&
            collectedToken !== undefined &&
            (job.returnvalue as R | null)?.run?.token === collectedToken;
          // A failed job (its worker lost too often, or its run threw) is run again, as a local rerun would.
          if (state === 'failed' || old) {
            await job.remove().catch(() => undefined);
            job = undefined;
          }
        }
        job ??= await this.add(kind, id, data);
        const answer = (await this.finished(kind, instanceId, id, data, job, signal)) as R;
        const packed = await this.connection.get(answer.payload);
        if (packed !== null) {
          this.jobs.set(instanceId, { id, payload: answer.payload });
          return { ...answer, text: unpackText(packed) };
        }
        // Its trajectory or log expired (or Redis lost it): the job runs again, once.
        if (tries > 0)
          throw new Error(
            `the worker's answer lost its ${kind === 'eval' ? 'test log' : 'trajectory'} (key ${answer.payload} is gone from Redis)`,
          );
        this.notes?.line(
          `fixwright: queue: the finished job of ${instanceId} has lost its ${kind === 'eval' ? 'test log' : 'trajectory'}; queued again\n`,
        );
        await this.queue.remove(id).catch(() => undefined);
      }
    } finally {
      this.waiting.delete(id);
    }
  }

  /** Takes an instance's finished job and its payload off the queue once its result is in the run directory. */
  async collected(instanceId: string): Promise<void> {
    const found = this.jobs.get(instanceId);
    if (!found) return;
    this.jobs.delete(instanceId);
    // The event stream keeps a copy of each return value: trimmed here too, as another Queue (or Redis emptied) may have reset its cap to BullMQ's 10,000.
    const removal = Promise.all([
      this.queue.remove(found.id),
      found.payload ? this.connection.del(found.payload) : 0,
      this.queue.trimEvents(EVENTS_MAX_LEN),
    ]).catch(() => undefined);
    this.removals.add(removal);
    await removal;
    this.removals.delete(removal);
  }

  /**
   * Takes the jobs this client added that no worker has started off the queue (Ctrl-C); started ones
   * finish, for a rerun to collect. All at once (the commands pipeline on the connection), and within
   * `timeoutMs`: with Redis down, undefined (nothing is known).
   */
  async cancelWaiting(timeoutMs = 5000): Promise<number | undefined> {
    const ids = [...this.jobs.values()].map((j) => j.id).filter((id) => this.created.has(id));
    const cancel = async () => {
      const states = await Promise.all(ids.map((id) => this.queue.getJobState(id)));
      const unstarted = ids.filter((_, i) => ['waiting', 'delayed', 'prioritized'].includes(states[i]!));
      const removed = await Promise.all(
        unstarted.map((id) =>
          this.queue.remove(id).then(
            (n) => n === 1,
            () => false,
          ),
        ),
      );
      return removed.filter(Boolean).length;
    };
    const timer = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), timeoutMs).unref());
    return Promise.race([cancel().catch(() => undefined), timer]);
  }

  /** Closes the connections, waiting up to `timeoutMs` for collected jobs to leave (with Redis down, it disconnects). */
  async close(timeoutMs = 10_000): Promise<void> {
    this.closing ??= this.shut(timeoutMs);
    return this.closing;
  }

  private async shut(timeoutMs: number): Promise<void> {
    if (this.progress) clearInterval(this.progress);
    const closing = (async () => {
      await Promise.allSettled([...this.removals]);
      await Promise.allSettled([this.events.close(), this.queue.close()]);
      await this.connection.quit().catch(() => undefined);
    })();
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
    if ((await Promise.race([closing, timer])) === 'timeout') {
      this.connection.disconnect();
      void this.events.disconnect().catch(() => undefined);
      void this.queue.disconnect().catch(() => undefined);
    }
  }
}

/** The cancelled run's words about its queued instances (`removed` undefined: Redis did not answer in time). */
export function cancelledNote(removed: number | undefined): string {
  return removed === undefined
    ? " (the queue's Redis did not answer: this run's unstarted instances may still be queued; workers that take them finish them, and the rerun collects them)"
    : ` (${removed} queued instance(s) taken off the queue; those already running finish on their workers and the rerun collects them)`;
}

/** The run token recorded in a result file (undefined: none, or no result). */
function collectedToken(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const token = (JSON.parse(readFileSync(file, 'utf8')) as { queue?: { token?: unknown } }).queue?.token;
    return typeof token === 'string' ? token : undefined;
  } catch {
    return undefined;
  }
}

/** Why a job failed, for the instance's recorded result. */
function failureMessage(err: unknown): string {
  const message = (err as Error).message ?? String(err);
  return /stalled/i.test(message)
    ? `its worker was lost too often (killed or stopped mid-instance): ${message}`
    : `the worker failed: ${message}`;
}

/**
 * A bench run whose instances run on the queue's workers: each instance's job carries what the agent
 * may see (never the gold fields), the environment the submitter's table gives it and the run's
 * settings; the worker's trajectory is written where a local run writes it.
 */
export function remoteBench(
  client: InstanceQueueClient,
  options: {
    out: string;
    solve: BenchContext['solve'];
    /** The environment table the agent's tests use (cut to each row's entry in its job); none: resolved from the repository. */
    table?: ReturnType<typeof loadEnvironmentTable>;
    variant?: Variant;
    errorRetries: number;
    retryBackoffMs?: number;
    signal?: AbortSignal;
  },
): RemoteBench {
  const runId = queueRunId(options.out);
  const run = async (row: EvalRow, trajectory: string): Promise<InstanceRun> => {
    const { instance_id, repo, base_commit, problem_statement, version } = row;
    const data: BenchJob = {
      run_id: runId,
      fixwright: fixwrightVersion(),
      row: { instance_id, repo, base_commit, problem_statement, ...(version !== undefined ? { version } : {}) },
      solve: jobSolve(options.solve),
      table: options.table
        ? (JSON.parse(JSON.stringify(tableFor(options.table, repo, version))) as BenchJob['table'])
        : null,
      variant: options.variant ? (JSON.parse(JSON.stringify(options.variant)) as BenchJob['variant']) : null,
      error_retries: options.errorRetries,
      retry_backoff_ms: options.retryBackoffMs ?? 2000,
    };
    const collected = collectedToken(join(options.out, 'results', `${instanceFileName(instance_id)}.json`));
    const started = Date.now();
    try {
      const answer = await client.run<BenchReturn>('bench', instance_id, data, collected, options.signal);
      const payload = JSON.parse(answer.text) as BenchPayload;
      writeFileSync(trajectory, payload.trajectory);
      // Who ran it, with which version, and how often its worker was lost before (cost_usd counts only this run).
      return {
        result: { ...answer.result, queue: answer.run } as BenchReturn['result'],
        patch: payload.patch,
        files: answer.files,
      };
    } catch (err) {
      if (options.signal?.aborted) throw err;
      const message = failureMessage(err);
      rmSync(trajectory, { force: true });
      new EventLog(instance_id, trajectory, []).emit('error', { status: 'failed', message });
      return {
        result: {
          instance_id,
          repo,
          status: 'error',
          stopped_by: null,
          message,
          attempts: 0,
          candidates_drawn: [],
          tries: 1,
          tokens: { input: 0, output: 0 },
          cost_usd: 0,
          wall_ms: Date.now() - started,
          gold_rank: null,
          gold_in_set: false,
          set_size: 0,
        },
        patch: '',
        files: [],
      };
    }
  };
  return { solve: options.solve, run };
}

/**
 * Evaluation on the queue's workers, as `runEvaluation`'s `evaluate`: each job carries the row, the
 * prediction, the submitter's environment entry and settings; the worker's log comes back with it.
 */
export function remoteEvaluator(
  client: InstanceQueueClient,
  options: {
    out: string;
    table: ReturnType<typeof loadEnvironmentTable>;
    settings: EvalSettings;
    signal?: AbortSignal;
  },
): (row: EvalRow, prediction: Prediction) => Promise<InstanceResult> {
  const runId = queueRunId(options.out);
  return async (row, prediction) => {
    const data: EvalJob = {
      run_id: runId,
      fixwright: fixwrightVersion(),
      row: JSON.parse(JSON.stringify(row)) as Record<string, unknown>,
      prediction: {
        instance_id: prediction.instance_id,
        model_name_or_path: prediction.model_name_or_path,
        model_patch: prediction.model_patch,
      },
      table: tableFor(options.table, row.repo, row.version) as EvalJob['table'],
      settings: { timeoutSeconds: options.settings.timeoutSeconds, grading: options.settings.grading.name },
    };
    const collected = collectedToken(join(options.out, 'instances', instanceFileName(row.instance_id), 'result.json'));
    const started = Date.now();
    try {
      const answer = await client.run<EvalReturn>('eval', row.instance_id, data, collected, options.signal);
      return { ...answer.result, queue: answer.run, log: answer.text } as InstanceResult;
    } catch (err) {
      if (options.signal?.aborted) throw err;
      // Like a sandbox failure in a local run: no verdict, and a rerun tries it again.
      return {
        instance_id: row.instance_id,
        repo: row.repo,
        version: row.version ?? null,
        status: 'env_error',
        reason: failureMessage(err),
        environment: `${row.repo}@${row.version ?? '?'}`,
        tests: {},
        fail_to_pass: null,
        pass_to_pass: null,
        log: '',
        duration_ms: Date.now() - started,
      };
    }
  };
}
