import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { SolveContext } from '../../agent/index.js';
import type { Settings, Logger } from '../../core/index.js';
import type { SandboxRuntime } from '../../sandbox/index.js';
import { type InstanceJobContext, jobsDone, runInstanceJob } from './instance-jobs.js';
import { INSTANCE_QUEUE } from './jobs.js';

export { LocalFault } from './instance-jobs.js';

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

/**
 * Times a job whose worker was lost (killed or stopped mid-instance) runs again elsewhere: twice at
 * most; a job lost a third time fails (BullMQ's maxStalledCount).
 */
export const MAX_STALLED = 2;

/**
 * Takes bench and eval jobs from the instance queue and runs them with the code a local run uses
 * (`runWithRetries`, `evaluateInstance`), sending back the result with its trajectory or test log.
 * A job whose worker is lost goes back on the queue for another worker (BullMQ's stalled check).
 */
export function startInstanceWorker(
  url: string,
  settings: Settings,
  options: InstanceWorkerOptions,
  parts: InstanceWorkerParts,
  logger: Logger,
  onError: (err: Error) => void,
): { close(force: boolean): Promise<void> } {
  const reposDir = options.reposDir ?? join(settings.dataDir, 'repos');
  const prefix = options.prefix ?? 'fixwright';
  const workerName = `${hostname()}:${process.pid}`;
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  connection.on('error', onError);
  const scratch = join(settings.dataDir, 'queue-jobs');
  mkdirSync(scratch, { recursive: true });
  const secrets = [settings.models.apiKey, settings.github.token].filter((s): s is string => Boolean(s));
  const ctx: InstanceJobContext = {
    settings,
    options,
    parts,
    logger,
    workerName,
    reposDir,
    prefix,
    connection,
    scratch,
    secrets,
    localisations: new Map(),
    fetches: new Map(),
  };
  const worker = new Worker(INSTANCE_QUEUE, (job: Job) => runInstanceJob(ctx, job), {
    connection,
    prefix,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.stalledIntervalMs,
    maxStalledCount: MAX_STALLED,
  });
  worker.on('error', onError);
  worker.on('failed', (job, err) => {
    if (!job) return;
    jobsDone.inc({ kind: job.name === 'eval' ? 'eval' : 'bench', result: 'crashed' });
    logger.error({ job_id: job.id, err: err.message }, 'instance job failed');
  });
  worker.on('stalled', (jobId) => logger.warn({ job_id: jobId }, 'an instance job lost its worker; it runs again'));
  logger.info(
    { concurrency: options.concurrency, queue: INSTANCE_QUEUE, repos: reposDir },
    'taking bench and eval instance jobs',
  );

  return {
    async close(force: boolean) {
      // Forced: running jobs are left to another worker (their locks expire and the stalled check runs them again).
      await worker.close(force).catch(() => undefined);
      await connection.quit().catch(() => undefined);
    },
  };
}
