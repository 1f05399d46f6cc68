import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { Option, type Command } from 'commander';
import {
  checkModel,
  DEFAULT_PRICES,
  DEFAULT_SAMPLES,
  DEFAULT_TEMPERATURES,
  isPriced,
  DEFAULT_TEST_TIMEOUT_SECONDS,
  type ModelProvider,
} from '../../agent/index.js';
import { loadEvalRows, selectRows } from '../../benchmarks/eval/instances.js';
import {
  environmentFor,
  benchFiguresBeside,
  type EvalReport,
  runEvaluation,
  gradingRule,
  type GradingRuleName,
} from '../../benchmarks/eval/index.js';
import { loadPredictions } from '../../benchmarks/eval/instances.js';
import {
  ABLATIONS,
  ablationVariants,
  SELECTION_ABLATION_SAMPLES,
  variantLocalisation,
  writeAblationTable,
  type AblationRow,
  resultSettings,
  resumeLines,
  solveInstances,
} from '../../benchmarks/run/index.js';
import { loadSettings, redisURLForDisplay, FixwrightError } from '../../core/index.js';
import { createLogger } from '../../core/logger.js';
import { createSandboxRuntime } from '../../sandbox/index.js';
import {
  ENV_TABLE_HELP,
  envTableFlag,
  gradingOption,
  maxCostFlag,
  maxCostHelp,
  modelGateFlag,
  MODEL_RPM_HELP,
  pipSourceWarning,
  samplesFlag,
  SAMPLES_HELP,
  wholeNumber,
} from '../flags.js';
import { makeOutputDir } from '../output-dir.js';
import { checkBaseUrlFlag } from './solve.js';
import { repositoriesFor } from '../repos-dir.js';
import { cancelledNote, InstanceQueueClient, remoteBench, remoteEvaluator } from '../../benchmarks/queue/index.js';
import { QUEUE_HELP, queueFlag } from '../queue-flag.js';
import type { SandboxRuntime } from '../../sandbox/index.js';

interface BenchFlags {
  dataset: string;
  split: string;
  repos?: string;
  instances?: string;
  onlyRepos?: string;
  limit?: string;
  workers: string;
  model?: string;
  baseUrl?: string;
  provider?: ModelProvider;
  maxAttempts: string;
  maxCost?: string;
  out: string;
  ablate?: string;
  eval?: boolean;
  modelRpm?: string;
  evalTimeout: string;
  errorRetries: string;
  samples?: string;
  queue?: string | boolean;
  envTable?: string;
  grading: GradingRuleName;
}

