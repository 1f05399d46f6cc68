import { BUG_KINDS, type BugKind } from './inject.js';

/** One case's outcome under one tier. */
export interface CaseResult {
  kind: BugKind;
  tier: 'rule' | 'model';
  status: string;
  /** The targeted diagnostics are gone and nothing is reported that the clean file did not have. */
  fixed: boolean;
  /** Edits came back, applied and parsed. */
  valid: boolean;
  answered: boolean;
  exactRestore: boolean;
  /** Lines the fix changed, and lines the inverse mutation changes. */
  changedLines: number;
  inverseLines: number;
  totalMs: number;
  modelMs: number;
  overheadMs: number;
  /** Why there were no edits, or what verification said. */
  reason?: string;
}

/** The figures for one group of cases. */
export interface Figures {
  cases: number;
  fix_rate: number;
  answered_rate: number;
  validity: number;
  exact_restore_rate: number;
  /** Mean of changed lines over the inverse mutation's, among fixed cases (1 = as small as the inverse). */
  minimality: number | null;
  latency_ms: { p50: number; p95: number };
  overhead_ms: { p50: number; p95: number };
  model_ms: { p50: number; p95: number };
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! * 100) / 100;
}

const rate = (n: number, d: number) => (d === 0 ? 0 : Math.round((n / d) * 1000) / 1000);

/** Aggregates case results into the report's figures. */
export function figures(results: readonly CaseResult[]): Figures {
  const fixed = results.filter((r) => r.fixed);
  const ratio = fixed.filter((r) => r.inverseLines > 0).map((r) => r.changedLines / r.inverseLines);
  return {
    cases: results.length,
    fix_rate: rate(fixed.length, results.length),
    answered_rate: rate(results.filter((r) => r.answered).length, results.length),
    validity: rate(results.filter((r) => r.valid).length, results.length),
    exact_restore_rate: rate(results.filter((r) => r.exactRestore).length, results.length),
    minimality: ratio.length ? Math.round((ratio.reduce((a, b) => a + b, 0) / ratio.length) * 100) / 100 : null,
    latency_ms: {
      p50: percentile(
        results.map((r) => r.totalMs),
        50,
      ),
      p95: percentile(
        results.map((r) => r.totalMs),
        95,
      ),
    },
    overhead_ms: {
      p50: percentile(
        results.map((r) => r.overheadMs),
        50,
      ),
      p95: percentile(
        results.map((r) => r.overheadMs),
        95,
      ),
    },
    model_ms: {
      p50: percentile(
        results.map((r) => r.modelMs),
        50,
      ),
      p95: percentile(
        results.map((r) => r.modelMs),
        95,
      ),
    },
  };
}

/** Figures per tier, per bug kind and over all kinds. */
export function tierTables(results: readonly CaseResult[]): Record<string, Record<string, Figures>> {
  const out: Record<string, Record<string, Figures>> = {};
  for (const tier of ['rule', 'model'] as const) {
    const mine = results.filter((r) => r.tier === tier);
    if (mine.length === 0) continue;
    out[tier] = {};
    for (const kind of BUG_KINDS) {
      const ofKind = mine.filter((r) => r.kind === kind);
      if (ofKind.length) out[tier]![kind] = figures(ofKind);
    }
    out[tier]!.all = figures(mine);
  }
  return out;
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Said of the scripted model, whose answers are the cases' own inverse mutations. */
const SCRIPTED_NOTE =
  ' (the scripted model answers each case with its inverse mutation: its fix rate means nothing; ' +
  "its overhead column is fixwright's own time per request)";

/** One Markdown table row. */
const tableRow = (cells: ReadonlyArray<string | number>) => `| ${cells.join(' | ')} |`;

/** The Markdown report: one table per tier. */
export function markdownReport(report: {
  corpus: string;
  seed: number;
  files: number;
  injected: Record<string, number>;
  model: string | null;
  tiers: Record<string, Record<string, Figures>>;
}): string {
  const injected = Object.entries(report.injected)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lines = [
    '# fixwright edit-bench',
    '',
    `Corpus: \`${report.corpus}\` (${report.files} clean Python files), seed ${report.seed}. ` +
      `Injected bugs kept (reported by pyflakes or the parser): ${injected}.`,
    `Model tier: ${report.model ?? 'not run'}${report.model === 'scripted' ? SCRIPTED_NOTE : ''}.`,
    '',
  ];
  for (const [tier, table] of Object.entries(report.tiers)) {
    lines.push(
      `## ${tier} tier`,
      '',
      '| bug kind | cases | fix rate | answered | valid | exact restore | minimality | p50 ms | p95 ms | overhead p50 | overhead p95 |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const [kind, f] of Object.entries(table)) {
      lines.push(
        tableRow([
          kind,
          f.cases,
          pct(f.fix_rate),
          pct(f.answered_rate),
          pct(f.validity),
          pct(f.exact_restore_rate),
          f.minimality ?? '–',
          f.latency_ms.p50,
          f.latency_ms.p95,
          f.overhead_ms.p50,
          f.overhead_ms.p95,
        ]),
      );
    }
    lines.push('');
  }
  lines.push(
    'Fix: the injected diagnostics are gone and pyflakes reports nothing the clean file did not. ' +
      'Valid: edits came back, applied and parsed. ' +
      "Minimality: changed lines over the inverse mutation's, among fixed cases. " +
      'Overhead: total latency minus time waiting for the model.',
    '',
  );
  return lines.join('\n');
}
