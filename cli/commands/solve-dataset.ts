import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { DEFAULT_SAMPLES } from '../../agent/index.js';
import { ABLATIONS, SELECTION_ABLATION_SAMPLES } from '../../benchmarks/run/index.js';
import { loadSettings, FixwrightError } from '../../core/index.js';
import { ENV_TABLE_HELP, gradingOption, maxCostHelp, MODEL_RPM_HELP, SAMPLES_HELP } from '../flags.js';
import { cancelledNote } from '../../benchmarks/queue/index.js';
import { QUEUE_HELP } from '../queue-flag.js';
import { type SolveDatasetFlags, solveDatasetOptions } from './solve-dataset-flags.js';
import { instancesToRun, openRun, runVariants, type SolveDatasetRun } from './solve-dataset-run.js';

/**
 * Ctrl-C is the user's choice: one line saying what is kept, not a stack. Queued instances no
 * worker has started are taken off; started ones finish there, for the rerun to collect.
 */
async function cancellation(run: SolveDatasetRun): Promise<FixwrightError> {
  // Within main's 3 s: with Redis down the line still comes.
  const queued = run.queue ? cancelledNote(await run.queue.cancelWaiting(1500)) : '';
  await run.queue?.close(500);
  return new FixwrightError(
    'FW_ERR_CANCELLED',
    `cancelled; finished instances are kept in ${resolve(run.flags.out)}${queued}: rerun the same command to resume`,
  );
}

/** The command's action: check the flags, pick the instances, build the run's parts, run every variant, close. */
async function solveDataset(flags: SolveDatasetFlags): Promise<void> {
  const settings = loadSettings(process.env);
  const options = await solveDatasetOptions(flags, settings);
  const instances = await instancesToRun(flags, options.queueURL, settings);
  const run = await openRun(flags, options, settings, instances);
  try {
    await runVariants(run);
  } catch (err) {
    if (run.controller.signal.aborted) throw await cancellation(run);
    throw err;
  } finally {
    run.bar.stop();
    await run.runtime?.close();
    await run.queue?.close();
  }
}

/** `fixwright solve-dataset`: the agent over a SWE-bench-format dataset, predictions in the official format. */
export function registerSolveDatasetCommand(program: Command): void {
  program
    .command('solve-dataset')
    .alias('bench')
    .description(
      'run the agent on every instance of a SWE-bench-format dataset (in parallel, resumable) and ' +
        'write predictions.jsonl in the official format; score it with fixwright eval',
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
      `also run without each of these ` +
        `(${ABLATIONS.join(',')}), each variant in OUT/<variant>/, and write OUT/ablation.md; ` +
        `selection compares samples-N (the full run, N from --samples) with samples-1 at the same prices and --max-cost`,
    )
    .option(
      '--error-retries <n>',
      'try an instance that ends in error (model provider or environment failure) again up to this many times, after 2 s, 4 s, … of back-off',
      '2',
    )
    .option(
      '--eval',
      'score the predictions with fixwright eval as the run ends (OUT/eval/, or OUT/<variant>/eval/ ' +
        'with --ablate): the ablation table then holds the official resolved rate',
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
    .action((flags: SolveDatasetFlags) => solveDataset(flags));
}
