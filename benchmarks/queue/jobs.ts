import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import type { EvalContext, InstanceResult } from '../eval/evaluate-instance.js';
import type { BenchContext, BenchInstance, LocalisedPath } from '../run/solve-instances.js';
import type { Variant } from '../run/ablation.js';
import type { loadEnvironmentTable } from '../eval/environments.js';
import { GRADING_RULES } from '../eval/grading.js';
import { commitSchema, repoNameSchema } from '../dataset.js';
import { assetPath } from '../../core/index.js';

/**
 * The BullMQ queue `fixwright solve-dataset --queue` and `fixwright eval --queue` put one job per instance
 * on; every `fixwright worker` takes them (beside the service's tasks, on their own queue).
 */
export const INSTANCE_QUEUE = 'fixwright-instances';

/**
 * How long a finished job's trajectory or test log (its payload key) stays in Redis when no submitter
 * collects it: a week (a TTL on the key). The job itself (its small result and the payload's name)
 * is removed by BullMQ's age rule only when a later job of the queue finishes, or by the rerun that collects it.
 */
export const FINISHED_JOB_AGE_SECONDS = 7 * 24 * 3600;

/** Entries BullMQ keeps in the queue's event stream (its default, 10,000, kept every result's copy for days). */
export const EVENTS_MAX_LEN = 200;

/** Bytes of an eval test log that travel back (its tail; the verdict was read from the whole log on the worker). */
export const TRAVELLING_LOG_BYTES = 8 << 20;

/** Tries of a job whose workers had a local fault (a repository or commit missing there, Docker down): each goes back for another worker. */
export const LOCAL_FAULT_ATTEMPTS = 3;
/** Wait before a job a worker could not run is offered again (doubling each time). */
export const LOCAL_FAULT_BACKOFF_MS = 5000;

/** The Redis key of a finished job's payload (trajectory or test log), named by the run of the job that wrote it. */
export const payloadKey = (prefix: string, token: string) => `${prefix}:instance-payload:${token}`;

let version: string | undefined;
/** This fixwright's version: a job carries its submitter's, and a worker of another version refuses it. */
export function fixwrightVersion(): string {
  version ??= (JSON.parse(readFileSync(assetPath('package.json'), 'utf8')) as { version: string }).version;
  return version;
}

/** An environment table as it travels (cut to one entry): its shape here; the worker checks it whole as a local run's table is checked. */
const travellingTableSchema = z
  .object({ default: z.record(z.string(), z.unknown()), repos: z.record(z.string(), z.unknown()) })
  .passthrough();

/** The row fields the agent may see: never `patch`, `test_patch`, FAIL_TO_PASS or PASS_TO_PASS. */
const agentRowSchema = z.object({
  instance_id: z.string().min(1),
  repo: repoNameSchema,
  base_commit: commitSchema,
  problem_statement: z.string(),
  version: z.string().optional(),
});

/** One instance for the agent, as a worker runs it with `runWithRetries` (no secrets: a worker uses its own key). */
export const benchJobSchema = z.object({
  /** The submitting run's own id (OUT/queue-run.json): a fresh run directory never collects an older run's jobs. */
  run_id: z.string().min(1),
  /** The submitter's fixwright version: a worker of another version fails the job (results would depend on it). */
  fixwright: z.string().min(1),
  row: agentRowSchema,
  solve: z.object({
    model: z.string().min(1),
    /**
     * Only a `--base-url` given to the submitter; otherwise the worker's own OPENAI_BASE_URL. A worker
     * sends its key only to its own OPENAI_BASE_URL or one of its FIXWRIGHT_WORKER_BASE_URLS.
     */
    baseURL: z.string().optional(),
    provider: z.enum(['openai', 'deepseek', 'compatible']).optional(),
    maxAttempts: z.number().int().min(1).max(10),
    samples: z.number().int().min(1).optional(),
    testTimeoutSeconds: z.number().positive(),
    maxCostUsd: z.number().nonnegative().optional(),
    temperatures: z.array(z.number()),
  }),
  /** The submitter's environment table cut to the row's entry (the worker checks it and resolves the row's environment), or none. */
  table: travellingTableSchema.nullable(),
  /** The ablation variant's localisation (none: the shipped system). */
  variant: z.record(z.string(), z.unknown()).nullable(),
  error_retries: z.number().int().min(0).max(10),
  retry_backoff_ms: z.number().int().min(0),
});
export type BenchJob = z.output<typeof benchJobSchema>;

