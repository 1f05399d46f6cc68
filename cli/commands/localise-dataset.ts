import { existsSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import {
  loadJsonlRows,
  type SwebenchRow,
  collectRankings,
  fitFusion,
  type FusionFitReport,
  ablateLocalisation,
  formatAblation,
  evaluateLocalisation,
  type LocaliseReport,
} from '../../benchmarks/index.js';
import { FixwrightError } from '../../core/index.js';
import { ALL_SIGNALS, rankerNameOf, saveFusionModel } from '../../localisation/index.js';
import { type Calibration, loadCalibration, saveCalibration } from '../../uncertainty/index.js';
import { makeOutputDir } from '../output-dir.js';
import { type LocaliseFlags, type LocaliseParts, positiveInt, rankConfigFrom } from './localise-flags.js';

type DatasetRow = SwebenchRow & { dataset: string };

/** What each dataset job reads: the rows, where their repositories are, and how to report progress. */
interface DatasetRun {
  rows: DatasetRow[];
  reposDir: string;
  onProgress: (done: number, total: number, id: string) => void;
  /** Stops the progress bar once the rows are ranked. */
  done: () => void;
  /** `--json FILE`, the report's destination, its folder already made. */
  jsonOut: string | undefined;
}

/** Rows of one or more dataset files (comma-separated), each tagged with its file's name; bad rows are reported by file and line. */
function loadDatasets(spec: string): DatasetRow[] {
  return spec
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean)
    .flatMap((file) => {
      const { rows, errors } = loadJsonlRows(file);
      for (const e of errors) process.stderr.write(`fixwright: ${file}:${e.line}: skipped bad row: ${e.message}\n`);
      return rows.map((row) => ({ ...row, dataset: basename(file).replace(/\.jsonl$/, '') }));
    });
}

/** `--repos` must name a folder, and `--repo` (the one-issue mode) is refused beside `--dataset`. */
function checkReposDir(flags: LocaliseFlags): string {
  if (flags.repo)
    throw new FixwrightError('FW_ERR_BAD_INPUT', 'use either --dataset/--repos or --repo/--issue, not both', {
      field: '--repo',
    });
  if (!flags.repos || !existsSync(flags.repos))
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `--repos must name an existing directory of DIR/<owner>/<name> repositories (got ${flags.repos ?? 'nothing'})`,
      { field: '--repos' },
    );
  return flags.repos;
}

/** The rows to run on: the dataset files' rows, narrowed by `--instances` and `--limit`; none left is an error. */
function selectRows(dataset: string, instances: string | undefined, limit: string | undefined): DatasetRow[] {
  let rows = loadDatasets(dataset);
  if (instances) {
    const wanted = new Set(
      instances
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
    rows = rows.filter((r) => wanted.has(r.instance_id));
    for (const id of wanted)
      if (!rows.some((r) => r.instance_id === id))
        process.stderr.write(`fixwright: instance ${id} is not in ${dataset}\n`);
  }
  if (limit) rows = rows.slice(0, positiveInt(limit, '--limit'));
  if (rows.length === 0)
    throw new FixwrightError('FW_ERR_BAD_INPUT', `no usable rows in ${dataset}`, { field: '--dataset' });
  return rows;
}

/** A progress bar on standard error, started over `total` rows. */
function startProgressBar(total: number): SingleBar {
  const bar = new SingleBar({
    format: 'localise {bar} {value}/{total} {id}',
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    noTTYOutput: false,
    notTTYSchedule: 10_000,
  });
  bar.start(total, 0, { id: '' });
  return bar;
}

/** `--json` with a dataset must name a file; its folder is made now, so a bad path fails before the run, not after it. */
function jsonOutFrom(json: string | boolean | undefined): string | undefined {
  if (json === true)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      'with --dataset, --json needs a file to write the report to (--json OUT)',
      {
        field: '--json',
      },
    );
  if (typeof json !== 'string') return undefined;
  makeOutputDir(dirname(resolve(json)), '--json');
  return json;
}

/** Cross-fitting needs at least two folds. */
function foldsFrom(value: string): number {
  const folds = positiveInt(value, '--folds');
  if (folds < 2)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      '--folds must be at least 2 (cross-fitting calibrates each fold on the others)',
      {
        field: '--folds',
      },
    );
  return folds;
}

function reportSkipped(skipped: ReadonlyArray<{ instance_id: string; reason: string }>): void {
  for (const s of skipped) process.stderr.write(`fixwright: skipped ${s.instance_id}: ${s.reason}\n`);
}

function writeJsonReport(jsonOut: string | undefined, report: unknown): void {
  if (jsonOut !== undefined) writeFileSync(jsonOut, `${JSON.stringify(report, null, 2)}\n`);
}

/**
 * `--calibration FILE` in dataset mode: every row is cut with it. Another ranking's calibration is
 * warned about (does it carry over? that is what the run shows), and a `--method` other than its
 * own is refused (the file's q̂ is a quantile of its own method's scores).
 */
