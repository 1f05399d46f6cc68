import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnrecoverableError, type Job } from 'bullmq';
import { Counter, Histogram } from 'prom-client';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Settings, Logger } from '../../core/index.js';
import { metricsRegistry } from '../../core/metrics.js';
import { environmentFor, loadEnvironmentTable } from '../eval/environments.js';
import { evaluateInstance, type EvalContext } from '../eval/evaluate-instance.js';
import { gradingRule } from '../eval/grading.js';
import { evalRowSchema, type EvalRow } from '../eval/instances.js';
import { cacheRepositories } from '../repository-cache.js';
import { variantLocalisation, type VariantLocalisation } from '../run/ablation.js';
import { runWithRetries } from '../run/solve-instances.js';
import {
  benchJobSchema,
  evalJobSchema,
  FINISHED_JOB_AGE_SECONDS,
  fixwrightVersion,
  jobVariant,
  packText,
  payloadKey,
  TRAVELLING_LOG_BYTES,
  type BenchJob,
  type BenchPayload,
  type BenchReturn,
  type EvalReturn,
  type JobRun,
} from './jobs.js';
import type { InstanceWorkerOptions, InstanceWorkerParts } from './work.js';

/**
 * A fault of this worker's machine (a repository or commit it lacks, Docker down), not of the job:
 * the job goes back on the queue for another worker (LOCAL_FAULT_ATTEMPTS tries in all, jobs.ts) instead of ending as an error.
 */
export class LocalFault extends Error {}

