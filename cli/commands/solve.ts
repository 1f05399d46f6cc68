import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import ora from 'ora';
import {
  checkModel,
  createLocaliser,
  DEFAULT_SAMPLES,
  defaultAgentParts,
  repositoryName,
  EventLog,
  isCloneableRepoUrl,
  redact,
  repositorySources,
  solveIssue,
  type AttemptRecord,
  type ModelProvider,
  type SolveContext,
  type SolveOutcome,
} from '../../agent/index.js';
import { loadSettings, FixwrightError } from '../../core/index.js';
import {
  maxCostFlag,
  maxCostHelp,
  modelGateFlag,
  MODEL_RPM_HELP,
  samplesFlag,
  SAMPLES_HELP,
  wholeNumber,
} from '../flags.js';
import { readIssueArg } from '../issue-input.js';
import { makeOutputDir, refuseUsedRunDir } from '../output-dir.js';
import { createSandboxRuntime, parseUserSpecText, type UserSpec } from '../../sandbox/index.js';

/**
 * Exit code of a run that ended in `error`: the model provider or the environment failed, so the
 * issue could not be judged (0 resolved, 1 unverified or failed, 2 bad flags, 125 fixwright's own failures).
 */
export const EXIT_RUN_ERROR = 3;

/** Checks that a base URL given as a flag is an http(s) URL, naming the flag when it is not. */
export function checkBaseUrlFlag(url: string | undefined, flag = '--base-url'): void {
  if (url === undefined) return;
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `${flag} must be an http(s) URL such as http://127.0.0.1:8000/v1 (got ${JSON.stringify(url.slice(0, 200))})`,
      { field: flag },
    );
  }
}

