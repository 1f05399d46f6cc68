import { existsSync } from 'node:fs';
import { connectQueue } from '../queue-connect.js';
import { join, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { DEFAULT_TEMPERATURES, DEFAULT_TEST_TIMEOUT_SECONDS } from '../../agent/index.js';
import { environmentFor, benchFiguresBeside, type EvalReport, runEvaluation } from '../../benchmarks/eval/index.js';
import { type EvalRow, loadEvalRows, loadPredictions, selectRows } from '../../benchmarks/eval/instances.js';
import {
  type AblationRow,
  type Variant,
  variantLocalisation,
  type VariantLocalisation,
  writeAblationTable,
  resultSettings,
  resumeLines,
  solveInstances,
} from '../../benchmarks/run/index.js';
import { type Settings, FixwrightError } from '../../core/index.js';
import { createLogger } from '../../core/logger.js';
import { createSandboxRuntime } from '../../sandbox/index.js';
import { makeOutputDir } from '../output-dir.js';
import { repositoriesFor } from '../repos-dir.js';
import { InstanceQueueClient, remoteBench, remoteEvaluator } from '../../benchmarks/queue/index.js';
import type { SandboxRuntime } from '../../sandbox/index.js';
import type { SolveDatasetFlags, SolveDatasetOptions } from './solve-dataset-flags.js';

type SolveReport = Awaited<ReturnType<typeof solveInstances>>['report'];

/** A whole `solve-dataset` run's parts: built once, closed when it ends. */
export interface SolveDatasetRun {
  flags: SolveDatasetFlags;
  options: SolveDatasetOptions;
  settings: Settings;
  rows: EvalRow[];
  /** Where the repositories are; empty on the queue, where each worker reads its own. */
  reposDir: string;
  queue: InstanceQueueClient | undefined;
  runtime: SandboxRuntime | undefined;
  secrets: string[];
  bar: SingleBar;
  /** Aborted by Ctrl-C. */
  controller: AbortController;
}

/** The dataset's rows the flags select (made sure there are some), the run directory made, and their repositories found. */
export async function instancesToRun(
  flags: SolveDatasetFlags,
  queueURL: string | undefined,
  settings: Settings,
): Promise<{ rows: EvalRow[]; reposDir: string }> {
  const { rows: all, errors } = await loadEvalRows(flags.dataset, flags.split);
  for (const e of errors) process.stderr.write(`fixwright: ${flags.dataset}:${e.line}: skipped: ${e.message}\n`);
  const rows = selectRows(all, flags);
  if (rows.length === 0)
    throw new FixwrightError('FW_ERR_BAD_INPUT', 'no instances to run (check --instances, --only-repos, --limit)');
  makeOutputDir(flags.out);
  // On the queue, each worker reads repositories on its own machine (its --repos, or clones).
  const reposDir = queueURL ? '' : await repositoriesFor(rows, flags.repos, settings.dataDir);
  const missing = queueURL ? [] : rows.filter((r) => !existsSync(join(reposDir, r.repo)));
  if (missing.length)
    process.stderr.write(
      `fixwright: ${missing.length} instance(s) have no repository ` +
        `under ${reposDir} (${[...new Set(missing.map((r) => r.repo))].join(', ')}); they end in error\n`,
    );
  return { rows, reposDir };
}

/** The run's parts (the command's composition root): the queue or a sandbox runtime, the progress bar, Ctrl-C's abort. */
export async function openRun(
  flags: SolveDatasetFlags,
  options: SolveDatasetOptions,
  settings: Settings,
  instances: { rows: EvalRow[]; reposDir: string },
): Promise<SolveDatasetRun> {
  const logger = createLogger(settings.logLevel === 'info' ? 'warn' : settings.logLevel);
  const queue = options.queueURL
    ? await connectQueue(options.queueURL, `${instances.rows.length} instance(s)`)
    : undefined;
  // The submitter of a queued run starts no sandbox: it needs no Docker.
  const runtime: SandboxRuntime | undefined = queue ? undefined : await createSandboxRuntime(settings, { logger });
  const secrets = [settings.models.apiKey, settings.github.token].filter((s): s is string => Boolean(s));
  const bar = new SingleBar({
    format: 'solve-dataset {bar} {value}/{total} | resolved {resolved} | {cost} | {eta_formatted} left | {id}',
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    noTTYOutput: false,
    notTTYSchedule: 10_000,
  });
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  return { flags, options, settings, ...instances, queue, runtime, secrets, bar, controller };
}

/** Dollars, or `unpriced` for a model fixwright has no price for. */
function costText(run: SolveDatasetRun, usd: number): string {
  return run.options.priced ? `$${usd.toFixed(2)}` : 'unpriced';
}

/** The model and run options of one variant (the full run's where it sets none). */
function solveFor(run: SolveDatasetRun, variant: Variant | undefined) {
  const { model, baseURL, maxAttempts, samples, maxCostUsd } = run.options;
  return {
    model,
    baseURL,
    provider: run.flags.provider,
    maxAttempts: variant?.maxAttempts ?? maxAttempts,
    samples: variant?.samples ?? samples,
    testTimeoutSeconds: DEFAULT_TEST_TIMEOUT_SECONDS,
    maxCostUsd,
    temperatures: DEFAULT_TEMPERATURES,
  };
}

/**
 * A rerun keeps what finished: say so, or it looks as if those instances were forgotten.
 * One drawn with other --samples, --max-cost or --max-attempts runs again: say that too.
 */
function reportResume(run: SolveDatasetRun, variant: Variant | undefined, out: string, tag: string): void {
  const { maxAttempts, samples, maxCostUsd } = run.options;
  for (const line of resumeLines(
    run.rows,
    out,
    resultSettings({
      maxAttempts: variant?.maxAttempts ?? maxAttempts,
      samples: variant?.samples ?? samples,
      maxCostUsd,
    }),
    tag,
  ))
    process.stderr.write(line);
}

/** Where the instances run: on the queue's workers, or here in sandboxes wired from the run's parts. */
function benchContext(
  run: SolveDatasetRun,
  variant: Variant | undefined,
  out: string,
  localisation: VariantLocalisation,
) {
  const { flags, options, queue } = run;
  const environments = options.environments;
  // The agent tests a known instance in the environment eval grades it in (the same table).
  const tableEnvironment = (row: { repo: string; version?: string }) => {
    const env = environmentFor(environments, row.repo, row.version);
    return env.supported ? { table: env } : undefined;
  };
  return queue
    ? remoteBench(queue, {
        out,
        // Only an explicit --base-url travels: otherwise each worker uses its own endpoint.
        solve: { ...solveFor(run, variant), baseURL: flags.baseUrl },
        // Each job carries the table's entry for its row; the worker checks it and resolves the environment from it.
        table: environments,
        variant,
        errorRetries: options.errorRetries,
        signal: run.controller.signal,
      })
    : {
        solve: solveFor(run, variant),
        parts: {
          settings: run.settings,
          runtime: run.runtime!,
          localiser: localisation.localiser,
          calibration: localisation.calibration,
          modelGate: options.modelGate,
        },
        reposDir: run.reposDir,
        secrets: run.secrets,
        environmentFor: tableEnvironment,
        signal: run.controller.signal,
      };
}

/** Solves every instance for one variant, the progress bar counting resolved instances and cost. */
async function solveVariant(
  run: SolveDatasetRun,
  variant: Variant | undefined,
  out: string,
): Promise<{ report: SolveReport; cost: number; localisation: VariantLocalisation }> {
  const { queue, bar, rows } = run;
  let resolved = 0;
  let cost = 0;
  bar.start(rows.length, 0, { resolved: 0, cost: costText(run, 0), id: variant?.name ?? '' });
  const localisation = variantLocalisation(run.settings, variant);
  const { report } = await solveInstances(rows, benchContext(run, variant, out, localisation), {
    out,
    // Queued: every instance waits on the queue at once; the workers' --concurrency sets the pace.
    workers: queue ? rows.length : run.options.workers,
    modelName: run.options.model,
    errorRetries: run.options.errorRetries,
    onDone: (r, kept) => {
      // Written into the run directory: its job can leave the queue.
      if (queue && !kept) void queue.collected(r.instance_id);
      if (r.status === 'resolved') resolved += 1;
      cost += r.cost_usd;
      bar.increment(1, {
        resolved,
        cost: costText(run, cost),
        id: `${variant ? `${variant.name}: ` : ''}${r.instance_id} ${r.status}${kept ? ' (kept)' : ''}`,
      });
    },
  });
  bar.stop();
  return { report, cost, localisation };
}

/** One variant's outcome: the agent's verdicts, localisation, tokens and cost; errors get a line of their own. */
function printVariantSummary(
  run: SolveDatasetRun,
  report: SolveReport,
  out: string,
  tag: string,
  scored: boolean,
): void {
  const { priced, model } = run.options;
  const s = report.agent_status as Record<string, number>;
  const loc = report.localisation;
  const retried = report.retried ? ` (${report.retried} instance(s) retried after an error)` : '';
  const drawn =
    report.samples > 1 ? `${report.candidates_drawn} candidate(s) drawn (--samples ${report.samples}); ` : '';
  const tokens = report.tokens.input + report.tokens.output;
  const cost = priced ? costText(run, report.cost_usd) : `cost unpriced (no price for ${model}: set FIXWRIGHT_PRICES)`;
  process.stdout.write(
    `${tag}${run.rows.length} instance(s): agent resolved ${s.resolved}, unverified ${s.unverified}, ` +
      `failed ${s.failed}, errors ${s.error}${retried}; ` +
      `localisation R@1 ${loc.recall_at_1.toFixed(2)}, R@5 ${loc.recall_at_5.toFixed(2)}, coverage ${loc.conformal_coverage.toFixed(2)}; ` +
      `${drawn}${tokens} tokens, ${cost}` +
      `\npredictions: ${join(out, 'predictions.jsonl')}${scored ? '' : ' (score them: fixwright eval --predictions … )'}\n`,
  );
  if (s.error)
    process.stderr.write(
      `fixwright: ${tag}${s.error} instance(s) ended in error (see bench-report.json's message per instance); rerun with the same --out to try them again\n`,
    );
}

/** `--eval`: scores the variant's predictions with the official verdicts (here, or on the queue's workers), into OUT/eval/. */
async function evaluateVariant(
  run: SolveDatasetRun,
  table: SolveDatasetOptions['environments'],
  out: string,
  tag: string,
  cost: number,
): Promise<EvalReport> {
  const { rows, runtime, queue, bar, flags, settings } = run;
  const { evalTimeoutSeconds: timeoutSeconds, grading } = run.options;
  const signal = run.controller.signal;
  const predictionsFile = join(out, 'predictions.jsonl');
  const { predictions } = loadPredictions(predictionsFile, rows);
  bar.start(predictions.size, 0, { resolved: 0, cost: costText(run, cost), id: `${tag}eval` });
  let officialResolved = 0;
  const evalOut = join(out, 'eval');
  const official = await runEvaluation(
    rows,
    predictions,
    runtime
      ? {
          runtime,
          docker: runtime.docker,
          table,
          reposDir: run.reposDir,
          timeoutSeconds,
          grading,
          pip: settings.pip,
          signal,
        }
      : { table, timeoutSeconds, grading },
    {
      out: evalOut,
      workers: queue ? rows.length : run.options.workers,
      evaluate: queue
        ? remoteEvaluator(queue, { out: evalOut, table, settings: { timeoutSeconds, grading }, signal })
        : undefined,
      dataset: flags.dataset,
      predictions: predictionsFile,
      bench: benchFiguresBeside(predictionsFile).bench,
      onDone: (r, kept) => {
        if (queue && !kept) void queue.collected(r.instance_id);
        bar.increment(1, {
          resolved: (officialResolved += r.status === 'resolved' ? 1 : 0),
          id: `${tag}eval ${r.instance_id} ${r.status}`,
        });
      },
    },
  );
  bar.stop();
  process.stdout.write(
    `${tag}official verdicts: ` +
      `resolved ${official.resolved_ids.length}/${official.submitted_ids.length} ` +
      `(${(official.resolved_rate * 100).toFixed(1)}%); report: ${join(out, 'eval', 'report.md')}\n`,
  );
  return official;
}

/** One variant (or the full run): solve, summarise, score with `--eval`; its row of the ablation table. */
async function runVariant(run: SolveDatasetRun, variant: Variant | undefined): Promise<AblationRow> {
  const out = variant ? resolve(run.flags.out, variant.name) : resolve(run.flags.out);
  const tag = variant ? `[${variant.name}] ` : '';
  reportResume(run, variant, out, tag);
  const { report, cost, localisation } = await solveVariant(run, variant, out);
  const table = run.flags.eval ? run.options.environments : undefined;
  printVariantSummary(run, report, out, tag, table !== undefined);
  const official = table ? await evaluateVariant(run, table, out, tag, cost) : undefined;
  return {
    variant: variant?.name ?? 'full',
    localisation: localisation.description,
    report,
    ...(official ? { official } : {}),
  };
}

/** Every variant in turn, then (with `--ablate`) the table comparing them. */
export async function runVariants(run: SolveDatasetRun): Promise<void> {
  const tables: AblationRow[] = [];
  for (const variant of run.options.variants) tables.push(await runVariant(run, variant));
  if (run.flags.ablate)
    process.stdout.write(`${writeAblationTable(resolve(run.flags.out), tables, { priced: run.options.priced })}\n`);
}
