import { join } from 'node:path';
import { type FusedFile, gitDirOf, goldFunctions, Localiser, rankFunctions } from '../localisation/index.js';
import { calibrate, type Calibration, type ConformalMethod, crossFit, predictionSet } from '../uncertainty/index.js';
import { changedFiles, type SwebenchRow } from './dataset.js';

/** One evaluated instance. */
export interface LocaliseInstanceResult {
  instance_id: string;
  gold: string[];
  ranked: string[];
  set: string[];
  /** Python files the repository's index held at the base commit (the candidates the set is cut from). */
  indexed_files: number;
  /** Per gold file the index holds: the symbols its patch changes (`<module>` for module-level lines). */
  gold_functions: Record<string, string[]>;
  /** Per gold file the index holds: its 10 symbols most related to the issue, best first. */
  top_functions: Record<string, string[]>;
}

/** Set sizes and coverage of some instances. */
export interface SetSizeFigures {
  instances: number;
  coverage: number;
  mean_set_size: number;
  set_size_p50: number;
  set_size_p90: number;
}

/** One repository-size bucket: instances whose index held `min`…`max` files (`max` null: no upper end). */
export interface RepoSizeBucket extends SetSizeFigures {
  bucket: string;
  min: number;
  max: number | null;
}

/** The report `fixwright localise --dataset … --json OUT` writes (keys fixed by the issue). */
export interface LocaliseReport {
  instances: number;
  recall: Record<'1' | '3' | '5' | '10', number>;
  recall_any: Record<'1' | '3' | '5' | '10', number>;
  mrr: number;
  conformal: {
    alpha: number;
    coverage: number;
    mean_set_size: number;
    set_size_p50: number;
    set_size_p90: number;
    by_repo_size: RepoSizeBucket[];
  };
  index_seconds: { p50: number; max: number };
  query_ms: { p50: number; p95: number };
  results: LocaliseInstanceResult[];
  /**
   * Function-level recall@k over all rows: of every gold function (see `goldFunctions`), the share
   * found among the top-k symbols of its file, counted only where the conformal set holds that file.
   * `gold_functions` is their number, `in_set` how many of them sit in a file the set holds.
   */
  function_recall: { '5': number; '10': number; gold_functions: number; in_set: number };
}

/** An instance that could not be evaluated, and why. */
export interface SkippedInstance {
  instance_id: string;
  reason: string;
}

const KS = ['1', '3', '5', '10'] as const;

function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * Repository-size buckets by indexed Python files (tests and docs left out). Sets grow with the
 * number of candidates, so a mean over all rows hides whether small repositories get small sets.
 * The cuts are round numbers, not fitted: every tuning repository indexes at most 200 files (the
 * largest, xarray, 122), so `<=200` is the size the calibration has seen; the ~1,100-file
 * repository that dominates SWE-bench Lite lands in `>1000`; `201-1000` keeps the repositories in
 * between apart from both.
 */
export const REPO_SIZE_BUCKETS: ReadonlyArray<{ bucket: string; min: number; max: number | null }> = [
  { bucket: '<=200', min: 0, max: 200 },
  { bucket: '201-1000', min: 201, max: 1000 },
  { bucket: '>1000', min: 1001, max: null },
];

/** Coverage (every gold file in the set) and set-size mean, p50 and p90 of some instances. */
export function setSizeFigures(results: ReadonlyArray<{ gold: string[]; set: string[] }>): SetSizeFigures {
  const sizes = results.map((r) => r.set.length);
  const n = results.length;
  return {
    instances: n,
    coverage: n ? results.filter((r) => r.gold.every((g) => r.set.includes(g))).length / n : 0,
    mean_set_size: n ? sizes.reduce((a, b) => a + b, 0) / n : 0,
    set_size_p50: quantile(sizes, 0.5),
    set_size_p90: quantile(sizes, 0.9),
  };
}

/** The set-size figures per repository-size bucket (every bucket, empty ones with 0 instances). */
export function setSizesByRepoSize(
  results: ReadonlyArray<{ gold: string[]; set: string[]; indexed_files: number }>,
): RepoSizeBucket[] {
  return REPO_SIZE_BUCKETS.map((b) => ({
    ...b,
    ...setSizeFigures(results.filter((r) => r.indexed_files >= b.min && (b.max === null || r.indexed_files <= b.max))),
  }));
}

/** Finds a repository's git directory under `DIR/<owner>/<name>` (bare, or a checkout with .git). */
export function findGitDir(reposDir: string, repo: string): string | undefined {
  return gitDirOf(join(reposDir, repo));
}

