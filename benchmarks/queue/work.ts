import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, type Job } from 'bullmq';
import { Counter, Histogram } from 'prom-client';
import { Redis } from 'ioredis';
import type { SolveContext } from '../../agent/index.js';
import type { Settings } from '../../core/config.js';
import type { Logger } from '../../core/logger.js';
import { metricsRegistry } from '../../core/metrics.js';
import type { SandboxRuntime } from '../../sandbox/index.js';
import { evaluateInstance, type EvalContext } from '../eval/evaluate-instance.js';
import { evalRowSchema, type EvalRow } from '../eval/instances.js';
import { cacheRepositories } from '../repositories.js';
import { variantLocalisation, type VariantLocalisation } from '../run/ablation.js';
import { runWithRetries } from '../run/run-bench.js';
import { benchJobSchema, evalJobSchema, INSTANCE_QUEUE, jobEnvironment, jobVariant, packText, type BenchReturn, type EvalReturn } from './jobs.js';

const jobsDone = new Counter({
  name: 'fixwright_instance_jobs_total',
  help: 'Bench and eval instance jobs this worker finished, by kind and result (the instance status, or crashed when the job failed)',
  labelNames: ['kind', 'result'] as const,
  registers: [metricsRegistry],
});
const jobSeconds = new Histogram({
  name: 'fixwright_instance_job_seconds',
  help: 'Wall time of a bench or eval instance job on this worker',
  labelNames: ['kind'] as const,
  buckets: [10, 30, 60, 120, 300, 600, 1200, 1800, 3600],
  registers: [metricsRegistry],
});

/** How a worker takes instance jobs (the same lock settings as its tasks). */
export interface InstanceWorkerOptions {
  concurrency: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  prefix?: string;
  /** `DIR/<owner>/<name>` repositories on this machine; none: cloned into FIXWRIGHT_DATA_DIR/repos as jobs need them. */
  reposDir?: string;
}

/** What the worker process lends its instance jobs: its sandbox runtime and its model gate. */
export interface InstanceWorkerParts {
  runtime: SandboxRuntime;
  modelGate: SolveContext['modelGate'];
}

/** A job lost this many times more (its worker killed or stopped mid-instance) fails; each loss before runs it again elsewhere. */
export const MAX_STALLED = 2;

/**
 * Takes bench and eval jobs from the instance queue and runs them with the code a local run uses
 * (`runWithRetries`, `evaluateInstance`), sending back the result with its trajectory or test log.
 * A job whose worker is lost goes back on the queue for another worker (BullMQ's stalled check).
 */