function fixedCalibration(
  path: string | undefined,
  method: string | undefined,
  ranker: string,
): Calibration | undefined {
  if (!path) return undefined;
  const calibration = loadCalibration(path);
  if (method && method !== calibration.method)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `--method ${method} differs from the calibration's own method (${calibration.method}); drop --method`,
      { field: '--method' },
    );
  if (calibration.ranker !== ranker)
    process.stderr.write(
      `fixwright: warning: the calibration was fitted on ranker ${calibration.ranker}, not ${ranker}: the run shows whether it carries over\n`,
    );
  return calibration;
}

/** The fit's report: RRF against the learned fusion out of fold per dataset, the ablation, the sets. */
function formatFusionFit(report: FusionFitReport): string {
  const f = (x: number) => x.toFixed(3);
  const conformal = report.conformal;
  const foldParams = conformal.fold_params.some(Boolean)
    ? `; each fold's (lambda, k_reg), chosen on its calibration rows: ` +
      conformal.fold_params.map((p) => (p ? `(${p.lambda}, ${p.kReg})` : '-')).join(' ')
    : '';
  const lines = [
    `learned fusion ` +
      `over ${report.signals.join(', ')}; ` +
      `L2 ${report.l2} (sensitivity, out-of-fold mean R@5 at other L2: ${report.l2_search.map((s) => `${s.l2}: ${f(s.mean_r5)}`).join(', ')})`,
    'repository-wise cross-validation (each repository ranked by a model fitted without it):',
    `  ${'dataset'.padEnd(20)} ${'n'.padStart(3)}  RRF R@1/5/10 MRR          learned R@1/5/10 MRR      set p50 p90 mean coverage`,
    ...report.per_dataset.map(
      (d) =>
        `  ${d.dataset.padEnd(20)} ${String(d.rrf.n).padStart(3)} ` +
        ` ${f(d.rrf.r1)} ${f(d.rrf.r5)} ${f(d.rrf.r10)} ${f(d.rrf.mrr)}  ` +
        ` ${f(d.learned.r1)} ${f(d.learned.r5)} ${f(d.learned.r10)} ${f(d.learned.mrr)}  ` +
        ` ${d.sets.set_size_p50} ${d.sets.set_size_p90} ${d.sets.mean_set_size.toFixed(1)} ${f(d.sets.coverage)}`,
    ),
    `conformal (${conformal.method}, alpha ${conformal.alpha}, cross-fitted over all rows): ` +
      `coverage ${f(conformal.coverage)}, mean set ${conformal.mean_set_size.toFixed(2)}${foldParams}`,
    'ablation: out-of-fold R@5 with the model refitted without each signal:',
    ...report.ablation.map(
      (a) =>
        `  without ${a.signal.padEnd(12)} ${Object.entries(a.without)
          .map(([d, r]) => `${d} ${f(r)}`)
          .join('  ')}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

function printReportSummary(report: LocaliseReport, repoOf: readonly string[]): void {
  const r = (x: Record<string, number>) => ['1', '3', '5', '10'].map((k) => x[k]!.toFixed(3)).join(' / ');
  process.stdout.write(
    `instances ${report.instances}\n` +
      `recall@1/3/5/10 (all gold)  ${r(report.recall)}\n` +
      `recall@1/3/5/10 (any gold)  ${r(report.recall_any)}\n` +
      `MRR ${report.mrr.toFixed(3)}\n` +
      `conformal alpha ${report.conformal.alpha}: ` +
      `coverage ${report.conformal.coverage.toFixed(3)}, mean set size ${report.conformal.mean_set_size.toFixed(2)}\n` +
      `set size p50 ${report.conformal.set_size_p50} p90 ${report.conformal.set_size_p90} (mean ${report.conformal.mean_set_size.toFixed(2)})\n` +
      report.conformal.by_repo_size
        .map(
          (b) =>
            `  repository ${b.bucket.padEnd(8)} files  n=${String(b.instances).padStart(3)}` +
            (b.instances
              ? `  coverage ${b.coverage.toFixed(2)}  set size p50 ${b.set_size_p50} p90 ${b.set_size_p90} mean ${b.mean_set_size.toFixed(1)}\n`
              : '\n'),
        )
        .join('') +
      (`index seconds ` +
        `p50 ${report.index_seconds.p50.toFixed(2)} ` +
        `max ${report.index_seconds.max.toFixed(2)}; query ms p50 ${report.query_ms.p50.toFixed(1)} p95 ${report.query_ms.p95.toFixed(1)}\n`) +
      `function recall@5/10 ${report.function_recall['5'].toFixed(3)} ` +
      `/ ${report.function_recall['10'].toFixed(3)} ` +
      `(of ${report.function_recall.gold_functions} gold functions, ${report.function_recall.in_set} in a file the set holds)\n`,
  );
  const repos = [...new Set(repoOf)].sort();
  for (const repo of repos) {
    const mine = report.results.filter((_, i) => repoOf[i] === repo);
    const at5 = mine.filter((x) => x.gold.every((g) => x.ranked.slice(0, 5).includes(g))).length / mine.length;
    const covered = mine.filter((x) => x.gold.every((g) => x.set.includes(g))).length / mine.length;
    process.stdout.write(
      `  ${repo.padEnd(22)} n=${String(mine.length).padStart(3)}  R@5 ${at5.toFixed(2)}  coverage ${covered.toFixed(2)}\n`,
    );
  }
}

/** `--ablate`: each signal toggled against the defaults, printed as a table. */
async function ablate(run: DatasetRun, flags: LocaliseFlags, parts: LocaliseParts): Promise<void> {
  const ablation = await ablateLocalisation(run.rows, {
    reposDir: run.reposDir,
    localiser: parts.localiser,
    config: rankConfigFrom(flags.weights, flags.rrfK),
    onProgress: run.onProgress,
  }).finally(run.done);
  reportSkipped(ablation.skipped);
  process.stdout.write(formatAblation(ablation));
  writeJsonReport(run.jsonOut, ablation);
}

/** `--fit-fusion FILE`: fit the learned fusion out of fold, print it against RRF, write the model (and `--calibration-out`). */
async function fitFusionModel(
  run: DatasetRun,
  out: { model: string; calibration: string | undefined },
  parts: LocaliseParts,
  folds: number,
  setExit: (code: number) => void,
): Promise<void> {
  const { alpha, method } = parts;
  makeOutputDir(dirname(resolve(out.model)), '--fit-fusion');
  const { collected, skipped } = await collectRankings(run.rows, {
    reposDir: run.reposDir,
    localiser: parts.localiser,
    signals: ALL_SIGNALS,
    onProgress: run.onProgress,
  }).finally(run.done);
  reportSkipped(skipped);
  const { model, report, calibration } = fitFusion(collected, { signals: ALL_SIGNALS, alpha, folds, method }, (m) =>
    rankerNameOf({ ...parts.localiserOptions, fusion: m }),
  );
  process.stdout.write(formatFusionFit(report));
  saveFusionModel(out.model, model);
  process.stdout.write(`wrote the fusion model (fitted on ${collected.length} rows) to ${out.model}\n`);
  writeJsonReport(run.jsonOut, report);
  if (out.calibration && !Number.isFinite(calibration.qhat)) {
    // An infinite q̂ makes every file the set while claiming the coverage: not worth writing.
    process.stdout.write(
      `warning: ${collected.length} rows are too few for ` +
        `alpha ${alpha} (q̂ is infinite), so no calibration was written to ${out.calibration}; use more rows or a larger alpha\n`,
    );
    setExit(1);
  } else if (out.calibration) saveCalibration(out.calibration, calibration);
}

/** The evaluation: recall, MRR and the cross-fitted (or fixed) conformal sets over the rows. */
async function evaluate(run: DatasetRun, flags: LocaliseFlags, parts: LocaliseParts, folds: number): Promise<void> {
  const { alpha, method, localiser } = parts;
  const { report, skipped, calibration, repos, qhatFinite } = await evaluateLocalisation(run.rows, {
    reposDir: run.reposDir,
    alpha,
    folds,
    method,
    calibration: fixedCalibration(flags.calibration, flags.method, localiser.rankerName),
    localiser,
    onProgress: run.onProgress,
  }).finally(run.done);
  reportSkipped(skipped);
  printReportSummary(report, repos);
  if (!qhatFinite) {
    process.stdout.write(
      `warning: some folds hold too few instances for ` +
        `alpha ${alpha} (q̂ is infinite), so their sets are every candidate file; use more instances, fewer folds or a larger alpha\n`,
    );
  }
  if (skipped.length) process.stdout.write(`skipped ${skipped.length} instance(s) (listed above)\n`);
  writeJsonReport(run.jsonOut, report);
  if (flags.calibrationOut) saveCalibration(flags.calibrationOut, calibration);
}

/** `fixwright localise --dataset FILE --repos DIR`: evaluate, ablate or fit the fusion over a dataset's rows. */
export async function localiseDataset(
  dataset: string,
  flags: LocaliseFlags,
  parts: LocaliseParts,
  setExit: (code: number) => void,
): Promise<void> {
  const reposDir = checkReposDir(flags);
  const rows = selectRows(dataset, flags.instances, flags.limit);
  const bar = startProgressBar(rows.length);
  const run: DatasetRun = {
    rows,
    reposDir,
    onProgress: (done, _total, id) => bar.update(done, { id }),
    done: () => bar.stop(),
    jsonOut: jsonOutFrom(flags.json),
  };
  if (flags.ablate) return ablate(run, flags, parts);
  const folds = foldsFrom(flags.folds);
  if (flags.fitFusion)
    return fitFusionModel(run, { model: flags.fitFusion, calibration: flags.calibrationOut }, parts, folds, setExit);
  return evaluate(run, flags, parts, folds);
}
