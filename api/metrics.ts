import { Counter, Gauge, Histogram } from 'prom-client';
import type { AgentEvent } from '../events/index.js';
import { metricsRegistry } from '../core/metrics.js';

/** Service metrics (the sandbox registers its own): everything here can be slow or fail. */
export const serviceMetrics = {
  httpSeconds: new Histogram({
    name: 'fixwright_http_request_duration_seconds',
    help: 'HTTP request latency by route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metricsRegistry],
  }),
  tasksSubmitted: new Counter({
    name: 'fixwright_tasks_submitted_total',
    help: 'Tasks accepted by POST /api/solve',
    registers: [metricsRegistry],
  }),
  tasksEnded: new Counter({
    name: 'fixwright_tasks_ended_total',
    help: 'Tasks that ended in this process, by status and verdict',
    labelNames: ['status', 'verdict'] as const,
    registers: [metricsRegistry],
  }),
  taskSeconds: new Histogram({
    name: 'fixwright_task_duration_seconds',
    help: 'Wall time of task runs in this process',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600],
    registers: [metricsRegistry],
  }),
  nodeSeconds: new Histogram({
    name: 'fixwright_agent_node_duration_seconds',
    help: 'Wall time of each agent graph node',
    labelNames: ['node'] as const,
    buckets: [0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [metricsRegistry],
  }),
  modelTokens: new Counter({
    name: 'fixwright_model_tokens_total',
    help: 'Model tokens used, by direction',
    labelNames: ['kind'] as const,
    registers: [metricsRegistry],
  }),
  modelCost: new Counter({
    name: 'fixwright_model_cost_usd_total',
    help: 'Model spend in USD (priced models)',
    registers: [metricsRegistry],
  }),
  modelCalls: new Counter({
    name: 'fixwright_model_calls_total',
    help: 'Model calls, by result',
    labelNames: ['result'] as const,
    registers: [metricsRegistry],
  }),
  activeJobs: new Gauge({
    name: 'fixwright_jobs_active',
    help: 'Tasks running in this process',
    registers: [metricsRegistry],
  }),
  wsClients: new Gauge({
    name: 'fixwright_ws_clients',
    help: 'Open WebSocket connections',
    registers: [metricsRegistry],
  }),
};

/** Counts what an agent event says it cost or how long it took. */
export function observeEvent(event: AgentEvent): void {
  const d = event.data;
  if (event.type === 'node_end' && typeof d.duration_ms === 'number')
    serviceMetrics.nodeSeconds.observe({ node: String(d.node) }, d.duration_ms / 1000);
  if (event.type === 'model_call') {
    serviceMetrics.modelCalls.inc({ result: d.error ? 'error' : 'ok' });
    const usage = (d.usage ?? {}) as { input_tokens?: number; output_tokens?: number };
    if (usage.input_tokens) serviceMetrics.modelTokens.inc({ kind: 'input' }, usage.input_tokens);
    if (usage.output_tokens) serviceMetrics.modelTokens.inc({ kind: 'output' }, usage.output_tokens);
    if (typeof d.cost_usd === 'number' && d.cost_usd > 0) serviceMetrics.modelCost.inc(d.cost_usd);
  }
}

/** Where the queue and task gauges read their figures at scrape time (the app sets it). */
let sources: {
  queue?: () => Promise<{ waiting: number; active: number }>;
  tasks?: () => Promise<Record<string, number>>;
} = {};

/** Points the scrape-time gauges at this process's queue and store. */
export function watchService(next: typeof sources): void {
  sources = next;
}

new Gauge({
  name: 'fixwright_queue_waiting',
  help: 'Tasks waiting in the queue',
  registers: [metricsRegistry],
  async collect() {
    if (sources.queue) this.set((await sources.queue().catch(() => ({ waiting: NaN }))).waiting);
  },
});
new Gauge({
  name: 'fixwright_queue_active',
  help: 'Tasks being run by any worker',
  registers: [metricsRegistry],
  async collect() {
    if (sources.queue) this.set((await sources.queue().catch(() => ({ active: NaN }))).active);
  },
});
new Gauge({
  name: 'fixwright_tasks',
  help: 'Stored tasks by status',
  labelNames: ['status'] as const,
  registers: [metricsRegistry],
  async collect() {
    if (!sources.tasks) return;
    const counts = await sources.tasks().catch(() => ({}) as Record<string, number>);
    for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
  },
});