export function startInstanceWorker(url: string, settings: Settings, options: InstanceWorkerOptions, parts: InstanceWorkerParts, logger: Logger, onError: (err: Error) => void): { close(force: boolean): Promise<void> } {
  const reposDir = options.reposDir ?? join(settings.dataDir, 'repos');
  const scratch = join(settings.dataDir, 'queue-jobs');
  mkdirSync(scratch, { recursive: true });
  const secrets = [settings.models.apiKey, settings.github.token].filter((s): s is string => Boolean(s));
  const localisations = new Map<string, VariantLocalisation>();
  /** Per repository, the last clone or fetch: this process's jobs of one repository take turns at it. */
  const fetches = new Map<string, Promise<unknown>>();

  /**
   * The job's repository on this machine: `--repos` as given, or cloned into the data directory (and
   * fetched when it lacks the job's commit). A failure is logged; the run then ends as a missing repository does.
   */
  const repository = async (row: { repo: string; base_commit: string }) => {
    if (options.reposDir) return;
    const turn = (fetches.get(row.repo) ?? Promise.resolve())
      .then(() => cacheRepositories([row], reposDir, (repo) => logger.info({ repo, into: reposDir }, 'cloning a repository')))
      .then((failures) => {
        for (const [repo, why] of failures) logger.warn({ repo, why }, 'repository not available');
      });
    fetches.set(row.repo, turn.catch(() => undefined));
    await turn;
  };

  const runBenchJob = async (job: Job): Promise<BenchReturn> => {
    const data = benchJobSchema.parse(job.data);
    const row: EvalRow = { ...data.row, patch: '', test_patch: '', FAIL_TO_PASS: [], PASS_TO_PASS: [] };
    await repository(row);
    const variant = jobVariant(data);
    const key = JSON.stringify(variant ?? null);
    let localisation = localisations.get(key);
    if (!localisation) localisations.set(key, (localisation = variantLocalisation(settings, variant)));
    const trajectory = join(scratch, `${job.id}-${randomUUID()}.jsonl`);
    try {
      const run = await runWithRetries(
        row,
        {
          solve: { ...data.solve, baseURL: data.solve.baseURL ?? settings.models.baseURL },
          parts: { settings, runtime: parts.runtime, localiser: localisation.localiser, calibration: localisation.calibration, modelGate: parts.modelGate },
          reposDir,
          secrets,
          environmentFor: () => jobEnvironment(data),
        },
        trajectory,
        data.error_retries,
        data.retry_backoff_ms,
      );
      let text = '';
      try {
        text = readFileSync(trajectory, 'utf8');
      } catch {
        // a run that crashed before its first event leaves none
      }
      return { result: run.result, patch: run.patch, files: run.files, trajectory_gz: packText(text) };
    } finally {
      rmSync(trajectory, { force: true });
    }
  };

  const runEvalJob = async (job: Job): Promise<EvalReturn> => {
    const data = evalJobSchema.parse(job.data);
    const row = evalRowSchema.parse(data.row);
    await repository(row);
    const ctx = { ...(data.settings as object), runtime: parts.runtime, docker: parts.runtime.docker, table: data.table, reposDir, pip: settings.pip } as EvalContext;
    const { log, ...result } = await evaluateInstance(row, data.prediction, ctx);
    return { result, log_gz: packText(log) };
  };

  const connection = new Redis(url, { maxRetriesPerRequest: null });
  connection.on('error', onError);
  const worker = new Worker(
    INSTANCE_QUEUE,
    async (job: Job) => {
      const kind = job.name === 'eval' ? 'eval' : 'bench';
      const instance = (job.data as { row?: { instance_id?: unknown } }).row?.instance_id;
      const started = Date.now();
      logger.info({ kind, instance_id: instance, job_id: job.id, retry: job.stalledCounter > 0 }, 'instance job started');
      const answer = kind === 'eval' ? await runEvalJob(job) : await runBenchJob(job);
      jobsDone.inc({ kind, result: answer.result.status });
      jobSeconds.observe({ kind }, (Date.now() - started) / 1000);
      logger.info({ kind, instance_id: instance, job_id: job.id, status: answer.result.status, ms: Date.now() - started }, 'instance job done');
      return answer;
    },
    { connection, prefix: options.prefix ?? 'fixwright', concurrency: options.concurrency, lockDuration: options.lockDurationMs, stalledInterval: options.stalledIntervalMs, maxStalledCount: MAX_STALLED },
  );
  worker.on('error', onError);
  worker.on('failed', (job, err) => {
    if (!job) return;
    jobsDone.inc({ kind: job.name === 'eval' ? 'eval' : 'bench', result: 'crashed' });
    logger.error({ job_id: job.id, err: err.message }, 'instance job failed');
  });
  worker.on('stalled', (jobId) => logger.warn({ job_id: jobId }, 'an instance job lost its worker; it runs again'));
  logger.info({ concurrency: options.concurrency, queue: INSTANCE_QUEUE, repos: reposDir }, 'taking bench and eval instance jobs');

  return {
    async close(force: boolean) {
      // Forced: running jobs are left to another worker (their locks expire and the stalled check runs them again).
      await worker.close(force).catch(() => undefined);
      await connection.quit().catch(() => undefined);
    },
  };
}
