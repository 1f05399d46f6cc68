import type { FastifyPluginAsync } from 'fastify';
import { metricsRegistry } from '../../core/metrics.js';
import type { AppDeps } from '../app.js';
import { ErrorBody } from '../schemas/task.js';
import type { TaskRecord } from '../task.js';

/** The newest tasks `/api/metrics` summarises (it reads each one). */
const METRICS_WINDOW = 10_000;

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Figures over tasks: resolve rate, attempts, tokens, cost, durations. */
export function summariseTasks(tasks: readonly TaskRecord[]) {
  const finished = tasks.filter((t) => t.status === 'finished');
  const verdicts = { resolved: 0, unverified: 0, failed: 0 };
  for (const t of finished) if (t.summary.verdict) verdicts[t.summary.verdict] += 1;
  const durations = tasks
    .filter((t) => t.started_at && t.finished_at)
    .map((t) => Date.parse(t.finished_at!) - Date.parse(t.started_at!))
    .sort((a, b) => a - b);
  const tokens = tasks.reduce(
    (sum, t) => ({ input: sum.input + t.summary.tokens.input, output: sum.output + t.summary.tokens.output }),
    { input: 0, output: 0 },
  );
  return {
    tasks: tasks.length,
    verdicts,
    resolve_rate: finished.length ? verdicts.resolved / finished.length : null,
    mean_attempts: finished.length
      ? finished.reduce((s, t) => s + t.summary.attempts.length, 0) / finished.length
      : null,
    tokens,
    cost_usd: tasks.reduce((s, t) => s + t.summary.cost_usd, 0),
    unpriced_calls: tasks.reduce((s, t) => s + (t.summary.unpriced_calls ?? 0), 0),
    duration_ms: {
      mean: durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : null,
      p50: percentile(durations, 0.5),
      p95: percentile(durations, 0.95),
    },
  };
}

/** Liveness, readiness, Prometheus and the dashboard's figures. */
export const healthRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app) => {
    const open = { rateLimit: false } as const;
    app.get('/healthz', { config: open, schema: { summary: 'The process is up', tags: ['service'] } }, async () => ({
      status: 'ok',
    }));

    app.get(
      '/readyz',
      {
        config: open,
        schema: { summary: 'The store, the queue and (in-process mode) Docker are reachable', tags: ['service'] },
      },
      async (_request, reply) => {
        const checks: Record<string, () => Promise<boolean>> = {
          store: () => deps.store.ping(),
          queue: () => deps.queue.ready(),
          ...deps.checks,
        };
        // Each check gets 2 s: an unreachable Redis must give a quick 503, not a hung probe.
        const timed = (check: () => Promise<boolean>) =>
          Promise.race([
            check().catch(() => false),
            new Promise<boolean>((r) => setTimeout(() => r(false), 2000).unref()),
          ]);
        const results = Object.fromEntries(
          await Promise.all(Object.entries(checks).map(async ([name, check]) => [name, await timed(check)] as const)),
        );
        const ready = Object.values(results).every(Boolean);
        return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: results });
      },
    );

    app.get(
      '/metrics',
      { config: open, schema: { summary: 'Prometheus metrics (fixwright_*)', tags: ['service'] } },
      async (_request, reply) => {
        return reply.header('content-type', metricsRegistry.contentType).send(await metricsRegistry.metrics());
      },
    );

    app.get(
      '/api/metrics',
      {
        schema: {
          summary: 'Tasks by status, resolve rate, attempts, tokens, cost, durations',
          tags: ['service'],
          response: { '4xx': ErrorBody },
        },
      },
      async () => {
        const tasks: TaskRecord[] = [];
        let cursor: string | undefined;
        do {
          const page = await deps.store.list({ cursor, limit: 200 });
          tasks.push(...page.tasks);
          cursor = page.next_cursor ?? undefined;
        } while (cursor && tasks.length < METRICS_WINDOW);
        return {
          by_status: await deps.store.countByStatus(),
          queue: await deps.queue.counts(),
          ...(deps.workers ? { workers: await deps.workers() } : {}),
          window: tasks.length,
          ...summariseTasks(tasks),
        };
      },
    );
  };
