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

/** Where tasks are kept and how they run: in Redis for workers elsewhere, or on disk and in this process. */
interface TaskBackend {
  store: TaskStore;
  queue: TaskQueue;
  redis?: Redis;
  /** How many workers take tasks from the queue (Redis only). */
  workers?: () => Promise<number>;
  /** Readiness checks of what the backend depends on. */
  checks: Record<string, () => Promise<boolean>>;
  /** Refuses a submission this process could not run (in-process only: Docker must answer). */
  canRunTasks?: () => Promise<void>;
  /** The sandbox runtime, once a task has started one. */
  runtime: () => Promise<SandboxRuntime> | undefined;
  /** Says which queue serves, once the service listens. */
  announce: () => void;
}

/** Quick fixes answered elsewhere: the service is not ready while that worker does not answer. */
function editWorkerCheck(editURL: string | undefined): Record<string, () => Promise<boolean>> {
  if (!editURL) return {};
  return {
    edit_worker: () =>
      fetch(new URL('/healthz', editURL), { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      ),
  };
}

/** Tasks and events in Redis, jobs on BullMQ for `fixwright worker` processes (this process needs no Docker). */
function redisBackend(redisURL: string, logger: Logger): TaskBackend {
  const trouble = redisTrouble(logger);
  const store = new RedisTaskStore(redisURL, 'fixwright:', trouble);
  const bull = new BullTaskQueue(redisURL, 'fixwright', trouble);
  const redis = new Redis(redisURL, { maxRetriesPerRequest: 3 });
  redis.on('error', trouble);
  return {
    store,
    queue: bull,
    redis,
    workers: () => bull.workers(),
    checks: {},
    runtime: () => undefined,
    // Said once listening: a serve that cannot listen prints its one error line and nothing else.
    announce: () =>
      logger.info(
        { redis: redisURL.replace(/\/\/[^@]*@/, '//***@') },
        'queue: BullMQ on Redis; run `fixwright worker` processes to execute tasks',
      ),
  };
}

/**
 * The single-machine backend: the on-disk store under the data directory and an in-process queue
 * running tasks here, in sandboxes started with the first task; tasks from before a restart are
 * queued again.
 */
async function inProcessBackend(settings: Settings, logger: Logger): Promise<TaskBackend> {
  const store = new DiskTaskStore(join(settings.dataDir, 'tasks'));
  const docker = createDockerClient(settings.dockerHost);
  const checks = {
    docker: () =>
      ensureDockerReachable(docker, settings.dockerHost).then(
        () => true,
        () => false,
      ),
  };
  // This process runs the tasks: without Docker a submission would only end in error.
  const canRunTasks = () =>
    ensureDockerReachable(docker, settings.dockerHost).catch((err: unknown) => {
      throw new FixwrightError(
        'FW_ERR_DOCKER_UNREACHABLE',
        `this server runs tasks itself (no REDIS_URL) and has no ` +
          `sandbox: ${(err as Error).message}; in a container, mount the socket (see the Dockerfile's docker run line)`,
      );
    });
  // Docker is needed by the first task, not to start: the service comes up and /readyz says what is missing.
  let runtime: Promise<SandboxRuntime> | undefined;
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
  const queue = new LocalTaskQueue(
    async (taskId, signal) => {
      let sandbox: SandboxRuntime;
      try {
        sandbox = await sandboxes();
      } catch (err) {
        await endTask(store, taskId, 'error', `the sandbox is unavailable: ${(err as Error).message}`);
        return;
      }
      await runTask(taskId, { store, settings, runtime: sandbox, localiser, calibration, logger, modelGate }, signal, {
        retry: interrupted.delete(taskId),
      });
    },
    settings.service.workers,
    logger,
    (taskId, err) => endTask(store, taskId, 'error', `the task's run failed: ${(err as Error).message}`),
  );
  await recoverTasks(store, queue, interrupted, logger);
  return {
    store,
    queue,
    checks,
    canRunTasks,
    runtime: () => runtime,
    announce: () =>
      logger.info(
        { data_dir: settings.dataDir, workers: settings.service.workers },
        'queue: in-process (single machine; set REDIS_URL to run workers elsewhere)',
      ),
  };
}

/**
 * Stops taking requests, drains running tasks (up to the grace period; connections still open then
 * are cut, so a client that never ends its connection cannot hold the shutdown), and closes the backend.
 */
async function shutDown(app: FastifyInstance, backend: TaskBackend, settings: Settings, logger: Logger): Promise<void> {
  logger.info('shutting down: no new requests; draining running tasks');
  const graceMs = settings.service.shutdownGraceSeconds * 1000;
  const closed = app.close();
  const late = setTimeout(() => {
    logger.warn('connections still open after the shutdown grace period: closing them');
    app.server.closeAllConnections();
  }, graceMs);
  await closed.finally(() => clearTimeout(late));
  await backend.queue.close(graceMs);
  await Promise.allSettled([backend.store.close(), backend.redis?.quit(), backend.runtime()?.then((r) => r.close())]);
  logger.info('shut down');
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
  const editCheck = editWorkerCheck(settings.service.editURL);
  const backend = redisURL ? redisBackend(redisURL, logger) : await inProcessBackend(settings, logger);
  const { store, queue, workers, redis, canRunTasks } = backend;
  const app = await buildApp({
    settings,
    store,
    queue,
    logger,
    version: options.version,
    checks: { ...editCheck, ...backend.checks },
    canRunTasks,
    workers,
    redis,
    demo: options.demo,
  });
  const url = await app.listen({ host: options.host, port: options.port });
  backend.announce();
  logger.info({ url, docs: `${url}/docs` }, 'fixwright serve is listening');

  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    mode: redisURL ? 'redis' : 'in-process',
    close() {
      closing ??= shutDown(app, backend, settings, logger);
      return closing;
    },
  };
}
