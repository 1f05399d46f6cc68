import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { EventLog } from '../../agent/index.js';
import { FixwrightError } from '../../core/errors.js';
import { instanceFileName } from '../../core/instance-name.js';
import type { EnvironmentRequest } from '../../sandbox/index.js';
import type { loadEnvironmentTable } from '../eval/environments.js';
import type { InstanceResult } from '../eval/evaluate-instance.js';
import type { EvalRow, Prediction } from '../eval/instances.js';
import type { Variant } from '../run/ablation.js';
import type { BenchContext, InstanceRun, RemoteBench } from '../run/run-bench.js';
import { FINISHED_JOB_AGE_SECONDS, INSTANCE_QUEUE, jobId, jobSolve, queueRunId, tableFor, unpackText, type BenchJob, type BenchReturn, type EvalJob, type EvalReturn, type EvalSettings } from './jobs.js';

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

/**
 * The submitting side of the instance queue: puts one job per instance on it, waits for a worker's
 * result, and takes a job off once its result is written into the run directory (a job finished
 * while no submitter was there stays a week, for the rerun that collects it).
 */
export class InstanceQueueClient {
  private readonly connection: Redis;
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  /** Jobs this client put on the queue, by instance id (to collect or cancel them). */
  private readonly jobs = new Map<string, string>();
  /** Collected jobs still being taken off the queue (closing waits for them). */
  private readonly removals = new Set<Promise<unknown>>();

  /**
   * Connects to the queue's Redis, first checking once that it answers (a wrong --queue URL fails
   * here with one clear error, not as retries in every instance). Connection trouble later is told
   * to `onError` once per 30 s while ioredis retries.
   */
  static async connect(url: string, onError: (err: Error) => void = () => undefined, prefix = 'fixwright', timeoutMs = 5000): Promise<InstanceQueueClient> {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
    let cause: Error | undefined;
    probe.on('error', (err: Error) => void (cause ??= err)); // reported below
    try {
      await probe.connect();
      await probe.ping();
    } catch (err) {
      throw new FixwrightError('FW_ERR_CONFIG', `the queue's Redis at ${url} does not answer: ${(cause ?? (err as Error)).message}`, { field: '--queue' });
    } finally {
      probe.disconnect();
    }
    let last = 0;
    const client = new InstanceQueueClient(url, prefix, (err) => {
      if (Date.now() - last < 30_000) return;
      last = Date.now();
      onError(err);
    });
    await client.events.waitUntilReady();
    return client;
  }

  private constructor(
    readonly url: string,
    prefix: string,
    onError: (err: Error) => void,
  ) {
    this.connection = new Redis(url, { maxRetriesPerRequest: null });
    this.connection.on('error', onError);
    this.queue = new Queue(INSTANCE_QUEUE, { connection: this.connection, prefix });
    this.queue.on('error', onError);
    // Every instance waiting on its job listens for the queue closing: as many listeners as instances, by design.
    this.queue.setMaxListeners(0);
    const events = new Redis(url, { maxRetriesPerRequest: null });
    events.on('error', onError);
    this.events = new QueueEvents(INSTANCE_QUEUE, { connection: events, prefix });
    this.events.on('error', onError);
  }

  /** `fixwright worker` processes taking instance jobs right now. */
  async workers(): Promise<number> {
    return (await this.queue.getWorkers()).length;
  }

  /**
   * Runs one job through the queue and returns the worker's answer. `collectedAt`: when the run
   * directory's result of this instance was written (it runs again): a job of the same id finished
   * before then is that old answer, not a new one.
   */
  async run<R>(kind: 'bench' | 'eval', instanceId: string, data: BenchJob | EvalJob, collectedAt: number | undefined, signal?: AbortSignal): Promise<R> {
    const id = jobId(kind, data);
    this.jobs.set(instanceId, id);
    let job: Job | undefined = await this.queue.getJob(id);
    if (job) {
      const state = await job.getState();
      // A failed job (its worker lost too often, or its run threw) is run again, as a local rerun would.
      if (state === 'failed' || (state === 'completed' && collectedAt !== undefined && (job.finishedOn ?? 0) <= collectedAt)) {
        await job.remove().catch(() => undefined);
        job = undefined;
      }
    }
    job ??= await this.queue.add(kind, data, { jobId: id, attempts: 1, removeOnComplete: { age: FINISHED_JOB_AGE_SECONDS }, removeOnFail: { age: FINISHED_JOB_AGE_SECONDS } });
    return (await unlessAborted(job.waitUntilFinished(this.events), signal)) as R;
  }

