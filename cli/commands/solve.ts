import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { checkModel, createLocaliser, DEFAULT_SAMPLES, repositorySources, type RepoSpec } from '../../agent/index.js';
import { type Settings, loadSettings, FixwrightError } from '../../core/index.js';
import { maxCostHelp, MODEL_RPM_HELP, SAMPLES_HELP } from '../flags.js';
import { makeOutputDir, refuseUsedRunDir } from '../output-dir.js';
import { solveRun, type SolveFlags, type SolveRun } from './solve-flags.js';
import { recordUnreachableModel, runSolve } from './solve-run.js';

export { checkBaseUrlFlag } from './solve-flags.js';
export { attemptEntry, EXIT_RUN_ERROR, selectionLine } from './solve-run.js';

/** With no model configured, prints what localisation alone finds, then says how to name a model. */
async function localisationOnly(
  repo: RepoSpec,
  issue: string,
  settings: Settings,
  localiser: ReturnType<typeof createLocaliser>,
): Promise<never> {
  const { snapshot } = await repositorySources(repo, settings);
  const index = await localiser.index(snapshot);
  const { files } = await localiser.rank(index, issue);
  for (const f of files.slice(0, 10)) process.stdout.write(`${f.score.toFixed(4)}  ${f.path}\n`);
  throw new FixwrightError(
    'FW_ERR_CONFIG',
    'no model configured: set FIXWRIGHT_MODEL (or --model), and OPENAI_API_KEY and ' +
      'OPENAI_BASE_URL (or --base-url) for its endpoint; the files above are the localisation alone',
  );
}

/**
 * Fails on an unusable model configuration now, not inside the first attempt; an endpoint that
 * does not answer is returned as a message, for the run to record once --out is made.
 */
async function modelUnreachable(run: SolveRun & { model: string }, settings: Settings): Promise<string | undefined> {
  try {
    await checkModel({ model: run.model, provider: run.provider, baseURL: run.baseURL }, settings);
  } catch (err) {
    if ((err as { code?: string }).code !== 'FW_ERR_MODEL') throw err;
    return (err as Error).message;
  }
  return undefined;
}

/** The command's action: check the flags and the model, make --out, run, and set the exit code. */
async function solve(flags: SolveFlags, setExitCode: (code: number) => void): Promise<void> {
  const settings = loadSettings(process.env);
  const run = await solveRun(flags, settings);
  const localiser = createLocaliser(settings);
  const { model } = run;
  if (!model) return localisationOnly(run.request.repo, run.request.issue, settings, localiser);
  // A bad model setting is reported before anything about --out.
  const unreachable = await modelUnreachable({ ...run, model }, settings);
  refuseUsedRunDir(resolve(flags.out));
  const out = makeOutputDir(flags.out);
  const taskId = randomUUID();
  if (unreachable !== undefined) {
    setExitCode(recordUnreachableModel(out, taskId, unreachable));
    return;
  }
  setExitCode(await runSolve({ ...run, model }, settings, localiser, out, taskId));
}

/** `fixwright solve`: localise, patch with a model, prove the patch in the sandbox. */
export function registerSolveCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('solve')
    .description(
      'fix an issue: localise the files, write a patch with a model, prove it in the sandbox (at most --max-attempts)',
    )
    .requiredOption(
      '--repo <path>',
      'repository: a checkout, a directory, or https://github.com/OWNER/NAME (cloned once under the data directory)',
    )
    .option('--commit <sha>', 'work on this commit (read from git objects)')
    .requiredOption(
      '--issue <text>',
      'issue text (first line: its title), @FILE (@- for standard input), or https://github.com/OWNER/NAME/issues/N (read through the REST API; GITHUB_TOKEN optional)',
    )
    .option('--model <name>', 'chat model (default FIXWRIGHT_MODEL)')
    .option('--base-url <url>', 'OpenAI-compatible endpoint (default OPENAI_BASE_URL; OpenAI when unset)')
    .option('--max-attempts <n>', 'attempts at most', '3')
    .option('--test-timeout <seconds>', 'limit for each test run in the sandbox', '120')
    .option('--provider <name>', 'openai, deepseek or compatible (default: compatible with --base-url, else openai)')
    .option('--max-cost <usd>', maxCostHelp("the run's"))
    .option('--max-seconds <s>', 'start no new attempt after this many seconds')
    .option(
      '--env <file>',
      "the project's environment spec (YAML or JSON: python, packages, apt, pip, pythonpath, " +
        'test_command, test_env, imports); default: .fixwright/environment.yml in the repository, else inferred from its files',
    )
    .option('--temperatures <list>', 'temperature per attempt; the last repeats', '0,0.4,0.7')
    .option('--samples <n>', SAMPLES_HELP, String(DEFAULT_SAMPLES))
    .option('--model-rpm <n>', MODEL_RPM_HELP)
    .option(
      '--out <dir>',
      'where patch.diff, trajectory.jsonl and result.json go: a new or empty folder (one run per folder)',
      'fixwright-out',
    )
    .action((flags: SolveFlags) => solve(flags, setExitCode));
}