/** Recall@k (all gold / any gold), MRR and per-repository R@5 of a set of results. */
export function recallFigures(results: ReadonlyArray<{ gold: string[]; ranked: string[] }>) {
  const n = results.length || 1;
  const recall = {} as Record<(typeof KS)[number], number>;
  const recallAny = {} as Record<(typeof KS)[number], number>;
  for (const k of KS) {
    recall[k] =
      results.filter((r) => r.gold.length > 0 && r.gold.every((g) => r.ranked.slice(0, Number(k)).includes(g))).length /
      n;
    recallAny[k] = results.filter((r) => r.gold.some((g) => r.ranked.slice(0, Number(k)).includes(g))).length / n;
  }
  const mrr =
    results.reduce((sum, r) => {
      const first = r.ranked.findIndex((p) => r.gold.includes(p));
      return sum + (first >= 0 ? 1 / (first + 1) : 0);
    }, 0) / n;
  return { recall, recall_any: recallAny, mrr };
}

/** Function-level recall@5 and @10 over all rows (see `LocaliseReport.function_recall`). */
export function functionRecall(
  results: ReadonlyArray<{
    set: string[];
    gold_functions: Record<string, string[]>;
    top_functions: Record<string, string[]>;
  }>,
): LocaliseReport['function_recall'] {
  let total = 0;
  let inSet = 0;
  const found = { '5': 0, '10': 0 };
  for (const r of results) {
    for (const [path, fns] of Object.entries(r.gold_functions)) {
      total += fns.length;
      if (!r.set.includes(path)) continue;
      inSet += fns.length;
      const top = r.top_functions[path] ?? [];
      for (const k of ['5', '10'] as const) found[k] += fns.filter((f) => top.slice(0, Number(k)).includes(f)).length;
    }
  }
  return {
    '5': total ? found['5'] / total : 0,
    '10': total ? found['10'] / total : 0,
    gold_functions: total,
    in_set: inSet,
  };
}

/** Options of a dataset evaluation. */
export interface LocaliseEvalOptions {
  reposDir: string;
  alpha: number;
  folds: number;
  method: ConformalMethod;
  localiser: Localiser;
  onProgress?: (done: number, total: number, instanceId: string) => void;
  /** Cut every row with this calibration instead of cross-fitting one on the rows (does a calibration carry over to these rows?). */
  calibration?: Calibration;
}

/** Every instance's set under one fixed calibration, with the coverage it reached. */
function applyCalibration(
  instances: ReadonlyArray<{ ranked: readonly { path: string; score: number }[]; gold: readonly string[] }>,
  calibration: Calibration,
) {
  const sets = instances.map((i) => predictionSet(i.ranked, calibration.qhat, calibration.method, calibration.params));
  const covered = instances.filter((i, k) => i.gold.every((g) => sets[k]!.includes(g))).length;
  const n = instances.length;
  return {
    sets,
    coverage: n ? covered / n : 0,
    meanSetSize: n ? sets.reduce((a, s) => a + s.length, 0) / n : 0,
    qhats: [calibration.qhat],
  };
}

/**
 * A row's gold files and repository, or why it cannot be localised (a repeated id, a patch that
 * changes nothing, a repository missing under `reposDir`, an empty issue). Marks its id as seen.
 */
function usableRow(
  row: SwebenchRow,
  seen: Set<string>,
  reposDir: string,
): { gold: string[]; gitDir: string } | { reason: string } {
  if (seen.has(row.instance_id)) return { reason: 'duplicate instance_id (the first row was used)' };
  seen.add(row.instance_id);
  const gold = changedFiles(row.patch);
  if (gold.length === 0) return { reason: 'its patch changes no files, so there is nothing to find' };
  const gitDir = findGitDir(reposDir, row.repo);
  if (!gitDir) return { reason: `repository ${row.repo} not found under ${reposDir}` };
  if (!row.problem_statement.trim()) return { reason: 'empty problem_statement' };
  return { gold, gitDir };
}

/**
 * Visits each row that can be localised, with its gold files and git directory, reporting
 * progress; a row that cannot be (see `usableRow`), or whose visit throws, is returned as skipped
 * with why, never dropped silently. The evaluation, the fusion fit and the ablation share it.
 */
export async function forEachUsableRow<R extends SwebenchRow>(
  rows: readonly R[],
  options: { reposDir: string; onProgress?: (done: number, total: number, instanceId: string) => void },
  visit: (row: R, gold: string[], gitDir: string) => Promise<void>,
): Promise<SkippedInstance[]> {
  const skipped: SkippedInstance[] = [];
  const seen = new Set<string>();
  let count = 0;
  for (const row of rows) {
    options.onProgress?.(count++, rows.length, row.instance_id);
    const usable = usableRow(row, seen, options.reposDir);
    if ('reason' in usable) {
      skipped.push({ instance_id: row.instance_id, reason: usable.reason });
      continue;
    }
    try {
      await visit(row, usable.gold, usable.gitDir);
    } catch (err) {
      skipped.push({ instance_id: row.instance_id, reason: (err as Error).message });
    }
  }
  options.onProgress?.(rows.length, rows.length, '');
  return skipped;
}