/** One prediction to evaluate, with the row's test fields and the submitter's environment entry. */
export const evalJobSchema = z.object({
  run_id: z.string().min(1),
  fixwright: z.string().min(1),
  /** The whole row (the worker checks out base_commit and applies test_patch; the agent never runs here). */
  row: z.record(z.string(), z.unknown()),
  prediction: z.object({ instance_id: z.string().min(1), model_name_or_path: z.string(), model_patch: z.string() }),
  /** The submitter's environment table cut to this row's entry: the worker grades as the submitter would. */
  table: travellingTableSchema,
  /** The evaluation's settings: the test timeout and the grading rule's name (the worker's own rule of that name grades). */
  settings: z
    .object({
      timeoutSeconds: z
        .number()
        .positive()
        .max(24 * 3600),
      grading: z.enum(GRADING_RULES),
    })
    .strict(),
});
export type EvalJob = z.output<typeof evalJobSchema>;

/** The plain part of an evaluation's context: what travels in a job. */
export type EvalSettings = Omit<EvalContext, 'runtime' | 'docker' | 'table' | 'reposDir' | 'pip' | 'signal'>;

/** Who ran a job, recorded in the instance's result (`queue`). */
export interface JobRun {
  /** The collected job's id and its run's token (a rerun compares the token: a job of the same id finished earlier is that old answer). */
  job_id: string;
  token: string;
  /** `hostname:pid` of the worker, and its fixwright version. */
  worker: string;
  worker_version: string;
  /** Times the job's worker was lost mid-instance before this run (their spend is not in cost_usd: only the surviving run's is). */
  lost_runs: number;
}

/**
 * What a worker sends back for a bench job: the result and the name of the key holding the gzipped
 * trajectory and patch (BullMQ copies a return value into its event stream: the big texts stay out of it).
 */
export interface BenchReturn {
  result: BenchInstance;
  files: LocalisedPath[];
  run: JobRun;
  payload: string;
}

/** A bench job's payload (packed as JSON): its trajectory and the model's patch. */
export interface BenchPayload {
  trajectory: string;
  patch: string;
}

/** What a worker sends back for an eval job; the gzipped test log is under `payload`. */
export interface EvalReturn {
  result: Omit<InstanceResult, 'log'>;
  run: JobRun;
  payload: string;
}

export const packText = (text: string) => gzipSync(Buffer.from(text, 'utf8')).toString('base64');
export const unpackText = (packed: string) => gunzipSync(Buffer.from(packed, 'base64')).toString('utf8');

/**
 * A job's id: its kind and a hash of everything that defines it (the run's id, the instance, the
 * inputs). Re-submitting after a submitter crash finds the same job; a changed input is a new job.
 */
export function jobId(kind: 'bench' | 'eval', data: BenchJob | EvalJob): string {
  return `${kind}-${createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 40)}`;
}

/**
 * The run directory's queue id, made on its first queued run and kept there: a rerun into the same
 * directory finds the jobs its predecessor left on the queue; a new directory starts afresh.
 */
export function queueRunId(out: string): string {
  const file = join(out, 'queue-run.json');
  if (existsSync(file)) {
    const kept = z.object({ run_id: z.string().min(1) }).safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (kept.success) return kept.data.run_id;
  }
  const runId = randomUUID();
  mkdirSync(out, { recursive: true });
  const tmp = `${file}.${randomUUID()}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ run_id: runId, created: new Date().toISOString() })}\n`);
  renameSync(tmp, file);
  return runId;
}

/** The environment table cut to one row's entry (and the default): `environmentFor` resolves it as the whole table does. */
export function tableFor(
  table: ReturnType<typeof loadEnvironmentTable>,
  repo: string,
  version: string | undefined,
): ReturnType<typeof loadEnvironmentTable> {
  const known = table.repos[repo];
  if (!known) return { ...table, repos: {} };
  const entry = version !== undefined ? known.versions[version] : undefined;
  return {
    ...table,
    repos: { [repo]: { ...known, versions: entry && version !== undefined ? { [version]: entry } : {} } },
  };
}

/** The job's ablation variant (null: the shipped system). */
export function jobVariant(job: BenchJob): Variant | undefined {
  return job.variant ? (job.variant as unknown as Variant) : undefined;
}

/** The solve options a bench job carries, as a submitter builds them from its own. */
export function jobSolve(solve: BenchContext['solve']): BenchJob['solve'] {
  const { model, baseURL, provider, maxAttempts, samples, testTimeoutSeconds, maxCostUsd, temperatures } = solve;
  return JSON.parse(
    JSON.stringify({ model, baseURL, provider, maxAttempts, samples, testTimeoutSeconds, maxCostUsd, temperatures }),
  ) as BenchJob['solve'];
}
