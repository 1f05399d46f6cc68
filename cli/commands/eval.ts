import { resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { Option, type Command } from 'commander';
import {
  gradingRule,
  type GradingRuleName,
  benchFiguresBeside,
  type EvalReport,
  runEvaluation,
} from '../../benchmarks/eval/index.js';
import { type EvalRow, loadEvalRows, loadPredictions, selectRows } from '../../benchmarks/eval/instances.js';
import { loadSettings, type Settings, FixwrightError } from '../../core/index.js';
import { createLogger } from '../../core/logger.js';
import { createSandboxRuntime, type SandboxRuntime } from '../../sandbox/index.js';
import { makeOutputDir } from '../output-dir.js';
import { ENV_TABLE_HELP, envTableFlag, gradingOption, pipSourceWarning, wholeNumber } from '../flags.js';
import { repositoriesFor } from '../repos-dir.js';
import { cancelledNote, InstanceQueueClient, remoteEvaluator } from '../../benchmarks/queue/index.js';
import { QUEUE_HELP, queueFlag } from '../queue-flag.js';
import { connectQueue } from '../queue-connect.js';

interface EvalFlags {
  dataset: string;
  split: string;
  predictions: string;
  repos?: string;
  instances?: string;
  onlyRepos?: string;
  limit?: string;
  workers: string;
  timeout: string;
  out: string;
  queue?: string | boolean;
  envTable?: string;
  grading: GradingRuleName;
}

type Predictions = ReturnType<typeof loadPredictions>['predictions'];

/** The run the flags ask for, every value checked. */
interface EvalOptions {
  workers: number;
  timeoutSeconds: number;
  /** The queue's Redis when the instances go to workers; none evaluates them here. */
  queueURL: string | undefined;
  table: ReturnType<typeof envTableFlag>;
}

/** What there is to evaluate: the selected rows and the predictions for them. */
interface EvalWork {
  rows: EvalRow[];
  predictions: Predictions;
  /** How many of `rows` have a prediction. */
  total: number;
}

/** The evaluation's parts, built once and closed when it ends. */
interface EvalParts {
  queue: InstanceQueueClient | undefined;
  runtime: SandboxRuntime | undefined;
  bar: SingleBar;
  /** Aborted by Ctrl-C. */
  controller: AbortController;
}

/** Checks the flags before anything runs, in the order the errors have always been reported. */
function evalOptions(flags: EvalFlags, settings: Settings): EvalOptions {
  const workers = wholeNumber(flags.workers, '--workers', 1, 64);
  const timeoutSeconds = Number(flags.timeout);
  const queueURL = queueFlag(flags.queue, settings.service.redisURL, (line) => process.stderr.write(line));
  if (!(timeoutSeconds > 0))
    throw new FixwrightError('FW_ERR_BAD_INPUT', '--timeout must be a positive number of seconds', {
      field: '--timeout',
    });
  // Read before anything runs: a bad table is one clear error, not a run of env errors.
  const table = envTableFlag(flags.envTable);
  // On the queue each worker builds images with its own pip settings.
  const pipWarning = queueURL ? undefined : pipSourceWarning(table, settings.pip);
  if (pipWarning) process.stderr.write(pipWarning);
  return { workers, timeoutSeconds, queueURL, table };
}

/** The selected rows and their predictions; bad lines, unknown instances and rows with no prediction are reported, and none left is an error. */
async function workToEvaluate(flags: EvalFlags): Promise<EvalWork> {
  const { rows: all, errors } = await loadEvalRows(flags.dataset, flags.split);
  for (const e of errors) process.stderr.write(`fixwright: ${flags.dataset}:${e.line}: skipped: ${e.message}\n`);
  const rows = selectRows(all, flags);
  const { predictions, errors: predictionErrors } = loadPredictions(flags.predictions, rows);
  for (const e of predictionErrors)
    process.stderr.write(`fixwright: ${flags.predictions}:${e.line}: skipped: ${e.message}\n`);
  const known = new Set(all.map((r) => r.instance_id));
  const unknown = [...predictions.keys()].filter((id) => !known.has(id));
  if (unknown.length)
    process.stderr.write(
      `fixwright: ${unknown.length} prediction(s) name instances not in the dataset and are not ` +
        `evaluated: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', …' : ''}\n`,
    );
  const missing = rows.filter((r) => !predictions.has(r.instance_id)).length;
  if (missing) process.stderr.write(`fixwright: ${missing} instance(s) have no prediction and are not evaluated\n`);
  if (rows.length - missing === 0)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      'nothing to evaluate: no instance has a prediction (check --instances, --only-repos, --predictions)',
    );
  return { rows, predictions, total: rows.length - missing };
}