/**
 * Localises every row at its base commit, then measures recall against the files its gold patch
 * changes and the cross-fitted conformal coverage. Rows whose repository or commit is missing are
 * returned as skipped, never dropped silently.
 */
export async function evaluateLocalisation(
  rows: readonly SwebenchRow[],
  options: LocaliseEvalOptions,
): Promise<{
  report: LocaliseReport;
  skipped: SkippedInstance[];
  calibration: Calibration;
  repos: string[];
  qhatFinite: boolean;
}> {
  const done: Array<{
    row: SwebenchRow;
    gold: string[];
    files: FusedFile[];
    indexed: number;
    goldFns: Record<string, string[]>;
    topFns: Record<string, string[]>;
  }> = [];
  const indexSeconds: number[] = [];
  const queryMs: number[] = [];
  const skipped = await forEachUsableRow(rows, options, async (row, gold, gitDir) => {
    const t0 = performance.now();
    const index = await options.localiser.index({ kind: 'git', gitDir, commit: row.base_commit });
    await options.localiser.prepare(index); // embedding the files, the symbol index and the history are part of indexing
    indexSeconds.push((performance.now() - t0) / 1000);
    const t1 = performance.now();
    // A row the learned fusion was trained on is ranked by its fold's model, which never saw that repository.
    const { files } = await options.localiser.rank(index, row.problem_statement, {
      outOfFoldRepo: options.localiser.fusion?.trainedOn[row.instance_id],
    });
    queryMs.push(performance.now() - t1);
    // Candidates no signal found follow at score 0, so an infinite q̂ yields every candidate.
    const found = new Set(files.map((f) => f.path));
    const rest = index.summaries.filter((s) => !found.has(s.path)).map((s) => ({ path: s.path, score: 0, ranks: {} }));
    // Gold functions come from the base symbols of the gold files; their ranking only needs those files.
    const goldFns = Object.fromEntries(goldFunctions(row.patch, new Map(index.summaries.map((s) => [s.path, s]))));
    const topFns = Object.fromEntries(
      rankFunctions(index, Object.keys(goldFns), row.problem_statement, 10).map((f) => [
        f.path,
        f.functions.map((s) => s.qualname),
      ]),
    );
    done.push({ row, gold, files: [...files, ...rest], indexed: index.summaries.length, goldFns, topFns });
  });

  const instances = done.map((d) => ({ ranked: d.files, gold: d.gold }));
  const fitted = options.calibration
    ? applyCalibration(instances, options.calibration)
    : crossFit(instances, { alpha: options.alpha, method: options.method, folds: options.folds });
  const results: LocaliseInstanceResult[] = done.map((d, i) => ({
    instance_id: d.row.instance_id,
    gold: d.gold,
    ranked: d.files.slice(0, 20).map((f) => f.path),
    set: fitted.sets[i] ?? [],
    indexed_files: d.indexed,
    gold_functions: d.goldFns,
    top_functions: d.topFns,
  }));
  const sizes = setSizeFigures(results);
  const figures = recallFigures(done.map((d) => ({ gold: d.gold, ranked: d.files.map((f) => f.path) })));
  const report: LocaliseReport = {
    instances: done.length,
    ...figures,
    conformal: {
      // A fixed calibration cuts at its own alpha, whatever --alpha says.
      alpha: options.calibration?.alpha ?? options.alpha,
      coverage: fitted.coverage,
      mean_set_size: fitted.meanSetSize,
      set_size_p50: sizes.set_size_p50,
      set_size_p90: sizes.set_size_p90,
      by_repo_size: setSizesByRepoSize(results),
    },
    index_seconds: { p50: quantile(indexSeconds, 0.5), max: Math.max(0, ...indexSeconds) },
    query_ms: { p50: quantile(queryMs, 0.5), p95: quantile(queryMs, 0.95) },
    results,
    function_recall: functionRecall(results),
  };
  const calibration = calibrate(instances, {
    alpha: options.alpha,
    method: options.method,
    ranker: options.localiser.rankerName,
  });
  return {
    report,
    skipped,
    calibration,
    repos: done.map((d) => d.row.repo),
    qhatFinite: fitted.qhats.every(Number.isFinite),
  };
}
