import { existsSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { loadJsonlRows, type SwebenchRow } from '../../benchmarks/dataset.js';
import { collectRankings, fitFusion, type FusionFitReport } from '../../benchmarks/fusion-fit.js';
import { historyRows } from '../../benchmarks/history-rows.js';
import { ablateLocalisation, formatAblation } from '../../benchmarks/localise-ablation.js';
import { evaluateLocalisation, type LocaliseReport } from '../../benchmarks/localise-eval.js';
import { loadSettings, type Settings } from '../../core/config.js';
import { readIssueArg } from '../issue-input.js';
import { FixwrightError } from '../../core/errors.js';
import { assetPath } from '../../core/paths.js';
import {
  ALL_SIGNALS,
  ApiEmbedder,
  DEFAULT_RANK_CONFIG,
  type Embedder,
  type FusionModel,
  gitDirOf,
  loadFusionModel,
  Localiser,
  type LocaliserOptions,
  LsiEmbedder,
  type RankConfig,
  rankerNameOf,
  rankFunctions,
  saveFusionModel,
  shippedFusionModel,
  type Signal,
  type SnapshotSource,
} from '../../localisation/index.js';
import {
  type Calibration,
  calibrationSummary,
  CONFORMAL_METHODS,
  type ConformalMethod,
  DEFAULT_LEARNED_METHOD,
  loadCalibration,
  predictionSet,
  saveCalibration,
} from '../../uncertainty/index.js';
import { makeOutputDir } from '../output-dir.js';

interface LocaliseFlags {
  repo?: string;
  commit?: string;
  issue?: string;
  top: string;
  json?: string | boolean;
  calibration?: string;
  dataset?: string;
  repos?: string;
  alpha: string;
  folds: string;
  limit?: string;
  instances?: string;
  method?: string;
  fusion?: string;
  fitFusion?: string;
  historyRows?: string;
  calibrationOut?: string;
  includeTests?: boolean;
  cache: boolean;
  embeddings?: string;
  weights?: string;
  rrfK?: string;
  ablate?: boolean;
}

/** Parses `bm25=1,embeddings=0.5,…` over the defaults; every signal must be known and every weight ≥ 0. */
function rankConfigFrom(weights: string | undefined, rrfK: string | undefined): RankConfig {
  const config: RankConfig = { ...DEFAULT_RANK_CONFIG, weights: { ...DEFAULT_RANK_CONFIG.weights } };
  for (const part of (weights ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [name, value] = part.split('=');
    const weight = Number(value);
    if (!name || !(name in config.weights) || value === undefined || !Number.isFinite(weight) || weight < 0) {
      throw new FixwrightError(
        'FW_ERR_BAD_INPUT',
        `--weights: '${part}' is not SIGNAL=WEIGHT with SIGNAL one of ${Object.keys(config.weights).join(', ')} and WEIGHT >= 0`,
        { field: '--weights' },
      );
    }
    config.weights[name as Signal] = weight;
  }
  if (rrfK !== undefined) {
    const k = Number(rrfK);
    if (!Number.isFinite(k) || k < 0)
      throw new FixwrightError('FW_ERR_BAD_INPUT', `--rrf-k must be a number >= 0 (got ${rrfK})`, { field: '--rrf-k' });
    config.rrfK = k;
  }
  return config;
}

/** Functions shown under each file of the conformal set. */
const FUNCTIONS_SHOWN = 5;

/** The calibration shipped with fixwright, fitted on the tuning rows. */
export const DEFAULT_CALIBRATION = 'uncertainty/calibration.json';

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new FixwrightError('FW_ERR_BAD_INPUT', `${flag} must be a whole number of at least 1 (got ${value})`, {
      field: flag,
    });
  return n;
}

function sourceFor(repo: string, commit: string | undefined): SnapshotSource {
  if (!existsSync(repo))
    throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `repository not found: ${repo}`, { field: '--repo' });
  const gitDir = gitDirOf(repo);
  if (commit) {
    if (!gitDir)
      throw new FixwrightError('FW_ERR_BAD_INPUT', `--commit needs a git repository, and ${repo} is not one`, {
        field: '--commit',
      });
    return { kind: 'git', gitDir, commit };
  }
  // A bare repository has no working tree: read its HEAD.
  return gitDir === repo ? { kind: 'git', gitDir, commit: 'HEAD' } : { kind: 'dir', path: repo };
}

