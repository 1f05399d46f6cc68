import { FixwrightError } from '../core/index.js';
import {
  DEFAULT_RANK_CONFIG,
  fileFeatures,
  fusionConfig,
  type Localiser,
  rankFiles,
  type FusionModel,
  featureNames,
  fitLogistic,
  type LogisticModel,
  probability,
  type Ranking,
  type Signal,
} from '../localisation/index.js';
import {
  crossFit,
  type ConformalMethod,
  type ConformalParams,
  calibrate,
  type Calibration,
  DEFAULT_LEARNED_METHOD,
} from '../uncertainty/index.js';
import type { SwebenchRow } from './dataset.js';
import {
  forEachUsableRow,
  recallFigures,
  setSizeFigures,
  type SetSizeFigures,
  type SkippedInstance,
} from './localise-eval.js';

/** One tuning row's rankings: every signal's list, the hand-weighted RRF ranking, and its gold files. */
export interface CollectedRow {
  instance_id: string;
  repo: string;
  /** Which dataset file it came from (figures are reported per file). */
  dataset: string;
  gold: string[];
  /** Every file the index holds (files no signal found follow the ranking at probability 0). */
  candidates: string[];
  signals: Partial<Record<Signal, Ranking>>;
  /** The default (RRF) ranking of the same row, the baseline the learned fusion must beat. */
  rrf: string[];
}

/** A row's candidate files, most probable first, under one logistic model. */
function rankRow(
  model: LogisticModel,
  signals: readonly Signal[],
  row: CollectedRow,
): Array<{ path: string; score: number }> {
  const scored = fileFeatures(row.signals, signals).map((f) => ({ path: f.path, score: probability(model, f.x) }));
  const found = new Set(scored.map((f) => f.path));
  for (const path of row.candidates) if (!found.has(path)) scored.push({ path, score: 0 });
  return scored.sort((a, b) => b.score - a.score || a.path.localeCompare(b.path));
}

const examplesOf = (rows: readonly CollectedRow[], signals: readonly Signal[]) =>
  rows.flatMap((row) =>
    fileFeatures(row.signals, signals).map((f) => ({ x: f.x, y: (row.gold.includes(f.path) ? 1 : 0) as 0 | 1 })),
  );

/**
 * Repository-wise cross-validation: each repository's rows are ranked by a model fitted on the
 * other repositories only, so the figures say how the fusion does on a repository it never saw.
 */
export function outOfFold(
  rows: readonly CollectedRow[],
  signals: readonly Signal[],
  l2: number,
): { ranked: Array<Array<{ path: string; score: number }>>; folds: Record<string, LogisticModel> } {
  const repos = [...new Set(rows.map((r) => r.repo))].sort();
  const folds: Record<string, LogisticModel> = {};
  const ranked: Array<Array<{ path: string; score: number }>> = new Array(rows.length);
  for (const repo of repos) {
    const model = fitLogistic(
      examplesOf(
        rows.filter((r) => r.repo !== repo),
        signals,
      ),
      l2,
    );
    folds[repo] = model;
    rows.forEach((row, i) => {
      if (row.repo === repo) ranked[i] = rankRow(model, signals, row);
    });
  }
  return { ranked, folds };
}

/** Figures of one ranking of some rows: recall at 1/5/10 (all gold files) and MRR. */
export interface RankingFigures {
  n: number;
  r1: number;
  r5: number;
  r10: number;
  mrr: number;
}

function figuresOf(rows: ReadonlyArray<{ gold: string[]; ranked: string[] }>): RankingFigures {
  const f = recallFigures(rows);
  return { n: rows.length, r1: f.recall['1'], r5: f.recall['5'], r10: f.recall['10'], mrr: f.mrr };
}

/** What fitting reports: per dataset file, the RRF baseline against the learned fusion out of fold, and sets. */
export interface FusionFitReport {
  signals: Signal[];
  l2: number;
  /** Out-of-fold R@5 averaged over the dataset files at other L2 strengths: how much the fixed choice matters (nothing is chosen from it). */
  l2_search: Array<{ l2: number; mean_r5: number }>;
  per_dataset: Array<{ dataset: string; rrf: RankingFigures; learned: RankingFigures; sets: SetSizeFigures }>;
  /**
   * Per signal: out-of-fold R@5 per dataset file with the model refitted without that signal's
   * features (at the same L2). The rankings were collected with every signal on, so
   * a removed signal still seeds PageRank and co-change.
   */
  ablation: Array<{ signal: Signal; without: Record<string, number> }>;
  /** Conformal sets over the out-of-fold probabilities of every row (cross-fitted), per dataset file above. */
  conformal: {
    alpha: number;
    method: ConformalMethod;
    coverage: number;
    mean_set_size: number;
    fold_params: Array<ConformalParams | undefined>;
  };
}

/** Options of a fit. */
export interface FusionFitOptions {
  signals: Signal[];
  alpha: number;
  folds: number;
  /** How the sets are cut (default DEFAULT_LEARNED_METHOD). */
  method?: ConformalMethod;
  /** The L2 strength (default DEFAULT_L2). */
  l2?: number;
  /** Other strengths to report out-of-fold R@5 at (sensitivity only). */
  l2Sensitivity?: number[];
}

/**
 * Strong shrinkage: 98 rows and ~30 correlated rank features. Fixed once, from the first
 * exploratory fits on the tuning rows (disclosed in the README), not searched per fit.
 */
export const DEFAULT_L2 = 1000;

const perDataset = <T extends { dataset: string }>(rows: readonly T[]) => [...new Set(rows.map((r) => r.dataset))];

