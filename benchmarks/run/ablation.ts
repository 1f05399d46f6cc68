import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocaliser, DEFAULT_SAMPLES, shippedCalibration } from '../../agent/index.js';
import { type Settings, FixwrightError } from '../../core/index.js';
import { DEFAULT_RANK_CONFIG, type Localiser, type RankConfig } from '../../localisation/index.js';
import type { Calibration } from '../../uncertainty/index.js';
import type { EvalReport } from '../eval/report.js';
import type { benchReport } from './solve-instances.js';

/** What `--ablate` can switch off (`selection`: sampling several candidates and picking one). */
export const ABLATIONS = ['bm25', 'embeddings', 'pagerank', 'conformal', 'reflection', 'selection'] as const;
export type Ablation = (typeof ABLATIONS)[number];

/** Candidates per attempt of the sampled run in `--ablate selection` when `--samples` asks for none (is 1). */
export const SELECTION_ABLATION_SAMPLES = 4;

/**
 * One variant of a run: the full system, or it without one part. With `selection` ablated the full
 * run samples N candidates and is named `samples-N`; the variant without selection is `samples-1`.
 */
export interface Variant {
  name: 'full' | `no-${Exclude<Ablation, 'selection'>}` | `samples-${number}`;
  /** RRF with this config (a signal's weight at 0); none: the shipped ranking (the learned fusion). */
  rankConfig?: RankConfig;
  embeddings: boolean;
  conformal: boolean;
  /** Without reflection an instance gets one attempt: no failure is reflected on and retried. */
  maxAttempts?: number;
  /** Candidate fixes per attempt. */
  samples: number;
}

/**
 * Parses `--ablate a,b`: the full run first, then one variant per part switched off, all at
 * `samples` candidates per attempt. With `selection` in the list the full run (and every other
 * variant) draws N = `samples` candidates, or SELECTION_ABLATION_SAMPLES when `samples` is 1, and is
 * named `samples-N`; `selection` adds `samples-1`, the same system drawing one candidate.
 */
export function ablationVariants(list: string, samples: number = DEFAULT_SAMPLES): Variant[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(ABLATIONS as readonly string[]).includes(n));
  if (unknown.length || names.length === 0)
    throw new FixwrightError('FW_ERR_BAD_INPUT', `--ablate takes some of ${ABLATIONS.join(', ')} (got ${list})`, {
      field: '--ablate',
    });
  const selection = names.includes('selection');
  const n = selection && samples <= 1 ? SELECTION_ABLATION_SAMPLES : samples;
  const full: Variant = { name: selection ? `samples-${n}` : 'full', embeddings: true, conformal: true, samples: n };
  const off = (signal: 'bm25' | 'embeddings' | 'pagerank'): RankConfig => ({
    ...DEFAULT_RANK_CONFIG,
    weights: { ...DEFAULT_RANK_CONFIG.weights, [signal]: 0 },
  });
  return [
    full,
    ...[...new Set(names as Ablation[])].map((name): Variant => {
      if (name === 'conformal') return { ...full, name: 'no-conformal', conformal: false };
      if (name === 'reflection') return { ...full, name: 'no-reflection', maxAttempts: 1 };
      if (name === 'selection') return { ...full, name: 'samples-1', samples: 1 };
      // The learned fusion reads every signal it was fitted on, so a signal is switched off in RRF; the
      // shipped calibration is the learned fusion's, so such a variant cuts no set (the top 3), said in
      // the table rather than left to the agent's per-instance warning.
      return {
        ...full,
        name: `no-${name}`,
        rankConfig: off(name),
        embeddings: name !== 'embeddings',
        conformal: false,
      };
    }),
  ];
}

/** What a variant localises with: its localiser, the calibration the agent gets, and a line for the table. */
export interface VariantLocalisation {
  localiser: Localiser;
  calibration: Calibration | null;
  description: string;
}

/**
 * Builds a variant's localiser and calibration (no variant: the shipped system). The description
 * says what the agent will do with them: a calibration fitted on another ranker cuts no set.
 */
export function variantLocalisation(settings: Settings, variant?: Variant): VariantLocalisation {
  const localiser = createLocaliser(
    settings,
    variant ? { config: variant.rankConfig, embeddings: variant.embeddings } : {},
  );
  const calibration = variant && !variant.conformal ? null : (shippedCalibration() ?? null);
  const zeroed = variant?.rankConfig
    ? Object.entries(variant.rankConfig.weights)
        .filter(([s, w]) => w === 0 && DEFAULT_RANK_CONFIG.weights[s as keyof RankConfig['weights']] !== 0)
        .map(([s]) => s)
    : [];
  const ranking = localiser.fusion ? 'learned fusion' : `RRF${zeroed.length ? ` (${zeroed.join(', ')} weight 0)` : ''}`;
  const embedder = variant && !variant.embeddings ? ', no embedder' : '';
  const cut = !calibration
    ? 'no conformal set (top 3 files)'
    : calibration.ranker === localiser.rankerName
      ? `conformal set (${calibration.method}, α ${calibration.alpha})`
      : `no conformal set (top 3 files: the calibration is ${calibration.ranker}'s)`;
  return { localiser, calibration, description: `${ranking}${embedder}, ${cut}` };
}

