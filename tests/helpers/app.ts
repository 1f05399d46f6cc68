import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createLocaliser } from '../../agent/index.js';
import { buildApp } from '../../api/app.js';
import { LocalTaskQueue } from '../../api/queue/local-queue.js';
import { runTask, serviceModelGate } from '../../api/run-task.js';
import type { taskView } from '../../api/routes/tasks.js';
import { DiskTaskStore } from '../../api/store/disk-store.js';
import { loadSettings } from '../../core/config.js';
import { createLogger } from '../../core/logger.js';
import { createSandboxRuntime, type SandboxRuntime } from '../../sandbox/index.js';
import { waitFor } from './service.js';

/**
 * Real apps over the on-disk store and the in-process queue, as `fixwright serve` wires them, with
 * their temporary data directories and sandboxes; `close()` removes all of them.
 */
export function testApps(prefix: string) {
  const dirs: string[] = [];
  const runtimes: SandboxRuntime[] = [];
  const apps: FastifyInstance[] = [];
  const temp = (name = prefix) => {
    const d = mkdtempSync(join(tmpdir(), name));
    dirs.push(d);
    return d;
  };
  return {
    temp,
    async app(env: Record<string, string> = {}): Promise<FastifyInstance> {
      const settings = loadSettings({ FIXWRIGHT_DATA_DIR: temp(), FIXWRIGHT_MODEL: 'scripted', ...env });
      const logger = createLogger('silent');
      const store = new DiskTaskStore(join(settings.dataDir, 'tasks'));
      const runtime = await createSandboxRuntime(settings, { logger });
      runtimes.push(runtime);
      const localiser = createLocaliser(settings);
      const modelGate = serviceModelGate(settings);
      const queue = new LocalTaskQueue(
        (id, signal) => runTask(id, { store, settings, runtime, localiser, logger, modelGate }, signal),
        1,
        logger,
      );
      const built = await buildApp({ settings, store, queue, logger, version: 'test' });
      apps.push(built);
      return built;
    },
    async close() {
      await Promise.all(apps.map((a) => a.close()));
      await Promise.all(runtimes.map((r) => r.close()));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** A task as `GET /api/task/:id` answers it. */
type TaskView = ReturnType<typeof taskView>;

/** Waits until a task ends (finished, error or cancelled) and returns its view. */
export function taskEnd(server: FastifyInstance, id: string, timeoutMs = 120_000): Promise<TaskView> {
  return waitFor(
    async () => {
      const t = (await server.inject({ method: 'GET', url: `/api/task/${id}` })).json<TaskView>();
      return ['finished', 'error', 'cancelled'].includes(t.status) ? t : undefined;
    },
    'the task to end',
    timeoutMs,
  );
}