/** Mean out-of-fold R@5 over the dataset files, so the larger file does not decide alone. */
function meanR5(
  rows: readonly CollectedRow[],
  ranked: ReadonlyArray<ReadonlyArray<{ path: string }>>,
): Record<string, number> & { mean: number } {
  const out: Record<string, number> = {};
  for (const dataset of perDataset(rows)) {
    out[dataset] = figuresOf(
      rows.flatMap((r, i) => (r.dataset === dataset ? [{ gold: r.gold, ranked: ranked[i]!.map((f) => f.path) }] : [])),
    ).r5;
  }
  const values = Object.values(out);
  return Object.assign(out, { mean: values.reduce((a, b) => a + b, 0) / Math.max(1, values.length) });
}

/**
 * Fits the learned fusion on collected rows at one L2 strength, fixed beforehand rather than
 * chosen per fold: every fold model then shrinks alike, so their probabilities share one scale and
 * one calibration can pool them (an L2 picked per held-out repository made one fold's
 * probabilities ten times smaller and the pooled sets half as large again). Figures are
 * repository-wise: each repository's rows are ranked by a model fitted on the others. Reports the
 * RRF baseline against that, R@5 at other strengths (sensitivity, not selection), an ablation per
 * signal and the conformal sets of the out-of-fold probabilities; then fits the shipped model on
 * every row, keeping each left-out repository's model so later evaluations on these rows stay out
 * of fold.
 */
export function fitFusion(
  rows: readonly CollectedRow[],
  options: FusionFitOptions,
  rankerName: (model: FusionModel) => string,
): { model: FusionModel; report: FusionFitReport; calibration: Calibration } {
  const { signals } = options;
  const repos = [...new Set(rows.map((r) => r.repo))];
  if (repos.length < 2)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `fitting the fusion needs rows from at least 2 repositories (it is cross-validated by repository); got ${repos.length}`,
      { field: 'dataset' },
    );
  const l2 = options.l2 ?? DEFAULT_L2;
  const scored = (options.l2Sensitivity ?? [100, 300, 1000, 3000, 10000]).map((strength) => ({
    l2: strength,
    mean_r5: meanR5(rows, outOfFold(rows, signals, strength).ranked).mean,
  }));
  const best = outOfFold(rows, signals, l2);

  const instances = rows.map((r, i) => ({ ranked: best.ranked[i]!, gold: r.gold }));
  const method = options.method ?? DEFAULT_LEARNED_METHOD;
  const fitted = crossFit(instances, { alpha: options.alpha, method, folds: options.folds });
  const perDatasetFigures = perDataset(rows).map((dataset) => {
    const idx = rows.flatMap((r, i) => (r.dataset === dataset ? [i] : []));
    return {
      dataset,
      rrf: figuresOf(idx.map((i) => ({ gold: rows[i]!.gold, ranked: rows[i]!.rrf }))),
      learned: figuresOf(idx.map((i) => ({ gold: rows[i]!.gold, ranked: best.ranked[i]!.map((f) => f.path) }))),
      sets: setSizeFigures(idx.map((i) => ({ gold: rows[i]!.gold, set: fitted.sets[i]! }))),
    };
  });
  const ablation = signals.map((signal) => {
    const kept = signals.filter((s) => s !== signal);
    const { mean: _mean, ...without } = meanR5(rows, outOfFold(rows, kept, l2).ranked);
    return { signal, without };
  });

  const all = fitLogistic(examplesOf(rows, signals), l2);
  const model: FusionModel = {
    version: 1,
    signals: [...signals],
    features: featureNames(signals),
    l2,
    ...all,
    folds: best.folds,
    trainedOn: Object.fromEntries(rows.map((r) => [r.instance_id, r.repo])),
    created: new Date().toISOString(),
  };
  // Calibrated on the out-of-fold probabilities: in-sample ones would be too confident, and the sets too small.
  const calibration = calibrate(instances, { alpha: options.alpha, method, ranker: rankerName(model) });
  const report: FusionFitReport = {
    signals: [...signals],
    l2,
    l2_search: scored,
    per_dataset: perDatasetFigures,
    ablation,
    conformal: {
      alpha: options.alpha,
      method,
      coverage: fitted.coverage,
      mean_set_size: fitted.meanSetSize,
      fold_params: fitted.params,
    },
  };
  return { model, report, calibration };
}

/**
 * Indexes and ranks every row once, keeping every signal's list (computed as a fusion reading
 * `signals` would compute them) and the localiser's own ranking as the baseline.
 */
export async function collectRankings(
  rows: ReadonlyArray<SwebenchRow & { dataset: string }>,
  options: {
    reposDir: string;
    localiser: Localiser;
    signals: readonly Signal[];
    onProgress?: (done: number, total: number, id: string) => void;
  },
): Promise<{ collected: CollectedRow[]; skipped: SkippedInstance[] }> {
  const collected: CollectedRow[] = [];
  const config = fusionConfig(DEFAULT_RANK_CONFIG, { signals: [...options.signals] });
  const skipped = await forEachUsableRow(rows, options, async (row, gold, gitDir) => {
    const index = await options.localiser.index({ kind: 'git', gitDir, commit: row.base_commit });
    // The history is read in the background while indexing; ranking before it is in would read it twice.
    await options.localiser.prepare(index);
    const all = await rankFiles(index, row.problem_statement, config, await options.localiser.denseRanker(index));
    const baseline = await options.localiser.rank(index, row.problem_statement);
    collected.push({
      instance_id: row.instance_id,
      repo: row.repo,
      dataset: row.dataset,
      gold,
      candidates: index.summaries.map((s) => s.path),
      signals: all.signals,
      rrf: baseline.files.map((f) => f.path),
    });
  });
  return { collected, skipped };
}
