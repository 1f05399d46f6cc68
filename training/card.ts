import { renameSync, writeFileSync } from 'node:fs';
import { rowTokens } from './format.js';
import type { Skipped } from './pairs.js';

/** What the exporter records beside the data: how it was made and what it holds. */
export interface ExportCard {
  created: string;
  format: 'sft' | 'dpo';
  style: string;
  trust: string;
  eval_reports: string[];
  max_tokens: number;
  val_fraction: number;
  files_read: number;
  runs: number;
  runs_passing: number;
  problems: number;
  dropped: { duplicate: number; over_budget: number; secret: number; gold_leak: number };
  /**
   * The candidates of the runs (issue 17: an attempt may draw several): how many were read, how
   * many runs drew more than one in an attempt, the losing candidates that gave no pair and why,
   * and the DPO rows whose rejected answer was drawn from another prompt (another context cut)
   * and is paired on the winner's.
   */
  candidates: { traces: number; runs_sampled: number; skipped: Skipped; other_prompt: number };
  rows: number;
  per_kind: Record<string, number>;
  per_repo: Record<string, { split: string; rows: number; per_kind: Record<string, number> }>;
  splits: Record<string, number>;
  tokens: { min: number; median: number; p95: number; max: number; mean: number; total: number };
}

/** `FILE.jsonl` → `FILE` (the card's name stem). */
export const cardStem = (out: string) => out.replace(/\.jsonl$/, '');

function stats(values: number[]): ExportCard['tokens'] {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const total = sorted.reduce((a, b) => a + b, 0);
  return {
    min: sorted[0] ?? 0,
    median: at(0.5),
    p95: at(0.95),
    max: sorted.at(-1) ?? 0,
    mean: sorted.length ? Math.round(total / sorted.length) : 0,
    total,
  };
}

function cardMarkdown(card: ExportCard, out: string): string {
  const kinds = Object.keys(card.per_kind).sort();
  const { tokens: t, candidates: c, dropped: d } = card;
  return [
    `# Training data card: ${out}`,
    '',
    `${card.rows} ${card.format.toUpperCase()} rows (${card.style}) from ${card.runs} runs in ${card.files_read} trajectory files, made ${card.created}.`,
    '',
    `**Trust:** ${card.trust}${card.eval_reports.length ? ` (${card.eval_reports.join(', ')})` : ''}. ` +
      `Runs counted as passing: ${card.runs_passing} of ${card.runs}.`,
    '',
    '| kind | rows |',
    '| --- | ---: |',
    ...kinds.map((k) => `| ${k} | ${card.per_kind[k]} |`),
    '',
    `| repository | split | rows | ${kinds.join(' | ')} |`,
    `| --- | --- | ---: |${kinds.map(() => ' ---: |').join('')}`,
    ...Object.entries(card.per_repo).map(
      ([repo, r]) => `| ${repo} | ${r.split} | ${r.rows} | ${kinds.map((k) => r.per_kind[k] ?? 0).join(' | ')} |`,
    ),
    '',
    `Splits by repository (no repository in both): ${Object.entries(card.splits)
      .map(([s, n]) => `${s} ${n}`)
      .join(', ')} (validation fraction asked: ${card.val_fraction}).`,
    '',
    `Tokens per row (estimated as characters / 4): min ${t.min}, median ${t.median}, p95 ${t.p95}, max ${t.max}, ` +
      `mean ${t.mean}, total ${t.total}; budget ${card.max_tokens}.`,
    '',
    `Candidates: ${c.traces} read (${c.runs_sampled} runs drew several in an attempt). ` +
      `Losing candidates left out: ${c.skipped.equivalent} equivalent to the winner or to one used, ` +
      `${c.skipped.passed_tests} that passed their tests (they lost on selection), ${c.skipped.untested} never tested, ` +
      `${c.skipped.no_diagnosis} failed without a recorded diagnosis.` +
      (card.format === 'dpo'
        ? ` ${c.other_prompt} rows pair a rejected answer drawn from another context cut on the winner's prompt.`
        : ''),
    '',
    `Dropped: ${d.duplicate} duplicate, ${d.over_budget} over the token budget, ${d.secret} holding a key, ` +
      `${d.gold_leak} holding a benchmark's gold patch or test patch. ` +
      `Trajectory problems reported and skipped: ${card.problems}.`,
    '',
  ].join('\n');
}

/** Counts the rows and writes `FILE.card.json` and `FILE.card.md` (each through a temporary file). */
export function writeCard(
  out: string,
  rows: ReadonlyArray<Record<string, unknown>>,
  meta: Omit<ExportCard, 'created' | 'rows' | 'per_kind' | 'per_repo' | 'splits' | 'tokens'>,
): ExportCard {
  const perKind: Record<string, number> = {};
  const perRepo: ExportCard['per_repo'] = {};
  const splits: Record<string, number> = {};
  for (const row of rows) {
    const kind = String(row.kind);
    const repo = String(row.repo);
    const split = String(row.split);
    perKind[kind] = (perKind[kind] ?? 0) + 1;
    splits[split] = (splits[split] ?? 0) + 1;
    const entry = (perRepo[repo] ??= { split, rows: 0, per_kind: {} });
    entry.rows += 1;
    entry.per_kind[kind] = (entry.per_kind[kind] ?? 0) + 1;
  }
  const card: ExportCard = {
    created: new Date().toISOString(),
    ...meta,
    rows: rows.length,
    per_kind: perKind,
    per_repo: perRepo,
    splits,
    tokens: stats(rows.map(rowTokens)),
  };
  const stem = cardStem(out);
  for (const [path, text] of [
    [`${stem}.card.json`, `${JSON.stringify(card, null, 1)}\n`],
    [`${stem}.card.md`, cardMarkdown(card, out)],
  ] as const) {
    writeFileSync(`${path}.tmp-${process.pid}`, text);
    renameSync(`${path}.tmp-${process.pid}`, path);
  }
  return card;
}
