import { Registry } from 'prom-client';

/**
 * The one Prometheus registry every stage registers its metrics in; the service exposes it at
 * `/metrics`. Metric names start with `fixwright_`.
 */
export const metricsRegistry = new Registry();