/** `fixwright solve-dataset`: the agent over a SWE-bench-format dataset, predictions in the official format. */
export function registerSolveDatasetCommand(program: Command): void {
  program
    .command('solve-dataset')
    .alias('bench')
    .description(
      'run the agent on every instance of a SWE-bench-format dataset (in parallel, resumable) and write predictions.jsonl in the official format; score it with fixwright eval',
    )
    .requiredOption('--dataset <path>', 'JSONL, JSON, parquet, or a Hugging Face datasets cache directory')
    .addOption(
      new Option('--split <split>', 'the split to read from a parquet directory')
        .choices(['test', 'dev'])
        .default('test'),
    )
    .option(
      '--repos <dir>',
      'repositories as DIR/<owner>/<name>; each instance is read at its base_commit (default: cloned from GitHub into FIXWRIGHT_DATA_DIR/repos)',
    )
    .option('--instances <ids>', 'only these instance ids (comma-separated)')
    .option('--only-repos <names>', 'only these repositories (owner/name, comma-separated)')
    .option('--limit <n>', 'at most this many instances')
    .option('--workers <n>', 'instances run at once (each attempt tests in its own sandbox)', '2')
    .option('--model <name>', 'chat model (default FIXWRIGHT_MODEL)')
    .option('--base-url <url>', 'OpenAI-compatible endpoint (default OPENAI_BASE_URL)')
    .addOption(
      new Option('--provider <name>', 'openai, deepseek or compatible').choices(['openai', 'deepseek', 'compatible']),
    )
    .option('--max-attempts <n>', 'attempts per instance', '3')
    .option('--max-cost <usd>', maxCostHelp("each instance's"))
    .option(
      '--samples <n>',
      `${SAMPLES_HELP} (default ${DEFAULT_SAMPLES}; with --ablate selection the sampled run's N, ${SELECTION_ABLATION_SAMPLES} when 1 or not given)`,
    )
    .option('--model-rpm <n>', MODEL_RPM_HELP)
    .option(
      '--ablate <parts>',
      `also run without each of these (${ABLATIONS.join(',')}), each variant in OUT/<variant>/, and write OUT/ablation.md; selection compares samples-N (the full run, N from --samples) with samples-1 at the same prices and --max-cost`,
    )
    .option(
      '--error-retries <n>',
      'try an instance that ends in error (model provider or environment failure) again up to this many times, after 2 s, 4 s, … of back-off',
      '2',
    )
    .option(
      '--eval',
      'score the predictions with fixwright eval as the run ends (OUT/eval/, or OUT/<variant>/eval/ with --ablate): the ablation table then holds the official resolved rate',
    )
    .option('--eval-timeout <seconds>', "with --eval: limit for one instance's test run (official: 1800)", '1800')
    .option(
      '--env-table <file>',
      `${ENV_TABLE_HELP}: the agent tests a known instance in its entry, and --eval grades in it`,
    )
    .addOption(gradingOption())
    .requiredOption(
      '--out <dir>',
      'run directory: predictions.jsonl, trajectories/, results/, bench-report.json; a rerun skips finished instances',
    )
    .option(
      '--queue [redis-url]',
      `${QUEUE_HELP} (then --workers, --repos and the model key are the workers' business: each uses its own --concurrency, --repos and OPENAI_API_KEY)`,
    )
    .action(async (flags: BenchFlags) => {
      const settings = loadSettings(process.env);
      const workers = wholeNumber(flags.workers, '--workers', 1, 64);
      const maxAttempts = wholeNumber(flags.maxAttempts, '--max-attempts', 1, 10);
      const maxCostUsd = maxCostFlag(flags.maxCost);
      const samples = samplesFlag(flags.samples);
      const modelGate = modelGateFlag(flags.modelRpm);
      const queueURL = queueFlag(flags.queue, settings.service.redisURL, (line) => process.stderr.write(line));
      if (queueURL && flags.modelRpm !== undefined)
        throw new FixwrightError(
          'FW_ERR_BAD_INPUT',
          '--model-rpm limits this process only: with --queue set FIXWRIGHT_MODEL_RPM on each worker',
          { field: '--model-rpm' },
        );
      const variants = flags.ablate ? ablationVariants(flags.ablate, samples) : [undefined];
      const grading = gradingRule(flags.grading);
      // Read before anything runs: a bad table is one clear error, not a run of env errors.
      const environments = envTableFlag(flags.envTable);
      const pipWarning = queueURL ? undefined : pipSourceWarning(environments, settings.pip);
      if (pipWarning) process.stderr.write(pipWarning);
      const model = flags.model ?? settings.models.chatModel;
      if (!model)
        throw new FixwrightError(
          'FW_ERR_CONFIG',
          'no model configured: pass --model or set FIXWRIGHT_MODEL (and OPENAI_BASE_URL / OPENAI_API_KEY for its endpoint)',
        );
      checkBaseUrlFlag(flags.baseUrl);
      const errorRetries = wholeNumber(flags.errorRetries, '--error-retries', 0, 10);
      const baseURL = flags.baseUrl ?? settings.models.baseURL;
      // A wrong key or an endpoint that does not answer fails here, not as an error in every instance.
      // On the queue the workers call the model with their own key and endpoint: each checks it as it starts.
      if (!queueURL) await checkModel({ model, provider: flags.provider, baseURL }, settings);
      // A model fixwright has no price for costs an unknown amount, not $0.
      const priced = isPriced(model, { ...DEFAULT_PRICES, ...settings.models.prices });
      const costText = (usd: number) => (priced ? `$${usd.toFixed(2)}` : 'unpriced');
      const evalTimeoutSeconds = wholeNumber(flags.evalTimeout, '--eval-timeout', 1, 86_400);

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
          `fixwright: ${missing.length} instance(s) have no repository under ${reposDir} (${[...new Set(missing.map((r) => r.repo))].join(', ')}); they end in error\n`,
        );

      const logger = createLogger(settings.logLevel === 'info' ? 'warn' : settings.logLevel);
      const queue = queueURL
        ? await InstanceQueueClient.connect(
            queueURL,
            (err) => process.stderr.write(`fixwright: the queue's Redis is unreachable (${err.message}); retrying\n`),
            'fixwright',
            5000,
            { line: (text) => process.stderr.write(text) },
          )
        : undefined;
      if (queue && queueURL) {
        const connected = await queue.workers();
        process.stderr.write(
          `fixwright: queue ${redisURLForDisplay(queueURL)}: ${rows.length} instance(s) go to the workers (${connected} connected now${connected === 0 ? ': start `fixwright worker` with REDIS_URL=' + redisURLForDisplay(queueURL) + ' on machines with Docker' : ''})\n`,
        );
      }
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
      let resolved = 0;
      let cost = 0;
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      const solveFor = (variant: (typeof variants)[number]) => ({
        model,
        baseURL,
        provider: flags.provider,
        maxAttempts: variant?.maxAttempts ?? maxAttempts,
        samples: variant?.samples ?? samples,
        testTimeoutSeconds: DEFAULT_TEST_TIMEOUT_SECONDS,
        maxCostUsd,
        temperatures: DEFAULT_TEMPERATURES,
      });
      const tables: AblationRow[] = [];
      // The agent tests a known instance in the environment eval grades it in (the same table).
      const table = flags.eval ? environments : undefined;
      const tableEnvironment = (row: { repo: string; version?: string }) => {
        const env = environmentFor(environments, row.repo, row.version);
        return env.supported ? { table: env } : undefined;
      };
      try {
        for (const variant of variants) {
          const out = variant ? resolve(flags.out, variant.name) : resolve(flags.out);
          const tag = variant ? `[${variant.name}] ` : '';
          // A rerun keeps what finished: say so, or it looks as if those instances were forgotten.
          // One drawn with other --samples, --max-cost or --max-attempts runs again: say that too.
          for (const line of resumeLines(
            rows,
            out,
            resultSettings({
              maxAttempts: variant?.maxAttempts ?? maxAttempts,
              samples: variant?.samples ?? samples,
              maxCostUsd,
            }),
            tag,
          ))
            process.stderr.write(line);
          resolved = 0;
          cost = 0;
          bar.start(rows.length, 0, { resolved: 0, cost: costText(0), id: variant?.name ?? '' });
          const localisation = variantLocalisation(settings, variant);
          const { report } = await solveInstances(
            rows,
            queue
              ? remoteBench(queue, {
                  out,
                  // Only an explicit --base-url travels: otherwise each worker uses its own endpoint.
                  solve: { ...solveFor(variant), baseURL: flags.baseUrl },
                  // Each job carries the table's entry for its row; the worker checks it and resolves the environment from it.
                  table: environments,
                  variant,
                  errorRetries,
                  signal: controller.signal,
                })
              : {
                  solve: solveFor(variant),
                  parts: {
                    settings,
                    runtime: runtime!,
                    localiser: localisation.localiser,
                    calibration: localisation.calibration,
                    modelGate,
                  },
                  reposDir,
                  secrets,
                  environmentFor: tableEnvironment,
                  signal: controller.signal,
                },
            {
              out,
              // Queued: every instance waits on the queue at once; the workers' --concurrency sets the pace.
              workers: queue ? rows.length : workers,
              modelName: model,
              errorRetries,
              onDone: (r, kept) => {
                // Written into the run directory: its job can leave the queue.
                if (queue && !kept) void queue.collected(r.instance_id);
                if (r.status === 'resolved') resolved += 1;
                cost += r.cost_usd;
                bar.increment(1, {
                  resolved,
                  cost: costText(cost),
                  id: `${variant ? `${variant.name}: ` : ''}${r.instance_id} ${r.status}${kept ? ' (kept)' : ''}`,
                });
              },
            },
          );
          bar.stop();
          const s = report.agent_status as Record<string, number>;
          process.stdout.write(
            `${tag}${rows.length} instance(s): agent resolved ${s.resolved}, unverified ${s.unverified}, failed ${s.failed}, errors ${s.error}${report.retried ? ` (${report.retried} instance(s) retried after an error)` : ''}; localisation R@1 ${report.localisation.recall_at_1.toFixed(2)}, R@5 ${report.localisation.recall_at_5.toFixed(2)}, coverage ${report.localisation.conformal_coverage.toFixed(2)}; ` +
              `${report.samples > 1 ? `${report.candidates_drawn} candidate(s) drawn (--samples ${report.samples}); ` : ''}${report.tokens.input + report.tokens.output} tokens, ${priced ? costText(report.cost_usd) : `cost unpriced (no price for ${model}: set FIXWRIGHT_PRICES)`}\npredictions: ${join(out, 'predictions.jsonl')}${table ? '' : ' (score them: fixwright eval --predictions … )'}\n`,
          );
          if (s.error)
            process.stderr.write(
              `fixwright: ${tag}${s.error} instance(s) ended in error (see bench-report.json's message per instance); rerun with the same --out to try them again\n`,
            );
          let official: EvalReport | undefined;
          if (table) {
            const predictionsFile = join(out, 'predictions.jsonl');
            const { predictions } = loadPredictions(predictionsFile, rows);
            bar.start(predictions.size, 0, { resolved: 0, cost: costText(cost), id: `${tag}eval` });
            let officialResolved = 0;
            const evalOut = join(out, 'eval');
            official = await runEvaluation(
              rows,
              predictions,
              runtime
                ? {
                    runtime,
                    docker: runtime.docker,
                    table,
                    reposDir,
                    timeoutSeconds: evalTimeoutSeconds,
                    grading,
                    pip: settings.pip,
                    signal: controller.signal,
                  }
                : { table, timeoutSeconds: evalTimeoutSeconds, grading },
              {
                out: evalOut,
                workers: queue ? rows.length : workers,
                evaluate: queue
                  ? remoteEvaluator(queue, {
                      out: evalOut,
                      table,
                      settings: { timeoutSeconds: evalTimeoutSeconds, grading },
                      signal: controller.signal,
                    })
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
              `${tag}official verdicts: resolved ${official.resolved_ids.length}/${official.submitted_ids.length} (${(official.resolved_rate * 100).toFixed(1)}%); report: ${join(out, 'eval', 'report.md')}\n`,
            );
          }
          tables.push({
            variant: variant?.name ?? 'full',
            localisation: localisation.description,
            report,
            ...(official ? { official } : {}),
          });
        }
        if (flags.ablate) process.stdout.write(`${writeAblationTable(resolve(flags.out), tables, { priced })}\n`);
      } catch (err) {
        // Ctrl-C is the user's choice: one line saying what is kept, not a stack.
        if (controller.signal.aborted) {
          // Queued instances no worker has started are taken off; started ones finish there, for the rerun to collect.
          // Within main's 3 s: with Redis down the line still comes.
          const queued = queue ? cancelledNote(await queue.cancelWaiting(1500)) : '';
          await queue?.close(500);
          throw new FixwrightError(
            'FW_ERR_CANCELLED',
            `cancelled; finished instances are kept in ${resolve(flags.out)}${queued}: rerun the same command to resume`,
          );
        }
        throw err;
      } finally {
        bar.stop();
        await runtime?.close();
        await queue?.close();
      }
    });
}
