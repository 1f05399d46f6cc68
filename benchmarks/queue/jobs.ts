import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import type { EvalContext, InstanceResult } from '../eval/evaluate-instance.js';
import type { BenchContext, BenchInstance, LocalisedPath } from '../run/run-bench.js';
import type { Variant } from '../run/ablation.js';
import type { EnvironmentRequest } from '../../sandbox/index.js';
import type { loadEnvironmentTable } from '../eval/environments.js';

/**
 * The BullMQ queue `fixwright bench --queue` and `fixwright eval --queue` put one job per instance
 * on; every `fixwright worker` takes them (beside the service's tasks, on their own queue).
 */
export const INSTANCE_QUEUE = 'fixwright-instances';

/** How long a finished job (and its result) stays in Redis when no submitter collects it: a week. */
export const FINISHED_JOB_AGE_SECONDS = 7 * 24 * 3600;

/** The row fields the agent may see: never `patch`, `test_patch`, FAIL_TO_PASS or PASS_TO_PASS. */
const agentRowSchema = z.object({
  instance_id: z.string().min(1),
  repo: z
    .string()
    .regex(/^[\w.-]+\/[\w.-]+$/, 'must be owner/name')
    .refine((r) => !r.split('/').some((p) => p === '.' || p === '..'), 'must be owner/name (no . or .. parts)'),
  base_commit: z.string().regex(/^[0-9a-f]{7,40}$/, 'must be a commit sha'),
  problem_statement: z.string(),
  version: z.string().optional(),
});

/** One instance for the agent, as a worker runs it with `runWithRetries` (no secrets: a worker uses its own key). */
export const benchJobSchema = z.object({
  /** The submitting run's own id (OUT/queue-run.json): a fresh run directory never collects an older run's jobs. */
  run_id: z.string().min(1),
  row: agentRowSchema,
  solve: z.object({
    model: z.string().min(1),
    /** Only a `--base-url` given to the submitter; otherwise the worker's own OPENAI_BASE_URL. */
    baseURL: z.string().optional(),
    provider: z.enum(['openai', 'deepseek', 'compatible']).optional(),
    maxAttempts: z.number().int().min(1).max(10),
    samples: z.number().int().min(1).optional(),
    testTimeoutSeconds: z.number().positive(),
    maxCostUsd: z.number().nonnegative().optional(),
    temperatures: z.array(z.number()),
  }),
  /** The environment the submitter's table gives the instance (a plain TestEnvironment), or none. */
  environment: z.object({ table: z.record(z.string(), z.unknown()) }).nullable(),
  /** The ablation variant's localisation (none: the shipped system). */
  variant: z.record(z.string(), z.unknown()).nullable(),
  error_retries: z.number().int().min(0).max(10),
  retry_backoff_ms: z.number().int().min(0),
});
export type BenchJob = z.output<typeof benchJobSchema>;

/** One prediction to evaluate, with the row's test fields and the submitter's environment entry. */
export const evalJobSchema = z.object({
  run_id: z.string().min(1),
  /** The whole row (the worker checks out base_commit and applies test_patch; the agent never runs here). */
  row: z.record(z.string(), z.unknown()),
  prediction: z.object({ instance_id: z.string().min(1), model_name_or_path: z.string(), model_patch: z.string() }),
  /** The submitter's environment table cut to this row's entry: the worker grades as the submitter would. */
  table: z.object({ default: z.record(z.string(), z.unknown()), repos: z.record(z.string(), z.unknown()) }).passthrough(),
  /** The evaluation's plain settings (test timeout, grading rule, …). */
  settings: z.object({ timeoutSeconds: z.number().positive() }).passthrough(),
});
export type EvalJob = z.output<typeof evalJobSchema>;

/** The plain part of an evaluation's context: what travels in a job. */
export type EvalSettings = Omit<EvalContext, 'runtime' | 'docker' | 'table' | 'reposDir' | 'pip' | 'signal'>;

/** What a worker sends back for a bench job; the trajectory travels gzipped (base64). */
export interface BenchReturn {
  result: BenchInstance;
  patch: string;
  files: LocalisedPath[];
  trajectory_gz: string;
}

/** What a worker sends back for an eval job; the test log travels gzipped (base64). */
export interface EvalReturn {
  result: Omit<InstanceResult, 'log'>;
  log_gz: string;
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
  writeFileSync(`${file}.tmp`, `${JSON.stringify({ run_id: runId, created: new Date().toISOString() })}\n`);
  renameSync(`${file}.tmp`, file);
  return runId;
}

/** The environment table cut to one row's entry (and the default): `environmentFor` resolves it as the whole table does. */
export function tableFor(table: ReturnType<typeof loadEnvironmentTable>, repo: string, version: string | undefined): ReturnType<typeof loadEnvironmentTable> {
  const known = table.repos[repo];
  if (!known) return { ...table, repos: {} };
  const entry = version !== undefined ? known.versions[version] : undefined;
  return { ...table, repos: { [repo]: { ...known, versions: entry && version !== undefined ? { [version]: entry } : {} } } };
}

/** The job's environment as the agent's context takes it. */
export function jobEnvironment(job: BenchJob): EnvironmentRequest | undefined {
  return job.environment ? (job.environment as unknown as EnvironmentRequest) : undefined;
}

/** The job's ablation variant (null: the shipped system). */
export function jobVariant(job: BenchJob): Variant | undefined {
  return job.variant ? (job.variant as unknown as Variant) : undefined;
}

/** The solve options a bench job carries, as a submitter builds them from its own. */
export function jobSolve(solve: BenchContext['solve']): BenchJob['solve'] {
  const { model, baseURL, provider, maxAttempts, samples, testTimeoutSeconds, maxCostUsd, temperatures } = solve;
  return JSON.parse(JSON.stringify({ model, baseURL, provider, maxAttempts, samples, testTimeoutSeconds, maxCostUsd, temperatures })) as BenchJob['solve'];
}