  /** Takes an instance's finished job off the queue once its result is in the run directory. */
  async collected(instanceId: string): Promise<void> {
    const id = this.jobs.get(instanceId);
    if (!id) return;
    this.jobs.delete(instanceId);
    const removal = this.queue.remove(id).catch(() => undefined);
    this.removals.add(removal);
    await removal;
    this.removals.delete(removal);
  }

  /** Takes this client's jobs that no worker has started off the queue (Ctrl-C); started ones finish, for a rerun to collect. */
  async cancelWaiting(): Promise<number> {
    let removed = 0;
    for (const id of this.jobs.values()) {
      const job = await this.queue.getJob(id);
      if (job && ['waiting', 'delayed', 'prioritized'].includes(await job.getState())) {
        if (await job.remove().then(() => true, () => false)) removed += 1;
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.removals]);
    await Promise.allSettled([this.events.close(), this.queue.close()]);
    await this.connection.quit().catch(() => undefined);
  }
}

/** When a result file was written (undefined: there is none). */
function writtenAt(file: string): number | undefined {
  return existsSync(file) ? statSync(file).mtimeMs : undefined;
}

/** Why a job failed, for the instance's recorded result. */
function failureMessage(err: unknown): string {
  const message = (err as Error).message ?? String(err);
  return /stalled/i.test(message) ? `its worker was lost too often (killed or stopped mid-instance): ${message}` : `the worker failed: ${message}`;
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
    environmentFor?: (row: EvalRow) => EnvironmentRequest | undefined;
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
      row: { instance_id, repo, base_commit, problem_statement, ...(version !== undefined ? { version } : {}) },
      solve: jobSolve(options.solve),
      environment: (options.environmentFor?.(row) as BenchJob['environment'] | undefined) ?? null,
      variant: options.variant ? (JSON.parse(JSON.stringify(options.variant)) as BenchJob['variant']) : null,
      error_retries: options.errorRetries,
      retry_backoff_ms: options.retryBackoffMs ?? 2000,
    };
    const collected = writtenAt(join(options.out, 'results', `${instanceFileName(instance_id)}.json`));
    const started = Date.now();
    try {
      const answer = await client.run<BenchReturn>('bench', instance_id, data, collected, options.signal);
      writeFileSync(trajectory, unpackText(answer.trajectory_gz));
      return { result: answer.result, patch: answer.patch, files: answer.files };
    } catch (err) {
      if (options.signal?.aborted) throw err;
      const message = failureMessage(err);
      rmSync(trajectory, { force: true });
      new EventLog(instance_id, trajectory, []).emit('error', { status: 'failed', message });
      return {
        result: { instance_id, repo, status: 'error', stopped_by: null, message, attempts: 0, candidates_drawn: [], tries: 1, tokens: { input: 0, output: 0 }, cost_usd: 0, wall_ms: Date.now() - started, gold_rank: null, gold_in_set: false, set_size: 0 },
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
  options: { out: string; table: ReturnType<typeof loadEnvironmentTable>; settings: EvalSettings; signal?: AbortSignal },
): (row: EvalRow, prediction: Prediction) => Promise<InstanceResult> {
  const runId = queueRunId(options.out);
  return async (row, prediction) => {
    const data: EvalJob = {
      run_id: runId,
      row: JSON.parse(JSON.stringify(row)) as Record<string, unknown>,
      prediction: { instance_id: prediction.instance_id, model_name_or_path: prediction.model_name_or_path, model_patch: prediction.model_patch },
      table: tableFor(options.table, row.repo, row.version) as EvalJob['table'],
      settings: JSON.parse(JSON.stringify(options.settings)) as EvalJob['settings'],
    };
    const collected = writtenAt(join(options.out, 'instances', instanceFileName(row.instance_id), 'result.json'));
    const started = Date.now();
    try {
      const answer = await client.run<EvalReturn>('eval', row.instance_id, data, collected, options.signal);
      return { ...answer.result, log: unpackText(answer.log_gz) } as InstanceResult;
    } catch (err) {
      if (options.signal?.aborted) throw err;
      // Like a sandbox failure in a local run: no verdict, and a rerun tries it again.
      return { instance_id: row.instance_id, repo: row.repo, version: row.version ?? null, status: 'env_error', reason: failureMessage(err), environment: `${row.repo}@${row.version ?? '?'}`, tests: {}, fail_to_pass: null, pass_to_pass: null, log: '', duration_ms: Date.now() - started };
    }
  };
}
