import { useEffect, useState } from 'react';
import { ApiError, request } from '../api-client.js';
import { formatCost, formatDuration } from '../timeline.js';

interface Metrics {
  by_status: Record<string, number>;
  queue: { waiting: number; active: number };
  workers?: number;
  tasks: number;
  verdicts: { resolved: number; unverified: number; failed: number };
  resolve_rate: number | null;
  mean_attempts: number | null;
  tokens: { input: number; output: number };
  cost_usd: number;
  unpriced_calls?: number;
  duration_ms: { mean: number | null; p50: number | null; p95: number | null };
}

function Card(props: { label: string; value: string; detail?: string }) {
  return (
    <div className="card">
      <dt>{props.label}</dt>
      <dd>
        <span className="value">{props.value}</span>
        {props.detail && <span className="detail">{props.detail}</span>}
      </dd>
    </div>
  );
}

/** Figures over all tasks (GET /api/metrics), refreshed every 10 s. */
export function Dashboard() {
  const [metrics, setMetrics] = useState<Metrics>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const load = () => request<Metrics>('/api/metrics').then(setMetrics, (err: ApiError) => setError(err.message));
    load();
    const timer = window.setInterval(load, 10_000);
    return () => window.clearInterval(timer);
  }, []);
  if (error)
    return (
      <p className="banner error" role="alert">
        {error}
      </p>
    );
  if (!metrics) return <p className="muted">Loading…</p>;
  const m = metrics;
  const finished = m.verdicts.resolved + m.verdicts.unverified + m.verdicts.failed;
  return (
    <section className="panel" aria-labelledby="dashboard-title">
      <h1 id="dashboard-title">Dashboard</h1>
      <dl className="cards">
        <Card
          label="Resolve rate"
          value={m.resolve_rate === null ? '–' : `${Math.round(m.resolve_rate * 100)}%`}
          detail={`${m.verdicts.resolved} of ${finished} finished`}
        />
        <Card
          label="Verdicts"
          value={`${m.verdicts.resolved} / ${m.verdicts.unverified} / ${m.verdicts.failed}`}
          detail="resolved / unverified / failed"
        />
        <Card label="Mean attempts" value={m.mean_attempts === null ? '–' : m.mean_attempts.toFixed(2)} />
        <Card
          label="Cost"
          value={formatCost(m.cost_usd, m.unpriced_calls)}
          detail={`${(m.tokens.input + m.tokens.output).toLocaleString()} tokens`}
        />
        <Card
          label="Duration"
          value={formatDuration(m.duration_ms.p50)}
          detail={`median; p95 ${formatDuration(m.duration_ms.p95)}`}
        />
        <Card
          label="Queue"
          value={`${m.queue.waiting} waiting`}
          detail={`${m.queue.active} running${m.workers !== undefined ? `, ${m.workers} workers` : ''}`}
        />
      </dl>
      <h2>Tasks by status</h2>
      <dl className="cards small">
        {Object.entries(m.by_status).map(([status, n]) => (
          <Card key={status} label={status} value={String(n)} />
        ))}
      </dl>
    </section>
  );
}