function embedderFor(kind: string, settings: Settings): Embedder | undefined {
  if (kind === 'none') return undefined;
  if (kind === 'lsi') return new LsiEmbedder();
  if (kind === 'api') {
    const model = settings.models.embeddingsModel;
    if (!model)
      throw new FixwrightError(
        'FW_ERR_BAD_INPUT',
        '--embeddings api needs FIXWRIGHT_EMBEDDINGS_MODEL (and OPENAI_BASE_URL / OPENAI_API_KEY for the endpoint)',
        { field: '--embeddings' },
      );
    return new ApiEmbedder({
      model,
      baseURL: settings.models.baseURL,
      apiKey: settings.models.apiKey,
      cacheDir: join(settings.dataDir, 'embeddings'),
    });
  }
  throw new FixwrightError('FW_ERR_BAD_INPUT', `--embeddings must be lsi, api or none (got ${kind})`, {
    field: '--embeddings',
  });
}

function defaultCalibration(explicit: string | undefined): Calibration | undefined {
  if (explicit) return loadCalibration(explicit);
  const shipped = assetPath(DEFAULT_CALIBRATION);
  return existsSync(shipped) ? loadCalibration(shipped) : undefined;
}

/**
 * The fusion to rank with: the shipped learned model unless RRF or a model file is asked for.
 * `--weights`/`--rrf-k` tune RRF, so with them the default is RRF; asked for together with a model
 * they are refused (a model reads the signals as it was fitted, not under other weights).
 */
function fusionFrom(asked: string | undefined, rrfTuned: boolean): FusionModel | undefined {
  if (asked !== undefined && asked !== 'rrf' && rrfTuned) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `--weights and --rrf-k tune RRF, and --fusion ${asked} ranks with a model fitted under the default signals: use --fusion rrf with them, or drop them`,
      { field: '--fusion' },
    );
  }
  const which = asked ?? (rrfTuned ? 'rrf' : 'learned');
  if (which === 'rrf') return undefined;
  if (which === 'learned') return shippedFusionModel();
  if (!existsSync(which))
    throw new FixwrightError('FW_ERR_BAD_INPUT', `--fusion must be learned, rrf or a model file (no file ${which})`, {
      field: '--fusion',
    });
  return loadFusionModel(which, ALL_SIGNALS);
}

/** Flags that belong to one mode are refused in the others, so none is silently ignored. */
function checkModeFlags(flags: LocaliseFlags): void {
  const refuse = (flag: string, why: string) => {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `${flag} ${why}`, { field: flag });
  };
  if (!flags.dataset) {
    if (flags.fitFusion) refuse('--fit-fusion', 'needs --dataset FILE[,FILE] --repos DIR (the rows to fit on)');
    if (flags.ablate) refuse('--ablate', 'needs --dataset FILE --repos DIR');
    if (flags.calibrationOut)
      refuse('--calibration-out', 'needs --dataset FILE --repos DIR (the rows to calibrate on)');
    if (flags.instances) refuse('--instances', 'needs --dataset FILE');
    if (flags.method) refuse('--method', 'applies to --dataset (a calibration file carries its own method)');
    if (flags.limit && !flags.historyRows) refuse('--limit', 'applies to --dataset and --history-rows');
  }
  if (flags.historyRows && (flags.dataset || flags.issue))
    refuse('--history-rows', 'takes --repo (and --commit, --limit) only: it writes rows, it ranks nothing');
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

/**
 * `--history-rows`: rows from the repository's past fixes, named `owner/name` after its last two
 * path parts, so `--repos` the folder two levels up finds it again.
 */