/** The evaluation's parts (the command's composition root): the queue or a sandbox runtime, the progress bar (started), Ctrl-C's abort. */
async function openEvaluation(options: EvalOptions, settings: Settings, total: number): Promise<EvalParts> {
  const logger = createLogger(settings.logLevel === 'info' ? 'warn' : settings.logLevel);
  const queue = options.queueURL ? await connectQueue(options.queueURL, 'the instances') : undefined;
  // The submitter of a queued run starts no sandbox: it needs no Docker.
  const runtime = queue ? undefined : await createSandboxRuntime(settings, { logger });
  const bar = new SingleBar({
    format: 'eval {bar} {value}/{total} | resolved {resolved} | {eta_formatted} left | {id}',
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    noTTYOutput: false,
    notTTYSchedule: 10_000,
  });
  bar.start(total, 0, { resolved: 0, id: '' });
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  return { queue, runtime, bar, controller };
}

/** Runs every instance's verdict (here, or on the queue's workers), the progress bar counting resolved ones. */
async function evaluate(
  flags: EvalFlags,
  settings: Settings,
  options: EvalOptions,
  work: EvalWork & { reposDir: string; bench: ReturnType<typeof benchFiguresBeside>['bench'] },
  parts: EvalParts,
): Promise<EvalReport> {
  const { queue, runtime, bar, controller } = parts;
  const { table, timeoutSeconds } = options;
  let resolvedCount = 0;
  return runEvaluation(
    work.rows,
    work.predictions,
    {
      runtime,
      docker: runtime?.docker,
      table,
      reposDir: work.reposDir,
      timeoutSeconds,
      grading: gradingRule(flags.grading),
      pip: settings.pip,
      signal: controller.signal,
    },
    {
      out: resolve(flags.out),
      // Queued: every instance waits on the queue at once; the workers' --concurrency sets the pace.
      workers: queue ? work.total : options.workers,
      evaluate: queue
        ? remoteEvaluator(queue, {
            out: resolve(flags.out),
            table,
            settings: { timeoutSeconds, grading: gradingRule(flags.grading) },
            signal: controller.signal,
          })
        : undefined,
      dataset: flags.dataset,
      predictions: flags.predictions,
      bench: work.bench,
      onPlan: (lines) => {
        for (const line of lines) process.stderr.write(line);
      },
      onDone: (result, cached) => {
        // Written into the run directory: its job can leave the queue.
        if (queue && !cached) void queue.collected(result.instance_id);
        if (result.status === 'resolved') resolvedCount += 1;
        bar.increment(1, {
          resolved: resolvedCount,
          id: `${result.instance_id} ${result.status}${cached ? ' (kept)' : ''}`,
        });
      },
    },
  );
}

/** Per repository and overall: resolved, and the ways instances failed to be judged. */
function printEvalSummary(report: EvalReport, out: string): void {
  for (const [repo, r] of Object.entries(report.per_repo))
    process.stdout.write(
      `${repo.padEnd(28)} ${r.resolved}/${r.submitted} resolved${r.env_error ? `, ${r.env_error} env error(s)` : ''}\n`,
    );
  process.stdout.write(
    `resolved ${report.resolved_ids.length}/${report.submitted_ids.length} ` +
      `(${(report.resolved_rate * 100).toFixed(1)}%); apply ` +
      `errors ${report.apply_error_ids.length}, env ` +
      `errors ${report.env_error_ids.length}, test errors ${report.test_error_ids.length}; report: ${resolve(out, 'report.md')}\n`,
  );
}

