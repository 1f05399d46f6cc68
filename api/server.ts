import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { createLocaliser, shippedCalibration, type DemoTask } from '../agent/index.js';
import { FixwrightError, type Settings, type Logger } from '../core/index.js';
import {
  createDockerClient,
  createSandboxRuntime,
  ensureDockerReachable,
  type SandboxRuntime,
} from '../sandbox/index.js';
import { buildApp } from './app.js';
import { BullTaskQueue } from './queue/bullmq-queue.js';
import { LocalTaskQueue } from './queue/local-queue.js';
import type { TaskQueue } from './queue/task-queue.js';
import { redisTrouble } from './redis-trouble.js';
import { endTask, runTask, serviceModelGate } from './run-task.js';
import { DiskTaskStore } from './store/disk-store.js';
import { RedisTaskStore } from './store/redis-store.js';
import type { TaskStore } from './store/task-store.js';

/** A listening service; `close` drains jobs (up to the grace period) and closes sockets. */
export interface RunningService {
  app: FastifyInstance;
  url: string;
  mode: 'in-process' | 'redis';
  close(): Promise<void>;
}

/** Where `serve` listens. */
export interface ListenOptions {
  host: string;
  port: number;
  version: string;
  /** Demo mode: the task the UI's "Run the demo" button submits. */
  demo?: DemoTask;
}

/**
 * The single-machine default puts tasks back in the queue after a restart: queued ones as they
 * were, running ones (interrupted) once more, and a task interrupted twice ends in `error`.
 */
async function recoverTasks(
  store: TaskStore,
  queue: TaskQueue,
  interrupted: Set<string>,
  logger: Logger,
): Promise<void> {
  let cursor: string | undefined;
  const pending: Array<{ id: string; status: string; retries: number; started: boolean }> = [];
  do {
    const page = await store.list({ cursor, limit: 200 });
    for (const t of page.tasks)
      if (t.status === 'queued' || t.status === 'running')
        pending.push({ id: t.task_id, status: t.status, retries: t.retries, started: t.started_at !== null });
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  for (const task of pending.reverse()) {
    if (task.status === 'running' && task.retries >= 1) {
      await endTask(
        store,
        task.id,
        'error',
        'the task was interrupted twice (the service stopped while it ran); submit it again',
      );
      continue;
    }
    // Running when the process died, or put back by a shutdown mid-run: either way a new run starts afresh.
    if (task.status === 'running' || task.started) interrupted.add(task.id);
    await queue.enqueue(task.id);
  }
  if (pending.length) logger.info({ requeued: pending.length }, 'tasks from before the restart are queued again');
}

/**
 * Starts `fixwright serve`. With REDIS_URL: tasks and events in Redis, jobs on BullMQ for
 * `fixwright worker` processes (this process needs no Docker). Without: an in-process queue and
 * the on-disk store under the data directory, running tasks here.
 */
export async function startService(
  settings: Settings,
  options: ListenOptions,
  logger: Logger,
): Promise<RunningService> {
  const redisURL = settings.service.redisURL;
  let store: TaskStore;
  let queue: TaskQueue;
  let redis: Redis | undefined;
  let runtime: Promise<SandboxRuntime> | undefined;
  let workers: (() => Promise<number>) | undefined;
  const checks: Record<string, () => Promise<boolean>> = {};
  let canRunTasks: (() => Promise<void>) | undefined;
  let announce: () => void;
  const editURL = settings.service.editURL;
  // Quick fixes answered elsewhere: the service is not ready while that worker does not answer.
  if (editURL)
    checks.edit_worker = () =>
      fetch(new URL('/healthz', editURL), { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );

  if (redisURL) {
    const trouble = redisTrouble(logger);
    store = new RedisTaskStore(redisURL, 'fixwright:', trouble);
    const bull = new BullTaskQueue(redisURL, 'fixwright', trouble);
    queue = bull;
    workers = () => bull.workers();
    redis = new Redis(redisURL, { maxRetriesPerRequest: 3 });
    redis.on('error', trouble);
    // Said once listening: a serve that cannot listen prints its one error line and nothing else.
    announce = () =>
      logger.info(
        { redis: redisURL.replace(/\/\/[^@]*@/, '//***@') },
        'queue: BullMQ on Redis; run `fixwright worker` processes to execute tasks',
      );
  } else {
    store = new DiskTaskStore(join(settings.dataDir, 'tasks'));
    const docker = createDockerClient(settings.dockerHost);
    checks.docker = () =>
      ensureDockerReachable(docker, settings.dockerHost).then(
        () => true,
        () => false,
      );
    // This process runs the tasks: without Docker a submission would only end in error.
    canRunTasks = () =>
      ensureDockerReachable(docker, settings.dockerHost).catch((err: unknown) => {
        throw new FixwrightError(
          'FW_ERR_DOCKER_UNREACHABLE',
          `this server runs tasks itself (no REDIS_URL) and has no sandbox: ${(err as Error).message}; in a container, mount the socket (see the Dockerfile's docker run line)`,
        );
      });
    // Docker is needed by the first task, not to start: the service comes up and /readyz says what is missing.
    const sandboxes = () => {
      runtime ??= createSandboxRuntime(settings, { logger }).catch((err: unknown) => {
        runtime = undefined;
        throw err;
      });
      return runtime;
    };
    const localiser = createLocaliser(settings);
    const calibration = shippedCalibration();
    // One model gate for every task this process runs (FIXWRIGHT_MODEL_RPM is per process).
    const modelGate = serviceModelGate(settings);
    const interrupted = new Set<string>();
    queue = new LocalTaskQueue(
      async (taskId, signal) => {
        let sandbox: SandboxRuntime;
        try {
          sandbox = await sandboxes();
        } catch (err) {
          await endTask(store, taskId, 'error', `the sandbox is unavailable: ${(err as Error).message}`);
          return;
        }
        await runTask(
          taskId,
          { store, settings, runtime: sandbox, localiser, calibration, logger, modelGate },
          signal,
          { retry: interrupted.delete(taskId) },
        );
      },
      settings.service.workers,
      logger,
      (taskId, err) => endTask(store, taskId, 'error', `the task's run failed: ${(err as Error).message}`),
    );
    await recoverTasks(store, queue, interrupted, logger);
    announce = () =>
      logger.info(
        { data_dir: settings.dataDir, workers: settings.service.workers },
        'queue: in-process (single machine; set REDIS_URL to run workers elsewhere)',
      );
  }

  const app = await buildApp({
    settings,
    store,
    queue,
    logger,
    version: options.version,
    checks,
    canRunTasks,
    workers,
    redis,
    demo: options.demo,
  });
  const url = await app.listen({ host: options.host, port: options.port });
  announce();
  logger.info({ url, docs: `${url}/docs` }, 'fixwright serve is listening');

  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    mode: redisURL ? 'redis' : 'in-process',
    close() {
      closing ??= (async () => {
        logger.info('shutting down: no new requests; draining running tasks');
        const graceMs = settings.service.shutdownGraceSeconds * 1000;
        // A client that never ends its connection (a half-sent request, a socket kept open) must not
        // hold the shutdown: past the grace period its connection is cut.
        const closed = app.close();
        const late = setTimeout(() => {
          logger.warn('connections still open after the shutdown grace period: closing them');
          app.server.closeAllConnections();
        }, graceMs);
        await closed.finally(() => clearTimeout(late));
        await queue.close(graceMs);
        await Promise.allSettled([store.close(), redis?.quit(), runtime?.then((r) => r.close())]);
        logger.info('shut down');
      })();
      return closing;
    },
  };
}