function writeHistoryRows(repoPath: string, out: string, until: string | undefined, limit: number): void {
  const dir = resolve(repoPath);
  const gitDir = gitDirOf(dir);
  if (!gitDir)
    throw new FixwrightError('FW_ERR_BAD_INPUT', `--history-rows needs a git repository, and ${repoPath} is not one`, {
      field: '--repo',
    });
  // The folder's own name, `.git` suffix and all, so `--repos` finds it again under DIR/<owner>/<name>.
  const repo = `${basename(dirname(dir))}/${basename(dir)}`;
  makeOutputDir(dirname(resolve(out)), '--history-rows');
  const rows = historyRows({ gitDir, repo, until, limit });
  writeFileSync(out, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
  process.stdout.write(
    `wrote ${rows.length} row(s) from past fix commits of ${repo} to ${out} (evaluate: fixwright localise --dataset ${out} --repos ${dirname(dirname(dir))})\n`,
  );
}

/** Rows of one or more dataset files (comma-separated), each tagged with its file's name; bad rows are reported by file and line. */
function loadDatasets(spec: string): Array<SwebenchRow & { dataset: string }> {
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

/** The fit's report: RRF against the learned fusion out of fold per dataset, the ablation, the sets. */
function formatFusionFit(report: FusionFitReport): string {
  const f = (x: number) => x.toFixed(3);
  const lines = [
    `learned fusion over ${report.signals.join(', ')}; L2 ${report.l2} (sensitivity, out-of-fold mean R@5 at other L2: ${report.l2_search.map((s) => `${s.l2}: ${f(s.mean_r5)}`).join(', ')})`,
    'repository-wise cross-validation (each repository ranked by a model fitted without it):',
    `  ${'dataset'.padEnd(20)} ${'n'.padStart(3)}  RRF R@1/5/10 MRR          learned R@1/5/10 MRR      set p50 p90 mean coverage`,
    ...report.per_dataset.map(
      (d) =>
        `  ${d.dataset.padEnd(20)} ${String(d.rrf.n).padStart(3)}  ${f(d.rrf.r1)} ${f(d.rrf.r5)} ${f(d.rrf.r10)} ${f(d.rrf.mrr)}   ${f(d.learned.r1)} ${f(d.learned.r5)} ${f(d.learned.r10)} ${f(d.learned.mrr)}   ${d.sets.set_size_p50} ${d.sets.set_size_p90} ${d.sets.mean_set_size.toFixed(1)} ${f(d.sets.coverage)}`,
    ),
    `conformal (${report.conformal.method}, alpha ${report.conformal.alpha}, cross-fitted over all rows): coverage ${f(report.conformal.coverage)}, mean set ${report.conformal.mean_set_size.toFixed(2)}${report.conformal.fold_params.some(Boolean) ? `; each fold's (lambda, k_reg), chosen on its calibration rows: ${report.conformal.fold_params.map((p) => (p ? `(${p.lambda}, ${p.kReg})` : '-')).join(' ')}` : ''}`,
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
      `conformal alpha ${report.conformal.alpha}: coverage ${report.conformal.coverage.toFixed(3)}, mean set size ${report.conformal.mean_set_size.toFixed(2)}\n` +
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
      `index seconds p50 ${report.index_seconds.p50.toFixed(2)} max ${report.index_seconds.max.toFixed(2)}; query ms p50 ${report.query_ms.p50.toFixed(1)} p95 ${report.query_ms.p95.toFixed(1)}\n` +
      `function recall@5/10 ${report.function_recall['5'].toFixed(3)} / ${report.function_recall['10'].toFixed(3)} (of ${report.function_recall.gold_functions} gold functions, ${report.function_recall.in_set} in a file the set holds)\n`,
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

/** `fixwright localise`: rank a repository's files for an issue, or evaluate on a dataset. */
export function registerLocaliseCommand(program: Command, setExit: (code: number) => void = () => undefined): void {
  program
    .command('localise')
    .description(
      'rank the files an issue is about (one issue with --repo/--issue, or a SWE-bench dataset with --dataset/--repos)',
    )
    .option('--repo <path>', 'repository: a checkout, a bare git directory, or any directory of Python sources')
    .option('--commit <sha>', 'read the repository at this commit (from git objects; no checkout)')
    .option(
      '--issue <text>',
      'issue text, @FILE (@- for standard input), or https://github.com/OWNER/NAME/issues/N; its first line is read as the title',
    )
    .option('--top <n>', 'how many files to print', '20')
    .option('--json [file]', 'JSON output: printed, or written to FILE (with --dataset a FILE is required)')
    .option(
      '--calibration <file>',
      'conformal calibration to cut the ranking with (default: the shipped one); with --dataset: cut every row with it instead of cross-fitting on the rows',
    )
    .option(
      '--history-rows <file>',
      "with --repo: write SWE-bench-format rows made from the repository's past fix commits (message as the issue, parent as the base) to FILE, for --dataset on your own repository",
    )
    .option('--dataset <file>', 'SWE-bench-format JSONL to evaluate on')
    .option('--repos <dir>', 'directory holding DIR/<owner>/<name> git repositories (bare or not)')
    .option('--alpha <a>', 'conformal miscoverage level', '0.1')
    .option('--folds <k>', 'cross-fitting folds for the conformal evaluation', '5')
    .option(
      '--method <m>',
      "conformal score: ratio (one minus a file's score relative to the top file's, plus a rank penalty; the default with the learned fusion), prob (one minus a file's probability), aps (cumulative mass; the default with RRF), raps (aps plus a rank penalty) or rank; the penalty of ratio/raps is chosen on the calibration rows",
    )
    .option(
      '--fusion <which>',
      'how the signals are fused: learned (the shipped model, the default), rrf (hand-set weights, --weights) or a model FILE',
    )
    .option(
      '--fit-fusion <file>',
      'with --dataset (several files comma-separated): fit the learned fusion with repository-wise cross-validation, print it against RRF out of fold, and write the model to FILE (--calibration-out: its out-of-fold calibration)',
    )
    .option('--limit <n>', 'evaluate only the first N rows')
    .option('--instances <ids>', 'evaluate only these instance ids (comma-separated)')
    .option('--calibration-out <file>', 'with --dataset: save a calibration fitted on all evaluated rows')
    .option('--include-tests', 'rank test files too (they are left out by default)')
    .option('--no-cache', 'do not read or write the on-disk index cache')
    .option(
      '--weights <list>',
      'RRF weight per signal (bm25, embeddings, evidence, pagerank, symbols, identifiers, history, cochange, title, title_symbols), e.g. bm25=1,history=0 (0 switches one off)',
    )
    .option(
      '--ablate',
      'with --dataset: per signal R@1/5/10 and MRR with everything on but it, it alone, and the defaults with it toggled (each row ranked once, re-fused per configuration)',
    )
    .option('--rrf-k <k>', 'RRF constant k (default 10; smaller trusts the top of each list more)')
    .option(
      '--embeddings <kind>',
      'dense signal: lsi (offline, fitted on the repository), api (FIXWRIGHT_EMBEDDINGS_MODEL at OPENAI_BASE_URL) or none (default: api when FIXWRIGHT_EMBEDDINGS_MODEL is set, else lsi)',
    )
    .action(async (flags: LocaliseFlags) => {
      const settings = loadSettings(process.env);
      const alpha = Number(flags.alpha);
      if (!(alpha > 0 && alpha < 1))
        throw new FixwrightError('FW_ERR_BAD_INPUT', `--alpha must be between 0 and 1 (got ${flags.alpha})`, {
          field: '--alpha',
        });
      checkModeFlags(flags);
      const fusion = flags.fitFusion
        ? undefined
        : fusionFrom(flags.fusion, flags.weights !== undefined || flags.rrfK !== undefined);
      // A fit's sets are cut over the learned fusion's probabilities, so it takes the learned default too.
      const method = (flags.method ?? (fusion || flags.fitFusion ? DEFAULT_LEARNED_METHOD : 'aps')) as ConformalMethod;
      if (!CONFORMAL_METHODS.includes(method))
        throw new FixwrightError(
          'FW_ERR_BAD_INPUT',
          `--method must be ${CONFORMAL_METHODS.join(', ')} (got ${flags.method})`,
          { field: '--method' },
        );
      const localiserOptions: LocaliserOptions = {
        cacheDir: flags.cache ? join(settings.dataDir, 'indexes') : undefined,
        cacheMaxBytes: settings.localisation.indexCacheMb * 1024 * 1024,
        includeTests: flags.includeTests,
        config: rankConfigFrom(flags.weights, flags.rrfK),
        embedder: embedderFor(flags.embeddings ?? (settings.models.embeddingsModel ? 'api' : 'lsi'), settings),
        fusion,
      };
      const localiser = new Localiser(localiserOptions);

      if (flags.dataset) {
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
        let rows = loadDatasets(flags.dataset);
        if (flags.instances) {
          const wanted = new Set(
            flags.instances
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean),
          );
          rows = rows.filter((r) => wanted.has(r.instance_id));
          for (const id of wanted)
            if (!rows.some((r) => r.instance_id === id))
              process.stderr.write(`fixwright: instance ${id} is not in ${flags.dataset}\n`);
        }
        if (flags.limit) rows = rows.slice(0, positiveInt(flags.limit, '--limit'));
        if (rows.length === 0)
          throw new FixwrightError('FW_ERR_BAD_INPUT', `no usable rows in ${flags.dataset}`, { field: '--dataset' });
        const bar = new SingleBar({
          format: 'localise {bar} {value}/{total} {id}',
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
          noTTYOutput: false,
          notTTYSchedule: 10_000,
        });
        bar.start(rows.length, 0, { id: '' });
        if (flags.json === true)
          throw new FixwrightError(
            'FW_ERR_BAD_INPUT',
            'with --dataset, --json needs a file to write the report to (--json OUT)',
            { field: '--json' },
          );
        // Its folder is made now, so a bad path fails before the run, not after it.
        if (typeof flags.json === 'string') makeOutputDir(dirname(resolve(flags.json)), '--json');
        if (flags.ablate) {
          const ablation = await ablateLocalisation(rows, {
            reposDir: flags.repos,
            localiser,
            config: rankConfigFrom(flags.weights, flags.rrfK),
            onProgress: (done, _total, id) => bar.update(done, { id }),
          }).finally(() => bar.stop());
          for (const s of ablation.skipped) process.stderr.write(`fixwright: skipped ${s.instance_id}: ${s.reason}\n`);
          process.stdout.write(formatAblation(ablation));
          if (typeof flags.json === 'string') writeFileSync(flags.json, `${JSON.stringify(ablation, null, 2)}\n`);
          return;
        }
        const folds = positiveInt(flags.folds, '--folds');
        if (folds < 2)
          throw new FixwrightError(
            'FW_ERR_BAD_INPUT',
            '--folds must be at least 2 (cross-fitting calibrates each fold on the others)',
            { field: '--folds' },
          );
        if (flags.fitFusion) {
          makeOutputDir(dirname(resolve(flags.fitFusion)), '--fit-fusion');
          const { collected, skipped } = await collectRankings(rows, {
            reposDir: flags.repos,
            localiser,
            signals: ALL_SIGNALS,
            onProgress: (done, _total, id) => bar.update(done, { id }),
          }).finally(() => bar.stop());
          for (const s of skipped) process.stderr.write(`fixwright: skipped ${s.instance_id}: ${s.reason}\n`);
          const { model, report, calibration } = fitFusion(
            collected,
            { signals: ALL_SIGNALS, alpha, folds, method },
            (m) => rankerNameOf({ ...localiserOptions, fusion: m }),
          );
          process.stdout.write(formatFusionFit(report));
          saveFusionModel(flags.fitFusion, model);
          process.stdout.write(`wrote the fusion model (fitted on ${collected.length} rows) to ${flags.fitFusion}\n`);
          if (typeof flags.json === 'string') writeFileSync(flags.json, `${JSON.stringify(report, null, 2)}\n`);
          if (flags.calibrationOut && !Number.isFinite(calibration.qhat)) {
            // An infinite q̂ makes every file the set while claiming the coverage: not worth writing.
            process.stdout.write(
              `warning: ${collected.length} rows are too few for alpha ${alpha} (q̂ is infinite), so no calibration was written to ${flags.calibrationOut}; use more rows or a larger alpha\n`,
            );
            setExit(1);
          } else if (flags.calibrationOut) saveCalibration(flags.calibrationOut, calibration);
          return;
        }
        const { report, skipped, calibration, repos, qhatFinite } = await evaluateLocalisation(rows, {
          reposDir: flags.repos,
          alpha,
          folds,
          method,
          calibration: fixedCalibration(flags.calibration, flags.method, localiser.rankerName),
          localiser,
          onProgress: (done, _total, id) => bar.update(done, { id }),
        }).finally(() => bar.stop());
        for (const s of skipped) process.stderr.write(`fixwright: skipped ${s.instance_id}: ${s.reason}\n`);
        printReportSummary(report, repos);
        if (!qhatFinite) {
          process.stdout.write(
            `warning: some folds hold too few instances for alpha ${alpha} (q̂ is infinite), so their sets are every candidate file; use more instances, fewer folds or a larger alpha\n`,
          );
        }
        if (skipped.length) process.stdout.write(`skipped ${skipped.length} instance(s) (listed above)\n`);
        if (typeof flags.json === 'string') writeFileSync(flags.json, `${JSON.stringify(report, null, 2)}\n`);
        if (flags.calibrationOut) saveCalibration(flags.calibrationOut, calibration);
        return;
      }

      if (!flags.repo)
        throw new FixwrightError(
          'FW_ERR_BAD_INPUT',
          'pass --repo PATH and --issue TEXT (or --dataset FILE --repos DIR)',
          { field: '--repo' },
        );
      if (flags.historyRows) {
        writeHistoryRows(
          flags.repo,
          flags.historyRows,
          flags.commit,
          flags.limit ? positiveInt(flags.limit, '--limit') : 100,
        );
        return;
      }
      const issue = await readIssueArg(flags.issue, settings);
      const top = positiveInt(flags.top, '--top');
      const index = await localiser.index(sourceFor(flags.repo, flags.commit));
      // Vendored and oversized files are left out by design; a file that could not be read or decoded is worth saying.
      const unreadable = (localiser.lastTiming?.skipped ?? []).filter((s) =>
        ['binary', 'undecodable', 'unreadable'].includes(s.reason),
      );
      for (const s of unreadable.slice(0, 10)) process.stderr.write(`fixwright: skipped ${s.path} (${s.reason})\n`);
      if (unreadable.length > 10)
        process.stderr.write(
          `fixwright: skipped ${unreadable.length - 10} more file(s) that could not be read or decoded\n`,
        );
      const { files } = await localiser.rank(index, issue);
      const found_ = defaultCalibration(flags.calibration);
      // Another ranking's calibration cuts at a meaningless place (a probability threshold on RRF
      // scores takes every file): no set, as in the agent, rather than a wrong one.
      const calibration = found_?.ranker === localiser.rankerName ? found_ : undefined;
      if (found_ && !calibration) {
        process.stderr.write(
          `fixwright: warning: the calibration was fitted on ranker ${found_.ranker}, not ${localiser.rankerName}, so no conformal set is cut (fit one for this ranking: fixwright localise --dataset … --calibration-out FILE)\n`,
        );
      }
      // Candidates no signal found follow at score 0: an infinite q̂ then yields every candidate.
      const found = new Set(files.map((f) => f.path));
      const all = [
        ...files,
        ...index.summaries.filter((s) => !found.has(s.path)).map((s) => ({ path: s.path, score: 0 })),
      ];
      const set = calibration
        ? predictionSet(all, calibration.qhat, calibration.method, calibration.params)
        : undefined;
      // The set's files, each with its functions most related to the issue.
      const functions = new Map(
        rankFunctions(index, set ?? [], issue, FUNCTIONS_SHOWN).map((f) => [f.path, f.functions]),
      );
      if (flags.json) {
        const out = {
          files: files.slice(0, top).map((f, i) => ({
            rank: i + 1,
            path: f.path,
            score: f.score,
            ranks: f.ranks,
            in_set: set?.includes(f.path) ?? null,
          })),
          set: set ?? null,
          calibration: calibration ? calibrationSummary(calibration) : null,
          indexed_files: index.summaries.length,
          set_functions: set
            ? Object.fromEntries(
                [...functions].map(([path, fns]) => [
                  path,
                  fns.map((f) => ({
                    qualname: f.qualname,
                    kind: f.kind,
                    start_line: f.startLine,
                    end_line: f.endLine,
                    score: f.score,
                  })),
                ]),
              )
            : null,
          skipped: localiser.lastTiming?.skipped ?? [],
        };
        const text = `${JSON.stringify(out, null, 2)}\n`;
        // --json FILE writes the file, as it does with --dataset; a bare --json prints.
        if (typeof flags.json === 'string') {
          makeOutputDir(dirname(resolve(flags.json)), '--json');
          writeFileSync(flags.json, text);
        } else process.stdout.write(text);
        return;
      }
      if (files.length === 0) {
        process.stdout.write(`no file matched (indexed ${index.summaries.length} Python files)\n`);
        return;
      }
      files.slice(0, top).forEach((f, i) => {
        const ranks = Object.entries(f.ranks)
          .map(([s, r]) => `${s}=${r}`)
          .join(' ');
        process.stdout.write(
          `${String(i + 1).padStart(3)}  ${set?.includes(f.path) ? '*' : ' '} ${f.score.toFixed(4)}  ${f.path}  (${ranks})\n`,
        );
        for (const fn of functions.get(f.path) ?? [])
          process.stdout.write(
            `          ${fn.qualname} (lines ${fn.startLine}-${fn.endLine}, score ${fn.score.toFixed(2)})\n`,
          );
      });
      process.stdout.write(
        set
          ? `* conformal set: ${set.length} file(s), holding every file to change with probability >= ${1 - calibration!.alpha} (calibrated on ${calibration!.n} instances)\n`
          : found_
            ? 'no conformal set: the calibration belongs to another ranking (see the warning above)\n'
            : 'no calibration found: pass --calibration FILE (fixwright localise --dataset … --calibration-out FILE makes one)\n',
      );
    });
}
