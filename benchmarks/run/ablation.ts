import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FixwrightError } from '../../core/errors.js';
import { DEFAULT_RANK_CONFIG, type RankConfig } from '../../localisation/index.js';
import type { EvalReport } from '../eval/report.js';
import type { benchReport } from './run-bench.js';

/** What `--ablate` can switch off. */
export const ABLATIONS = ['bm25', 'embeddings', 'pagerank', 'conformal', 'reflection'] as const;
export type Ablation = (typeof ABLATIONS)[number];

/** One variant of a run: the full system, or it without one part. */
export interface Variant {
  name: 'full' | `no-${Ablation}`;
  rankConfig: RankConfig;
  embeddings: boolean;
  conformal: boolean;
  /** Without reflection an instance gets one attempt: no failure is reflected on and retried. */
  maxAttempts?: number;
}

/** Parses `--ablate a,b`: the full run first, then one variant per part switched off. */
export function ablationVariants(list: string): Variant[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(ABLATIONS as readonly string[]).includes(n));
  if (unknown.length || names.length === 0) throw new FixwrightError('FW_ERR_BAD_INPUT', `--ablate takes some of ${ABLATIONS.join(', ')} (got ${list})`, { field: '--ablate' });
  const full: Variant = { name: 'full', rankConfig: DEFAULT_RANK_CONFIG, embeddings: true, conformal: true };
  const off = (signal: 'bm25' | 'embeddings' | 'pagerank'): RankConfig => ({ ...DEFAULT_RANK_CONFIG, weights: { ...DEFAULT_RANK_CONFIG.weights, [signal]: 0 } });
  return [
    full,
    ...[...new Set(names as Ablation[])].map((name): Variant => {
      if (name === 'conformal') return { ...full, name: 'no-conformal', conformal: false };
      if (name === 'reflection') return { ...full, name: 'no-reflection', maxAttempts: 1 };
      return { ...full, name: `no-${name}`, rankConfig: off(name), embeddings: name !== 'embeddings' };
    }),
  ];
}

/** One variant's row: its run's figures and, with `--eval`, the official verdicts on its predictions. */
export interface AblationRow {
  variant: string;
  report: ReturnType<typeof benchReport>;
  official?: EvalReport;
}

/** Writes `ablation.json` and `ablation.md`: one row per variant, the full run first. */
export function writeAblationTable(out: string, rows: readonly AblationRow[]): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const scored = rows.some((r) => r.official);
  const lines = [
    '# Ablation (fixwright bench --ablate)',
    '',
    scored
      ? "Official resolved: each variant's predictions scored by `fixwright eval` (the official rule). Agent resolved: the agent's own verdict. Localisation against the gold files."
      : "The agent's own verdicts and localisation against the gold files; rerun with `--eval` (or score each variant's predictions with `fixwright eval`) for the official resolved rate.",
    '',
    `| variant |${scored ? ' official resolved |' : ''} agent resolved | unverified | failed | errors | R@1 | R@5 | conformal coverage | mean set | tokens | cost |`,
    `| --- |${scored ? ' ---: |' : ''} ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
    ...rows.map(({ variant, report: r, official }) => {
      const s = r.agent_status as Record<string, number>;
      const o = !scored ? '' : official ? ` ${official.resolved_ids.length}/${official.submitted_ids.length} (${pct(official.resolved_rate)}) |` : ' – |';
      return `| ${variant} |${o} ${s.resolved}/${r.instance_count} | ${s.unverified} | ${s.failed} | ${s.error} | ${pct(r.localisation.recall_at_1)} | ${pct(r.localisation.recall_at_5)} | ${pct(r.localisation.conformal_coverage)} | ${r.localisation.mean_set_size.toFixed(1)} | ${r.tokens.input + r.tokens.output} | $${r.cost_usd.toFixed(2)} |`;
    }),
    '',
  ];
  const kept = rows.map(({ variant, report, official }) => ({ variant, report, ...(official ? { official: { resolved_ids: official.resolved_ids, submitted_ids: official.submitted_ids, resolved_rate: official.resolved_rate, per_repo: official.per_repo } } : {}) }));
  writeFileSync(join(out, 'ablation.json'), `${JSON.stringify(kept, null, 1)}\n`);
  writeFileSync(join(out, 'ablation.md'), lines.join('\n'));
  return lines.join('\n');
}