/** One variant's row: its run's figures and, with `--eval`, the official verdicts on its predictions. */
export interface AblationRow {
  variant: string;
  /** How the variant localised (`variantLocalisation`'s description). */
  localisation?: string;
  report: ReturnType<typeof benchReport>;
  official?: EvalReport;
}

/**
 * A variant's cost per resolved instance: the official verdicts when the table has them, else the
 * agent's own; null when it resolved none.
 */
export function costPerResolved(row: AblationRow, scored: boolean): number | null {
  const resolved = scored
    ? (row.official?.resolved_ids.length ?? 0)
    : ((row.report.agent_status as Record<string, number>).resolved ?? 0);
  return resolved > 0 ? row.report.cost_usd / resolved : null;
}

/** Attempts over every instance of a run (from its histogram of attempts per instance). */
function attemptsOf(report: ReturnType<typeof benchReport>): number {
  return Object.entries(report.attempts_histogram).reduce((s, [k, n]) => s + Number(k) * n, 0);
}

/**
 * Candidates drawn per attempt, on average, over a variant's run (from its report's candidates_drawn):
 * below `samples` when the cost cap stopped sampling; null when it made no attempt.
 */
export function meanDrawn(report: ReturnType<typeof benchReport>): number | null {
  const attempts = attemptsOf(report);
  return attempts > 0 ? report.candidates_drawn / attempts : null;
}

const drawnText = (x: number | null) => (x === null ? '–' : x.toFixed(1));

/**
 * Writes `ablation.json` and `ablation.md`: one row per variant, the full run first. `priced: false`
 * (a model fixwright has no price for) writes the cost columns as `unpriced`, not $0.
 */
export function writeAblationTable(
  out: string,
  rows: readonly AblationRow[],
  options: { priced?: boolean } = {},
): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const scored = rows.some((r) => r.official);
  const priced = options.priced ?? true;
  const usd = (x: number | null) => (!priced ? 'unpriced' : x === null ? '–' : `$${x.toFixed(2)}`);
  const basis = scored ? 'official' : 'agent';
  const lines = [
    '# Ablation (fixwright solve-dataset --ablate)',
    '',
    scored
      ? "Official resolved: each variant's predictions scored by `fixwright eval` (the official " +
        "rule). Agent resolved: the agent's own verdict. Localisation against the gold files."
      : "The agent's own verdicts and localisation against the gold files; rerun with `--eval` (or " +
        "score each variant's predictions with `fixwright eval`) for the official resolved rate.",
    '',
    `Samples: candidate fixes asked for per attempt; drawn: the mean drawn per attempt (fewer when ` +
      `--max-cost stopped sampling). Cost ` +
      `per ${basis} resolved: the variant's whole cost over the instances it resolved ` +
      `(${basis} verdicts); every variant is priced by the same table under the same per-instance --max-cost.`,
    '',
    ...(rows.some((r) => r.localisation)
      ? [
          `Localisation: ${rows.map((r) => `${r.variant}: ${r.localisation ?? '–'}`).join('; ')}. A ` +
            `variant that switches a signal off ranks by RRF (the learned fusion reads every signal ` +
            `it was fitted on) and cuts no set (the shipped calibration is the learned fusion's), so ` +
            `its R@k and resolved rate differ from full's by the fusion and the cut as well as the ` +
            `signal; \`fixwright localise --ablate\` measures each signal within RRF.`,
          '',
        ]
      : []),
    `| variant |${scored ? ' official resolved |' : ''} agent resolved | unverified | failed | ` +
      `errors | R@1 | R@5 | conformal coverage | mean set | samples | drawn | tokens | cost | cost per ${basis} resolved |`,
    `| --- |${scored ? ' ---: |' : ''} ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
    ...rows.map((row) => {
      const { variant, report: r, official } = row;
      const s = r.agent_status as Record<string, number>;
      const o = !scored
        ? ''
        : official
          ? ` ${official.resolved_ids.length}/${official.submitted_ids.length} (${pct(official.resolved_rate)}) |`
          : ' – |';
      const loc = r.localisation;
      const tokens = r.tokens.input + r.tokens.output;
      return (
        `| ${variant} |${o} ${s.resolved}/${r.instance_count} | ${s.unverified} | ${s.failed} | ${s.error} ` +
        `| ${pct(loc.recall_at_1)} | ${pct(loc.recall_at_5)} | ${pct(loc.conformal_coverage)} | ${loc.mean_set_size.toFixed(1)} ` +
        `| ${r.samples} | ${drawnText(meanDrawn(r))} | ${tokens} | ${usd(r.cost_usd)} | ${usd(costPerResolved(row, scored))} |`
      );
    }),
    '',
  ];
  const kept = rows.map((row) => ({
    variant: row.variant,
    ...(row.localisation ? { localisation: row.localisation } : {}),
    samples: row.report.samples,
    mean_candidates_drawn: meanDrawn(row.report),
    cost_per_resolved: { basis, usd: priced ? costPerResolved(row, scored) : null },
    report: row.report,
    ...(row.official
      ? {
          official: {
            resolved_ids: row.official.resolved_ids,
            submitted_ids: row.official.submitted_ids,
            resolved_rate: row.official.resolved_rate,
            per_repo: row.official.per_repo,
          },
        }
      : {}),
  }));
  writeFileSync(join(out, 'ablation.json'), `${JSON.stringify(kept, null, 1)}\n`);
  writeFileSync(join(out, 'ablation.md'), lines.join('\n'));
  return lines.join('\n');
}