/** Reads and validates an environment file given on the command line (trusted: the operator's own). */
function readEnvironmentFile(path: string): UserSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `--env: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { field: '--env' },
    );
  }
  return parseUserSpecText(text, path, 'operator');
}

interface SolveFlags {
  repo: string;
  commit?: string;
  issue: string;
  model?: string;
  baseUrl?: string;
  maxAttempts: string;
  out: string;
  testTimeout: string;
  provider?: string;
  maxCost?: string;
  maxSeconds?: string;
  env?: string;
  temperatures: string;
  samples: string;
  modelRpm?: string;
}

/**
 * An attempt as result.json keeps it: `candidate` is the one kept (null when none won; 1 for a record
 * from before sampling), `candidates` how many were drawn, `selection` the winner and why.
 */
export function attemptEntry(a: AttemptRecord) {
  return {
    attempt: a.attempt,
    candidate: a.candidate ?? (a.candidates === undefined ? 1 : null),
    candidates: a.candidates?.length ?? 1,
    selection: a.selection ? { winner: a.selection.winner ?? null, reason: a.selection.reason } : null,
    failure: a.failure?.category ?? null,
    message: a.failure?.message ?? null,
    score: a.score,
  };
}

/** One line for an attempt that drew more than one candidate: which won and why (none otherwise). */
export function selectionLine(a: AttemptRecord): string | undefined {
  const drawn = a.candidates?.length ?? 1;
  if (drawn <= 1) return undefined;
  const winner = a.candidate ?? a.selection?.winner;
  const reason = a.selection?.reason ?? 'no selection recorded';
  return `attempt ${a.attempt}: ${winner === undefined ? 'no candidate' : `candidate ${winner}`} of ${drawn} won: ${reason}`;
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
    .action(async (flags: SolveFlags) => {
      const settings = loadSettings(process.env);
      const maxAttempts = wholeNumber(flags.maxAttempts, '--max-attempts', 1, 10);
      const samples = samplesFlag(flags.samples);
      const modelGate = modelGateFlag(flags.modelRpm);
      const testTimeout = Number(flags.testTimeout);
      if (!(testTimeout > 0))
        throw new FixwrightError('FW_ERR_BAD_INPUT', '--test-timeout must be a positive number of seconds', {
          field: '--test-timeout',
        });
      if (flags.provider !== undefined && !['openai', 'deepseek', 'compatible'].includes(flags.provider)) {
        throw new FixwrightError(
          'FW_ERR_BAD_INPUT',
          `--provider must be openai, deepseek or compatible (got ${flags.provider})`,
          { field: '--provider' },
        );
      }
      const maxCost = maxCostFlag(flags.maxCost);
      const maxSeconds = flags.maxSeconds === undefined ? undefined : Number(flags.maxSeconds);
      if (maxSeconds !== undefined && !(maxSeconds > 0))
        throw new FixwrightError('FW_ERR_BAD_INPUT', '--max-seconds must be a positive number', {
          field: '--max-seconds',
        });
      checkBaseUrlFlag(flags.baseUrl);
      const environment =
        flags.env === undefined
          ? undefined
          : { given: { spec: readEnvironmentFile(flags.env), origin: resolve(flags.env), trust: 'operator' as const } };
      const temperatures = flags.temperatures.split(',').map((t) => (t.trim() === '' ? NaN : Number(t)));
      if (temperatures.length === 0 || !temperatures.every((t) => t >= 0 && t <= 2)) {
        throw new FixwrightError(
          'FW_ERR_BAD_INPUT',
          `--temperatures must be numbers from 0 to 2 separated by commas (got ${flags.temperatures})`,
          { field: '--temperatures' },
        );
      }
      const issue = await readIssueArg(flags.issue, settings);
      const isUrl = /^[a-z]+:\/\//.test(flags.repo) || flags.repo.startsWith('git@');
      const repoSpec = { ...(isUrl ? { url: flags.repo } : { path: flags.repo }), commit: flags.commit };
      // A repository that cannot be used is the first thing to say, before the model or --out.
      if (isUrl && !isCloneableRepoUrl(flags.repo))
        throw new FixwrightError(
          'FW_ERR_BAD_INPUT',
          `only https://github.com/OWNER/NAME repository URLs can be cloned (got ${flags.repo})`,
          { field: '--repo' },
        );
      if (!isUrl && !existsSync(flags.repo))
        throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `repository not found: ${flags.repo}`, { field: '--repo' });
      const model = flags.model ?? settings.models.chatModel;
      const baseURL = flags.baseUrl ?? settings.models.baseURL;
      const provider = flags.provider as ModelProvider | undefined;
      const localiser = createLocaliser(settings);

      if (!model) {
        const { snapshot } = await repositorySources(repoSpec, settings);
        const index = await localiser.index(snapshot);
        const { files } = await localiser.rank(index, issue);
        for (const f of files.slice(0, 10)) process.stdout.write(`${f.score.toFixed(4)}  ${f.path}\n`);
        throw new FixwrightError(
          'FW_ERR_CONFIG',
          'no model configured: set FIXWRIGHT_MODEL (or --model), and OPENAI_API_KEY and ' +
            'OPENAI_BASE_URL (or --base-url) for its endpoint; the files above are the localisation alone',
        );
      }

      // Fail on an unusable model configuration or an endpoint that does not answer now, not inside
      // the first attempt; a bad setting is reported before anything about --out.
      let unreachable: string | undefined;
      try {
        await checkModel({ model, provider, baseURL }, settings);
      } catch (err) {
        if ((err as { code?: string }).code !== 'FW_ERR_MODEL') throw err;
        unreachable = (err as Error).message;
      }
      refuseUsedRunDir(resolve(flags.out));
      const out = makeOutputDir(flags.out);
      const taskId = randomUUID();
      if (unreachable !== undefined) {
        const message = unreachable;
        writeFileSync(join(out, 'patch.diff'), '');
        writeFileSync(
          join(out, 'result.json'),
          `${JSON.stringify({ task_id: taskId, status: 'error', stopped_by: 'model_error', message, attempts: [], tokens: { input: 0, output: 0 }, cost_usd: 0, duration_ms: 0 }, null, 2)}\n`,
        );
        process.stderr.write(`fixwright: ${message}\n`);
        process.stdout.write(`error: ${message}\n`);
        setExitCode(EXIT_RUN_ERROR);
        return;
      }
      const events = new EventLog(
        taskId,
        join(out, 'trajectory.jsonl'),
        settings.models.apiKey ? [settings.models.apiKey] : [],
      );
      // A live timeline: one line per event, and a spinner while the model is thinking, on a
      // terminal only (in a log or a pipe the spinner would leave "- waiting for …" lines).
      const spinner = ora({ stream: process.stderr, discardStdin: false, isSilent: process.stderr.isTTY !== true });
      events.subscribe((e) => {
        if (spinner.isSpinning) spinner.stop();
        const detail =
          e.type === 'node_end'
            ? `${e.data.node} (${e.data.duration_ms} ms)`
            : e.type === 'node_start'
              ? `${e.data.node}…`
              : e.type === 'done'
                ? `status ${e.data.status}`
                : JSON.stringify(e.data).slice(0, 120);
        process.stderr.write(`[${String(e.seq).padStart(3)}] ${e.type.padEnd(15)} ${detail}\n`);
        if (e.type === 'node_start' && (e.data.node === 'generate' || e.data.node === 'reproduce'))
          spinner.start(`waiting for ${model}`);
      });
      const started = Date.now();
      const runtime = await createSandboxRuntime(settings);
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      const spent: NonNullable<SolveContext['spent']> = { tokens: { input: 0, output: 0 }, costUsd: 0 };
      events.emit('status', { status: 'running', repo: await repositoryName(repoSpec), model });
      const writeResult = (result: Record<string, unknown>) =>
        writeFileSync(join(out, 'result.json'), `${JSON.stringify(redact(result, events.secrets), null, 2)}\n`);
      let final: SolveOutcome;
      try {
        final = await solveIssue(
          {
            repo: repoSpec,
            issue,
            maxAttempts,
            samples,
            testTimeoutSeconds: testTimeout,
            maxCostUsd: maxCost,
            maxSeconds,
            environment,
          },
          {
            ...defaultAgentParts(settings, { model, baseURL, provider, temperatures }, { runtime, localiser }),
            settings,
            events,
            signal: controller.signal,
            spent,
            modelGate,
          },
        );
      } catch (err) {
        // A cancelled or crashed run still ends with a typed status on disk and in the log.
        const cancelled = controller.signal.aborted;
        if (spinner.isSpinning) spinner.stop();
        events.emit(cancelled ? 'done' : 'error', {
          status: 'failed',
          stopped_by: cancelled ? 'cancelled' : 'error',
          message: (err as Error).message,
        });
        writeFileSync(join(out, 'patch.diff'), '');
        writeResult({
          task_id: taskId,
          status: 'failed',
          stopped_by: cancelled ? 'cancelled' : 'error',
          message: (err as Error).message,
          attempts: [],
          tokens: spent.tokens,
          cost_usd: spent.costUsd,
          duration_ms: Date.now() - started,
          ...(spent.timing ? { timing: spent.timing } : {}),
        });
        // Ctrl-C is the user's choice, not a bug: say where the run's record is, in one line.
        if (cancelled)
          throw new FixwrightError(
            'FW_ERR_CANCELLED',
            `cancelled; the run so far is in ${out} (result.json says stopped_by "cancelled")`,
          );
        throw err;
      }
      writeFileSync(join(out, 'patch.diff'), final.finalPatch);
      const result = {
        task_id: taskId,
        status: final.status,
        stopped_by: final.stoppedBy,
        message: final.stopMessage,
        samples,
        attempts: final.attempts.map(attemptEntry),
        // snake_case on disk, as in the API and the trajectory.
        localised_files: final.files.map((f) => ({ path: f.path, score: f.score, in_set: f.inSet })),
        tokens: final.tokens,
        cost_usd: final.costUsd,
        duration_ms: Date.now() - started,
        // Where the time went: model calls, the repository's tests and fixwright's own time (README, "Where the time goes").
        timing: final.timing ?? null,
      };
      writeResult(result);
      // Which candidate each sampled attempt kept, and why.
      for (const a of final.attempts) {
        const line = selectionLine(a);
        if (line) process.stdout.write(`${line}\n`);
      }
      const patchNote = final.finalPatch ? join(out, 'patch.diff') : 'no patch';
      if (final.status === 'error') {
        // The run could not be judged: say why, so the user can fix the key, the URL or the environment.
        process.stderr.write(`fixwright: ${final.stopMessage ?? 'the run ended in error'}\n`);
        process.stdout.write(
          `error: ${final.stopMessage ?? 'the run ended in error'} (${patchNote}; ${final.attempts.length} attempt(s))\n`,
        );
      } else {
        process.stdout.write(
          `${final.status}` +
            `: ${final.status === 'failed' ? 'no patch' : join(out, 'patch.diff')} ` +
            `(${final.attempts.length} attempt(s), ${final.tokens.input + final.tokens.output} tokens)\n`,
        );
      }
      setExitCode(final.status === 'resolved' ? 0 : final.status === 'error' ? EXIT_RUN_ERROR : 1);
    });
}
