// api/: the HTTP service (`fixwright serve`), its queue worker (`fixwright worker`) and the edit-only
// server, as the CLI starts them; perf/api.ts also drives a task's events and the Redis store directly.
export { startEditServer, type EditServer } from './edit-server.js';
export { appendTaskEvent } from './run-task.js';
export { startService, type RunningService } from './server.js';
export { RedisTaskStore } from './store/redis-store.js';
export { startWorker } from './worker.js';
