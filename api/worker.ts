import { Queue, Worker, type Job } from 'bullmq';
import { createLocaliser, shippedCalibration } from '../agent/index.js';
import { startInstanceWorker } from '../benchmarks/queue/index.js';
import type { Settings, Logger } from '../core/index.js';
import { createSandboxRuntime } from '../sandbox/index.js';
import { bullConnection, cancelChannel, QUEUE_NAME } from './queue/bullmq-queue.js';
import { endTask, runTask, serviceModelGate, type AbortReason } from './run-task.js';
import { RedisTaskStore } from './store/redis-store.js';
import { redisTrouble } from './redis-trouble.js';

/** How a worker process takes jobs. */
export interface WorkerOptions {
  concurrency: number;
  /** How long a job's lock lasts without renewal: a killed worker's job is retried after about this long. */
  lockDurationMs: number;
  /** How often this worker looks for jobs whose worker was lost. */
  stalledIntervalMs: number;
  prefix?: string;
  /** Repositories for bench and eval instance jobs (`--repos DIR`); none: cloned into FIXWRIGHT_DATA_DIR/repos. */
  reposDir?: string;
}

/** A running worker; `close` lets running jobs finish (up to the grace period). */
export interface FixwrightWorker {
  close(graceMs: number): Promise<void>;
}

/**
 * Starts a worker that takes tasks from BullMQ and runs the agent on them, with its own sandbox
 * runtime (trusted fixwright code is the only Docker client). A job whose worker is lost is
 * retried once by the stalled-job check; lost twice, the task ends in `error` with a message.
 * It also takes the instance jobs of `fixwright solve-dataset --queue` and `fixwright eval --queue`.
 */
export async function startWorker(
  settings: Settings,
  options: WorkerOptions,
  logger: Logger,
): Promise<FixwrightWorker> {
  const url = settings.service.redisURL!;
  const prefix = options.prefix ?? 'fixwright';
  const trouble = redisTrouble(logger);
  const store = new RedisTaskStore(url, `${prefix}:`, trouble);
  const runtime = await createSandboxRuntime(settings, { logger });
  // One model gate for every job this worker runs (FIXWRIGHT_MODEL_RPM is per process).
  const parts = {
    store,
    settings,
    runtime,
    localiser: createLocaliser(settings),
    calibration: shippedCalibration(),
    logger,
    modelGate: serviceModelGate(settings),
  };
  const connection = bullConnection(url, trouble);
  const queue = new Queue(QUEUE_NAME, { connection, prefix });
  // Without a listener BullMQ prints every connection error's stack (17 in 12 s with Redis down).
  queue.on('error', trouble);

  const worker = new Worker(
    QUEUE_NAME,
    async (job: Job<{ task_id: string }>, _token, signal) => {
      const retry = job.attemptsStarted > 1 || job.stalledCounter > 0;
      return runTask(job.data.task_id, parts, signal ?? new AbortController().signal, { retry });
    },
    {
      connection: bullConnection(url, trouble),
      prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs,
      stalledInterval: options.stalledIntervalMs,
      maxStalledCount: 1,
    },
  );
  worker.on('error', (err) => trouble(err));
  // A job whose worker was lost too often, or whose run threw, fails in BullMQ: its task must end too.
  worker.on('failed', (job, err) => {
    if (!job?.id) return;
    const lost = /stalled|lock/i.test(err.message);
    const message = lost
      ? 'the task was interrupted twice (its worker stopped or was killed); submit it again'
      : `the task's run failed: ${err.message}`;
    void endTask(store, job.id, 'error', message).catch((e: unknown) =>
      logger.error({ err: e, task_id: job.id }, 'could not record a failed job'),
    );
  });
  worker.on('stalled', (jobId) => logger.warn({ task_id: jobId }, 'a job lost its worker; it runs again'));
  // Bench and eval runs with --queue: one job per instance, on their own queue, with this process's sandboxes.
  const instances = startInstanceWorker(
    url,
    settings,
    { ...options, prefix },
    { runtime, modelGate: parts.modelGate },
    logger,
    trouble,
  );

  const cancels = bullConnection(url, trouble);
  await cancels.subscribe(cancelChannel(prefix));
  cancels.on('message', (_channel: string, taskId: string) => {
    if (worker.cancelJob(taskId, 'cancel' satisfies AbortReason)) logger.info({ task_id: taskId }, 'cancelling');
  });
  logger.info({ concurrency: options.concurrency, queue: QUEUE_NAME }, 'worker started');

  return {
    async close(graceMs: number) {
      await cancels.quit().catch(() => undefined);
      const closing = Promise.all([worker.close(), instances.close(false)]);
      const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
      if ((await Promise.race([closing.then(() => 'closed' as const), timer])) === 'timeout') {
        // Jobs still running are left to the stalled-job check of another worker (their locks expire).
        logger.warn('shutdown grace spent; leaving running jobs to another worker');
        await Promise.all([worker.close(true).catch(() => undefined), instances.close(true)]);
      }
      await Promise.allSettled([queue.close(), runtime.close(), store.close(), connection.quit()]);
    },
  };
}
