import { FixwrightError } from '../core/errors.js';
import { DEFAULT_RANK_CONFIG, fileFeatures, fusionConfig, type Localiser, rankFiles, type FusionModel, featureNames, fitLogistic, type LogisticModel, probability, type Ranking, type Signal } from '../localisation/index.js';
import { crossFit, type ConformalMethod, calibrate, type Calibration } from '../uncertainty/index.js';
import { changedFiles, type SwebenchRow } from './dataset.js';
import { findGitDir, recallFigures, setSizeFigures, type SetSizeFigures, type SkippedInstance } from './localise-eval.js';

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
function rankRow(model: LogisticModel, signals: readonly Signal[], row: CollectedRow): Array<{ path: string; score: number }> {
  const scored = fileFeatures(row.signals, signals).map((f) => ({ path: f.path, score: probability(model, f.x) }));
  const found = new Set(scored.map((f) => f.path));
  for (const path of row.candidates) if (!found.has(path)) scored.push({ path, score: 0 });
  return scored.sort((a, b) => b.score - a.score || a.path.localeCompare(b.path));
}

const examplesOf = (rows: readonly CollectedRow[], signals: readonly Signal[]) =>
  rows.flatMap((row) => fileFeatures(row.signals, signals).map((f) => ({ x: f.x, y: (row.gold.includes(f.path) ? 1 : 0) as 0 | 1 })));

/**
 * Repository-wise cross-validation: each repository's rows are ranked by a model fitted on the
 * other repositories only, so the figures say how the fusion does on a repository it never saw.
 */