/**
 * Ctrl-C is the user's choice: one line saying what is kept, not a stack. Queued instances no
 * worker has started are taken off; started ones finish there, for the rerun to collect.
 */
async function cancellation(queue: InstanceQueueClient | undefined, out: string): Promise<FixwrightError> {
  // Within main's 3 s: with Redis down the line still comes.
  const queued = queue ? cancelledNote(await queue.cancelWaiting(1500)) : '';
  await queue?.close(500);
  return new FixwrightError(
    'FW_ERR_CANCELLED',
    `cancelled; finished verdicts are kept in ${resolve(out)}${queued}: rerun the same command to resume`,
  );
}

/** The command's action: check the flags, gather the predictions, build the parts, evaluate, summarise, close. */
async function runEval(flags: EvalFlags, setExitCode: (code: number) => void): Promise<void> {
  const settings = loadSettings(process.env);
  const options = evalOptions(flags, settings);
  const work = await workToEvaluate(flags);
  makeOutputDir(flags.out);
  // On the queue, each worker reads repositories on its own machine (its --repos, or clones).
  const reposDir = options.queueURL
    ? ''
    : await repositoriesFor(
        work.rows.filter((r) => work.predictions.has(r.instance_id)),
        flags.repos,
        settings.dataDir,
      );
  // Predictions from `fixwright solve-dataset` carry its figures beside them: the report shows both.
  const { bench, warning } = flags.predictions === 'gold' ? {} : benchFiguresBeside(flags.predictions);
  if (warning) process.stderr.write(`fixwright: ${warning}\n`);
  const parts = await openEvaluation(options, settings, work.total);
  try {
    const report = await evaluate(flags, settings, options, { ...work, reposDir, bench }, parts);
    parts.bar.stop();
    printEvalSummary(report, flags.out);
    setExitCode(0);
  } catch (err) {
    if (parts.controller.signal.aborted) throw await cancellation(parts.queue, flags.out);
    throw err;
  } finally {
    parts.bar.stop();
    await parts.runtime?.close();
    await parts.queue?.close();
  }
}

/** `fixwright eval`: official-rule verdicts for predictions, each run in the sandbox. */
export function registerEvalCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('eval')
    .description(
      'evaluate predictions on SWE-bench-format instances in the sandbox: model patch, test patch, FAIL_TO_PASS and PASS_TO_PASS, the official verdict',
    )
    .requiredOption(
      '--dataset <path>',
      'SWE-bench rows: JSONL, a JSON array, parquet, or a Hugging Face datasets cache directory ' +
        '(e.g. ~/.cache/huggingface/hub/datasets--princeton-nlp--SWE-bench_Lite)',
    )
    .addOption(
      new Option('--split <split>', 'the split to read from a parquet directory')
        .choices(['test', 'dev'])
        .default('test'),
    )
    .requiredOption(
      '--predictions <file|gold>',
      'predictions in the official format (JSONL or JSON: instance_id, model_name_or_path, model_patch), or "gold" for the dataset\'s own patches',
    )
    .option(
      '--repos <dir>',
      'repositories as DIR/<owner>/<name> (git mirrors or checkouts) (default: cloned from GitHub into FIXWRIGHT_DATA_DIR/repos)',
    )
    .option('--instances <ids>', 'only these instance ids (comma-separated)')
    .option('--only-repos <names>', 'only these repositories (owner/name, comma-separated)')
    .option('--limit <n>', 'at most this many instances')
    .option('--workers <n>', 'instances evaluated at once (each in its own sandbox)', '2')
    .option('--timeout <seconds>', "limit for one instance's test run (official: 1800)", '1800')
    .requiredOption(
      '--out <dir>',
      'where report.json, report.md and instances/<id>/ (result, log, patch) go; a rerun resumes',
    )
    .option(
      '--queue [redis-url]',
      `${QUEUE_HELP} (then --workers and --repos are the workers' business: each uses its own ` +
        `--concurrency and --repos; this table and grading rule travel with each job)`,
    )
    .option('--env-table <file>', ENV_TABLE_HELP)
    .addOption(gradingOption())
    .action((flags: EvalFlags) => runEval(flags, setExitCode));
}
