import type { AgentEvent } from '../../events/index.js';

/** One run of a graph node, as the timeline shows it. */
export interface NodeRun {
  key: string;
  node: string;
  attempt: number;
  startedAt: string;
  durationMs: number | null;
}

/** Pairs node_start with node_end events (a node runs once at a time) into timeline rows. */
export function nodeRuns(events: readonly AgentEvent[]): NodeRun[] {
  const runs: NodeRun[] = [];
  const open = new Map<string, NodeRun>();
  for (const e of events) {
    const node = String(e.data.node ?? '');
    if (e.type === 'status' && e.data.retry) open.clear();
    if (e.type === 'node_start') {
      // generate starts before its attempt is counted: it works on attempt + 1.
      const attempt = Number(e.data.attempt ?? 0) + (node === 'generate' ? 1 : 0);
      const run: NodeRun = { key: `${e.seq}`, node, attempt, startedAt: e.ts, durationMs: null };
      runs.push(run);
      open.set(node, run);
    } else if (e.type === 'node_end') {
      const run = open.get(node);
      if (run) {
        run.durationMs = Number(e.data.duration_ms ?? 0);
        open.delete(node);
      }
    }
  }
  return runs;
}

/** A readable duration: 850 ms, 12.3 s, 4 min 05 s. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')} s`;
}

/**
 * Dollars with sense for tiny amounts. Calls to a model with no known price cost an unknown
 * amount, so they show as "unpriced" (or "+ unpriced" beside what the priced calls cost), never $0.
 */
export function formatCost(usd: number, unpricedCalls = 0): string {
  const dollars = usd === 0 ? '$0' : usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
  if (unpricedCalls === 0) return dollars;
  return usd === 0 ? 'unpriced' : `${dollars} + unpriced`;
}
