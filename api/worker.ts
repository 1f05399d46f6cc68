import { Queue, Worker, type Job } from 'bullmq';
import { createLocaliser, shippedCalibration } from '../agent/index.js';
import type { Settings } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { createSandboxRuntime } from '../sandbox/index.js';
import { bullConnection, cancelChannel, QUEUE_NAME } from './queue/bullmq-queue.js';
import { endTask, runTask, type AbortReason } from './run-task.js';
import { RedisTaskStore } from './store/redis-store.js';

/** How a worker process takes jobs. */
export interface WorkerOptions {
  concurrency: number;
  /** How long a job's lock lasts without renewal: a killed worker's job is retried after about this long. */
  lockDurationMs: number;
  /** How often this worker looks for jobs whose worker was lost. */
  stalledIntervalMs: number;
  prefix?: string;
}

/** A running worker; `close` lets running jobs finish (up to the grace period). */
export interface FixwrightWorker {
  close(graceMs: number): Promise<void>;
}

/**
 * Starts a worker that takes tasks from BullMQ and runs the agent on them, with its own sandbox
 * runtime (trusted fixwright code is the only Docker client). A job whose worker is lost is
 * retried once by the stalled-job check; lost twice, the task ends in `error` with a message.
 */
export async function startWorker(settings: Settings, options: WorkerOptions, logger: Logger): Promise<FixwrightWorker> {
  const url = settings.service.redisURL!;
  const prefix = options.prefix ?? 'fixwright';
  const store = new RedisTaskStore(url, `${prefix}:`);
  const runtime = await createSandboxRuntime(settings, { logger });
  const parts = { store, settings, runtime, localiser: createLocaliser(settings), calibration: shippedCalibration(), logger };
  const connection = bullConnection(url);
  const queue = new Queue(QUEUE_NAME, { connection, prefix });

  const worker = new Worker(
    QUEUE_NAME,
    async (job: Job<{ task_id: string }>, _token, signal) => {
      const retry = job.attemptsStarted > 1 || job.stalledCounter > 0;
      return runTask(job.data.task_id, parts, signal ?? new AbortController().signal, { retry });
    },
    { connection: bullConnection(url), prefix, concurrency: options.concurrency, lockDuration: options.lockDurationMs, stalledInterval: options.stalledIntervalMs, maxStalledCount: 1 },
  );
  worker.on('error', (err) => logger.error({ err }, 'worker error'));
  worker.on('stalled', (jobId) => {
    void (async () => {
      const job = await queue.getJob(jobId);
      const state = job ? await job.getState() : 'unknown';
      logger.warn({ task_id: jobId, state }, 'a job lost its worker');
      if (state === 'failed') await endTask(store, jobId, 'error', 'the task was interrupted twice (its worker stopped or was killed); submit it again');
    })().catch((err: unknown) => logger.error({ err, task_id: jobId }, 'could not record a lost job'));
  });

  const cancels = bullConnection(url);
  await cancels.subscribe(cancelChannel(prefix));
  cancels.on('message', (_channel: string, taskId: string) => {
    if (worker.cancelJob(taskId, 'cancel' satisfies AbortReason)) logger.info({ task_id: taskId }, 'cancelling');
  });
  logger.info({ concurrency: options.concurrency, queue: QUEUE_NAME }, 'worker started');

  return {
    async close(graceMs: number) {
      await cancels.quit().catch(() => undefined);
      const closing = worker.close();
      const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
      if ((await Promise.race([closing.then(() => 'closed' as const), timer])) === 'timeout') {
        // Jobs still running are left to the stalled-job check of another worker (their locks expire).
        logger.warn('shutdown grace spent; leaving running jobs to another worker');
        await worker.close(true).catch(() => undefined);
      }
      await Promise.allSettled([queue.close(), runtime.close(), store.close(), connection.quit()]);
    },
  };
}
