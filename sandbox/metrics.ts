import { Counter, Gauge, Histogram } from 'prom-client';
import { metricsRegistry } from '../core/metrics.js';

/** How a sandbox command ended, as a metric label. */
export type ExecOutcome = 'ok' | 'nonzero' | 'timeout' | 'oom' | 'cancelled';

/** Sandbox metrics: anything here can be slow or fail. */
export const sandboxMetrics = {
  containers: new Gauge({
    name: 'fixwright_sandbox_containers',
    help: 'Sandbox containers open in this process',
    registers: [metricsRegistry],
  }),
  starts: new Counter({
    name: 'fixwright_sandbox_starts_total',
    help: 'Sandbox containers started, by result',
    labelNames: ['result'] as const,
    registers: [metricsRegistry],
  }),
  execs: new Counter({
    name: 'fixwright_sandbox_execs_total',
    help: 'Commands run in sandboxes, by outcome',
    labelNames: ['outcome'] as const,
    registers: [metricsRegistry],
  }),
  warm: new Gauge({
    name: 'fixwright_sandbox_warm',
    help: 'Warm sandbox containers ready to be handed out',
    registers: [metricsRegistry],
  }),
  inUse: new Gauge({
    name: 'fixwright_sandbox_in_use',
    help: 'Sandbox containers handed out and not yet closed',
    registers: [metricsRegistry],
  }),
  warmTakes: new Counter({
    name: 'fixwright_sandbox_warm_takes_total',
    help: 'Requests for a sandbox, by whether a warm container was ready (hit), none was (miss), or the pool is off',
    labelNames: ['result'] as const,
    registers: [metricsRegistry],
  }),
  warmFills: new Counter({
    name: 'fixwright_sandbox_warm_fills_total',
    help: 'Warm containers started in the background, by result',
    labelNames: ['result'] as const,
    registers: [metricsRegistry],
  }),
  execSeconds: new Histogram({
    name: 'fixwright_sandbox_exec_duration_seconds',
    help: 'Wall time of commands run in sandboxes',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [metricsRegistry],
  }),
  extensionBuilds: new Counter({
    name: 'fixwright_extension_builds_total',
    help:
      "Extension builds of a checkout's C/Cython code, by result: built (in its own sandbox), " +
      "cached (read from the cache), shared (waited for another caller's build), rebuilt (in a test's sandbox after a patch changed an input), failed",
    labelNames: ['result'] as const,
    registers: [metricsRegistry],
  }),
  extensionBuildSeconds: new Histogram({
    name: 'fixwright_extension_build_duration_seconds',
    help: 'Wall time of extension builds run in their own sandbox (cache misses)',
    buckets: [5, 15, 30, 60, 120, 300, 600, 1200, 3600],
    registers: [metricsRegistry],
  }),
};