/** Instance jobs finished, by kind and result. */
export const jobsDone = new Counter({
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

/** What every instance job of one worker shares: its settings and parts, its Redis connection, its scratch folder and caches. */
export interface InstanceJobContext {
  settings: Settings;
  options: InstanceWorkerOptions;
  parts: InstanceWorkerParts;
  logger: Logger;
  /** `host:pid`, named in every fault a job reports. */
  workerName: string;
  reposDir: string;
  prefix: string;
  connection: Redis;
  /** Where job files (trajectories, travelling tables) are written, then removed. */
  scratch: string;
  secrets: string[];
  /** Per variant, its localiser and calibration, built once. */
  localisations: Map<string, VariantLocalisation>;
  /** Per repository, the last clone or fetch: this process's jobs of one repository take turns at it. */
  fetches: Map<string, Promise<unknown>>;
}

/** Two URLs name one endpoint (a trailing slash aside). */
function sameURL(a: string, b: string): boolean {
  const norm = (u: string) => {
    try {
      return new URL(u).href.replace(/\/+$/, '');
    } catch {
      return u;
    }
  };
  return norm(a) === norm(b);
}

/**
 * The job's repository on this machine: `--repos` as given, or cloned into the data directory (and
 * fetched when it lacks the job's commit). A failure is logged; the run then ends as a missing repository does.
 */
async function repositoryFor(ctx: InstanceJobContext, row: { repo: string; base_commit: string }): Promise<void> {
  const { options, reposDir, fetches, logger, workerName } = ctx;
  if (!options.reposDir) {
    const turn = (fetches.get(row.repo) ?? Promise.resolve())
      .then(() =>
        cacheRepositories([row], reposDir, (repo) => logger.info({ repo, into: reposDir }, 'cloning a repository')),
      )
      .then((failures) => {
        for (const [repo, why] of failures) logger.warn({ repo, why }, 'repository not available');
      });
    fetches.set(
      row.repo,
      turn.catch(() => undefined),
    );
    await turn;
  }
  // Another worker may hold it: this machine's lack is not the instance's error.
  const dir = join(reposDir, row.repo);
  if (!existsSync(dir)) throw new LocalFault(`repository ${row.repo} is not on worker ${workerName} (${dir})`);
  const has = spawnSync('git', ['-C', dir, 'cat-file', '-e', `${row.base_commit}^{commit}`], {
    stdio: 'ignore',
    timeout: 60_000,
  });
  if (has.status !== 0)
    throw new LocalFault(`commit ${row.base_commit} of ${row.repo} is not on worker ${workerName} (${dir})`);
}

/** Docker answers (a worker whose Docker is down leaves its jobs to others). */
async function dockerUp(ctx: InstanceJobContext): Promise<void> {
  const { parts, workerName } = ctx;
  try {
    await parts.runtime.docker.ping();
  } catch (err) {
    throw new LocalFault(`Docker does not answer on worker ${workerName}: ${(err as Error).message}`);
  }
}

/**
 * The model endpoint of a bench job: the worker's own, or one the job names that this worker's
 * FIXWRIGHT_WORKER_BASE_URLS allow. Anyone who can write to the queue's Redis can add a job: the
 * worker's key must never go to an endpoint of their choosing.
 */
function endpointFor(ctx: InstanceJobContext, asked: string | undefined): string | undefined {
  const { settings, workerName } = ctx;
  const own = settings.models.baseURL;
  if (asked === undefined || asked === own) return own;
  const allowed = settings.service.workerBaseURLs ?? [];
  if (allowed.some((u) => sameURL(u, asked))) return asked;
  throw new UnrecoverableError(
    `the job asks for the model endpoint ${asked}, which worker ${workerName} does not send its key to: ` +
      `only its OPENAI_BASE_URL (${own ?? 'the provider default'}) or one in its FIXWRIGHT_WORKER_BASE_URLS`,
  );
}

/** A travelling environment table, checked as a local run checks its table file (schema, image recipes, helpers). */
function checkedTable(ctx: InstanceJobContext, raw: unknown, source: unknown) {
  const { scratch } = ctx;
  const file = join(scratch, `table-${randomUUID()}.json`);
  try {
    writeFileSync(file, JSON.stringify(raw));
    const table = loadEnvironmentTable(file);
    const named = z.object({ path: z.string(), sha256: z.string() }).safeParse(source);
    return named.success ? { ...table, source: named.data } : table;
  } catch (err) {
    throw new UnrecoverableError(
      `the job's environment table is invalid: ${(err as Error).message.replace(/environment table \S+ is invalid: /, '')}`,
    );
  } finally {
    rmSync(file, { force: true });
  }
}

/** Stores a finished job's big text under its own key (with a TTL); the job's return value names it. */
async function storePayload(ctx: InstanceJobContext, packed: string, token: string): Promise<string> {
  const { prefix, connection } = ctx;
  const key = payloadKey(prefix, token);
  await connection.set(key, packed, 'EX', FINISHED_JOB_AGE_SECONDS);
  return key;
}

/** Who ran the job, and the token its payload is stored under. */
function runOf(ctx: InstanceJobContext, job: Job): JobRun {
  return {
    job_id: String(job.id),
    token: randomUUID(),
    worker: ctx.workerName,
    worker_version: fixwrightVersion(),
    lost_runs: job.stalledCounter,
  };
}

/** A job as it is checked before anything runs: its shape, its version, and (bench) its endpoint and environment. */
function parsedJob<T extends { fixwright: string }>(ctx: InstanceJobContext, schema: z.ZodType<T>, job: Job): T {
  const { workerName } = ctx;
  const parsed = schema.safeParse(job.data);
  if (!parsed.success)
    throw new UnrecoverableError(
      `the job is invalid: ${parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; ')}`,
    );
  if (parsed.data.fixwright !== fixwrightVersion()) {
    throw new UnrecoverableError(
      `the job was made by fixwright ${parsed.data.fixwright}; worker ${workerName} runs ${fixwrightVersion()} ` +
        `(results depend on the version): run workers of the submitter's version`,
    );
  }
  return parsed.data;
}

/** A bench job: the agent on the instance, as a local run solves it; the trajectory and patch travel back as a stored payload. */
async function runBenchJob(ctx: InstanceJobContext, job: Job): Promise<BenchReturn> {
  const { settings, parts, reposDir, secrets, localisations } = ctx;
  const data: BenchJob = parsedJob(ctx, benchJobSchema, job);
  const baseURL = endpointFor(ctx, data.solve.baseURL);
  const row: EvalRow = { ...data.row, patch: '', test_patch: '', FAIL_TO_PASS: [], PASS_TO_PASS: [] };
  const table = data.table ? checkedTable(ctx, data.table, data.table.source) : undefined;
  const found = table ? environmentFor(table, row.repo, row.version) : undefined;
  const environment = found?.supported ? { table: found } : undefined;
  await repositoryFor(ctx, row);
  await dockerUp(ctx);
  const variant = jobVariant(data);
  const key = JSON.stringify(variant ?? null);
  let localisation = localisations.get(key);
  if (!localisation) localisations.set(key, (localisation = variantLocalisation(settings, variant)));
  const trajectory = join(ctx.scratch, `${job.id}-${randomUUID()}.jsonl`);
  try {
    const run = await runWithRetries(
      row,
      {
        solve: { ...data.solve, baseURL },
        parts: {
          settings,
          runtime: parts.runtime,
          localiser: localisation.localiser,
          calibration: localisation.calibration,
          modelGate: parts.modelGate,
        },
        reposDir,
        secrets,
        environmentFor: () => environment,
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
    const done = runOf(ctx, job);
    return {
      result: run.result,
      files: run.files,
      run: done,
      payload: await storePayload(
        ctx,
        packText(JSON.stringify({ trajectory: text, patch: run.patch } satisfies BenchPayload)),
        done.token,
      ),
    };
  } finally {
    rmSync(trajectory, { force: true });
  }
}

/** An eval job: the official verdict on the prediction, as a local eval gives it; the log's tail travels back as a stored payload. */
async function runEvalJob(ctx: InstanceJobContext, job: Job): Promise<EvalReturn> {
  const { settings, parts, reposDir } = ctx;
  const data = parsedJob(ctx, evalJobSchema, job);
  const table = checkedTable(ctx, data.table, data.table.source);
  const parsedRow = evalRowSchema.safeParse(data.row);
  if (!parsedRow.success)
    throw new UnrecoverableError(
      `the job's row is invalid: ${parsedRow.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; ')}`,
    );
  const row = parsedRow.data;
  await repositoryFor(ctx, row);
  await dockerUp(ctx);
  const evalContext: EvalContext = {
    timeoutSeconds: data.settings.timeoutSeconds,
    grading: gradingRule(data.settings.grading),
    runtime: parts.runtime,
    docker: parts.runtime.docker,
    table,
    reposDir,
    pip: settings.pip,
  };
  const { log, ...result } = await evaluateInstance(row, data.prediction, evalContext);
  // The verdict was read from the whole log here: its tail travels.
  const travelling =
    log.length > TRAVELLING_LOG_BYTES
      ? `[fixwright: the log's first ${log.length - TRAVELLING_LOG_BYTES} characters were cut on the worker]\n${log.slice(-TRAVELLING_LOG_BYTES)}`
      : log;
  const done = runOf(ctx, job);
  return { result, run: done, payload: await storePayload(ctx, packText(travelling), done.token) };
}

/**
 * Runs one instance job, logged and counted. A fault of this machine goes back on the queue for
 * another worker; any other failure is the job's own and is not retried.
 */
export async function runInstanceJob(ctx: InstanceJobContext, job: Job): Promise<BenchReturn | EvalReturn> {
  const { logger, workerName } = ctx;
  if (job.name !== 'bench' && job.name !== 'eval')
    throw new UnrecoverableError(`unknown instance job kind ${JSON.stringify(job.name)}`);
  const kind = job.name;
  const instance = (job.data as { row?: { instance_id?: unknown } }).row?.instance_id;
  const started = Date.now();
  logger.info({ kind, instance_id: instance, job_id: job.id, retry: job.stalledCounter > 0 }, 'instance job started');
  let answer;
  try {
    answer = kind === 'eval' ? await runEvalJob(ctx, job) : await runBenchJob(ctx, job);
  } catch (err) {
    if (err instanceof LocalFault) {
      logger.warn(
        { kind, instance_id: instance, job_id: job.id, why: err.message },
        'this worker cannot run the job; it goes back for another worker',
      );
      throw err;
    }
    // A fault of the job itself: running it again elsewhere would fail the same way.
    throw err instanceof UnrecoverableError
      ? err
      : new UnrecoverableError(`${(err as Error).message} (on worker ${workerName})`);
  }
  jobsDone.inc({ kind, result: answer.result.status });
  jobSeconds.observe({ kind }, (Date.now() - started) / 1000);
  logger.info(
    { kind, instance_id: instance, job_id: job.id, status: answer.result.status, ms: Date.now() - started },
    'instance job done',
  );
  return answer;
}
