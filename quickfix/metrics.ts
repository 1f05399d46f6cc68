import { Counter, Histogram } from 'prom-client';
import { metricsRegistry } from '../core/metrics.js';

/** Quick-fix metrics on `/metrics`: cache hits and misses, per-tier latency, analysis checks. */
export const quickfixMetrics = {
  cacheLookups: new Counter({
    name: 'fixwright_edit_cache_lookups_total',
    help: 'Quick-fix cache lookups, by result (hit or miss)',
    labelNames: ['result'] as const,
    registers: [metricsRegistry],
  }),
  requests: new Counter({
    name: 'fixwright_edit_requests_total',
    help: 'Quick-fix answers, by tier and status',
    labelNames: ['tier', 'status'] as const,
    registers: [metricsRegistry],
  }),
  tierSeconds: new Histogram({
    name: 'fixwright_edit_duration_seconds',
    help: 'Quick-fix latency by the tier that answered (rule, model, cache)',
    labelNames: ['tier'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [metricsRegistry],
  }),
  analysisSeconds: new Histogram({
    name: 'fixwright_edit_analysis_duration_seconds',
    help: 'One pyflakes check in the analysis container',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [metricsRegistry],
  }),
  analysisStarts: new Counter({
    name: 'fixwright_edit_analysis_starts_total',
    help: 'Analysis container starts, by result (a restart after it died counts again)',
    labelNames: ['result'] as const,
    registers: [metricsRegistry],
  }),
};