export function outOfFold(rows: readonly CollectedRow[], signals: readonly Signal[], l2: number): { ranked: Array<Array<{ path: string; score: number }>>; folds: Record<string, LogisticModel> } {
  const repos = [...new Set(rows.map((r) => r.repo))].sort();
  const folds: Record<string, LogisticModel> = {};
  const ranked: Array<Array<{ path: string; score: number }>> = new Array(rows.length);
  for (const repo of repos) {
    const model = fitLogistic(examplesOf(rows.filter((r) => r.repo !== repo), signals), l2);
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
  /** Out-of-fold R@5 averaged over the dataset files, per L2 strength tried on all rows (the best is the shipped model's). */
  l2_search: Array<{ l2: number; mean_r5: number }>;
  /** Per held-out repository, the L2 chosen on the other repositories (the nested figures use it). */
  nested_l2: Record<string, number>;
  per_dataset: Array<{ dataset: string; rrf: RankingFigures; learned: RankingFigures; sets: SetSizeFigures }>;
  /**
   * Per signal: out-of-fold R@5 per dataset file with the model refitted without that signal's
   * features (at the shipped L2, not nested). The rankings were collected with every signal on, so
   * a removed signal still seeds PageRank and co-change.
   */
  ablation: Array<{ signal: Signal; without: Record<string, number> }>;
  /** Conformal sets over the out-of-fold probabilities of every row (cross-fitted), per dataset file above. */
  conformal: { alpha: number; method: ConformalMethod; coverage: number; mean_set_size: number };
}

/** Options of a fit. */
export interface FusionFitOptions {
  signals: Signal[];
  alpha: number;
  folds: number;
  /** L2 strengths to try; the one with the best mean out-of-fold R@5 is kept. */
  l2Grid?: number[];
}

const perDataset = <T extends { dataset: string }>(rows: readonly T[]) => [...new Set(rows.map((r) => r.dataset))];

/** Mean out-of-fold R@5 over the dataset files, so the larger file does not decide alone. */
function meanR5(rows: readonly CollectedRow[], ranked: ReadonlyArray<ReadonlyArray<{ path: string }>>): Record<string, number> & { mean: number } {
  const out: Record<string, number> = {};
  for (const dataset of perDataset(rows)) {
    out[dataset] = figuresOf(rows.flatMap((r, i) => (r.dataset === dataset ? [{ gold: r.gold, ranked: ranked[i]!.map((f) => f.path) }] : []))).r5;
  }
  const values = Object.values(out);
  return Object.assign(out, { mean: values.reduce((a, b) => a + b, 0) / Math.max(1, values.length) });
}

/** The L2 strength of `grid` with the best mean out-of-fold R@5 on `rows`, and every strength's figure. */
function chooseL2(rows: readonly CollectedRow[], signals: readonly Signal[], grid: readonly number[]) {
  const scored = grid.map((l2) => ({ l2, mean_r5: meanR5(rows, outOfFold(rows, signals, l2).ranked).mean }));
  return { l2: scored.reduce((b, s) => (s.mean_r5 > b.mean_r5 ? s : b)).l2, scored };
}

/**
 * Fits the learned fusion on collected rows. Figures are nested and repository-wise: each
 * repository's rows are ranked by a model whose L2 was chosen, and whose weights were fitted, on
 * the other repositories only, so neither the weights nor the choice of L2 saw them. Reports the
 * RRF baseline against that, an ablation per signal, and the conformal sets of those
 * probabilities; then fits the shipped model on every row (L2 chosen by out-of-fold R@5 over all
 * rows), keeping each left-out repository's model so later evaluations on these rows stay out of fold.
 */
export function fitFusion(rows: readonly CollectedRow[], options: FusionFitOptions, rankerName: (model: FusionModel) => string): { model: FusionModel; report: FusionFitReport; calibration: Calibration } {
  const { signals } = options;
  const repos = [...new Set(rows.map((r) => r.repo))].sort();
  // Nested selection needs two repositories left to cross-validate on once one is held out.
  if (repos.length < 3) throw new FixwrightError('FW_ERR_BAD_INPUT', `fitting the fusion needs rows from at least 3 repositories (cross-validated by repository, nested); got ${repos.length}`, { field: 'dataset' });
  const grid = options.l2Grid ?? [10, 100, 1000, 10000];
  const folds: Record<string, LogisticModel> = {};
  const nestedL2: Record<string, number> = {};
  const ranked: Array<Array<{ path: string; score: number }>> = new Array(rows.length);
  for (const repo of repos) {
    const others = rows.filter((r) => r.repo !== repo);
    nestedL2[repo] = chooseL2(others, signals, grid).l2;
    folds[repo] = fitLogistic(examplesOf(others, signals), nestedL2[repo]!);
    rows.forEach((row, i) => {
      if (row.repo === repo) ranked[i] = rankRow(folds[repo]!, signals, row);
    });
  }
  const { l2, scored } = chooseL2(rows, signals, grid);
  const best = { ranked, folds };

  const instances = rows.map((r, i) => ({ ranked: best.ranked[i]!, gold: r.gold }));
  const fitted = crossFit(instances, { alpha: options.alpha, method: 'prob', folds: options.folds });
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
  const calibration = calibrate(instances, { alpha: options.alpha, method: 'prob', ranker: rankerName(model) });
  const report: FusionFitReport = {
    signals: [...signals],
    l2,
    l2_search: scored,
    nested_l2: nestedL2,
    per_dataset: perDatasetFigures,
    ablation,
    conformal: { alpha: options.alpha, method: 'prob', coverage: fitted.coverage, mean_set_size: fitted.meanSetSize },
  };
  return { model, report, calibration };
}

/**
 * Indexes and ranks every row once, keeping every signal's list (computed as a fusion reading
 * `signals` would compute them) and the localiser's own ranking as the baseline.
 */
export async function collectRankings(
  rows: ReadonlyArray<SwebenchRow & { dataset: string }>,
  options: { reposDir: string; localiser: Localiser; signals: readonly Signal[]; onProgress?: (done: number, total: number, id: string) => void },
): Promise<{ collected: CollectedRow[]; skipped: SkippedInstance[] }> {
  const collected: CollectedRow[] = [];
  const skipped: SkippedInstance[] = [];
  const seen = new Set<string>();
  let count = 0;
  for (const row of rows) {
    options.onProgress?.(count++, rows.length, row.instance_id);
    const gold = changedFiles(row.patch);
    const gitDir = findGitDir(options.reposDir, row.repo);
    const why = seen.has(row.instance_id)
      ? 'duplicate instance_id (the first row was used)'
      : gold.length === 0
        ? 'its patch changes no files, so there is nothing to find'
        : !gitDir
          ? `repository ${row.repo} not found under ${options.reposDir}`
          : !row.problem_statement.trim()
            ? 'empty problem_statement'
            : undefined;
    seen.add(row.instance_id);
    if (why || !gitDir) {
      skipped.push({ instance_id: row.instance_id, reason: why ?? 'no repository' });
      continue;
    }
    try {
      const index = await options.localiser.index({ kind: 'git', gitDir, commit: row.base_commit });
      const config = fusionConfig(DEFAULT_RANK_CONFIG, { signals: [...options.signals] });
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
    } catch (err) {
      skipped.push({ instance_id: row.instance_id, reason: (err as Error).message });
    }
  }
  options.onProgress?.(rows.length, rows.length, '');
  return { collected, skipped };
}
