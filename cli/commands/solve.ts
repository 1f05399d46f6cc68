import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import ora from 'ora';
import { EventLog, redact } from '../../agent/events.js';
import { runAgent } from '../../agent/graph.js';
import { createChatModel, DEFAULT_PRICES, type ModelProvider } from '../../agent/models.js';
import { loadSettings, type Settings } from '../../core/config.js';
import { cloneRepository } from '../../agent/github.js';
import { readIssueArg } from '../issue-input.js';
import { FixwrightError } from '../../core/errors.js';
import { assetPath } from '../../core/paths.js';
import { gitDirOf, Localiser, LsiEmbedder, type SnapshotSource } from '../../localisation/index.js';
import { createSandboxRuntime, type RepoSource } from '../../sandbox/index.js';
import { loadCalibration } from '../../uncertainty/index.js';

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
  temperatures: string;
}

function sources(repo: string, commit: string | undefined, settings: Settings): { snapshot: SnapshotSource; sandbox: RepoSource } {
  const isUrl = /^[a-z]+:\/\//.test(repo) || repo.startsWith('git@');
  const path = isUrl ? cloneRepository(repo, join(settings.dataDir, 'repos')) : resolve(repo);
  if (!existsSync(path)) throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `repository not found: ${repo}`, { field: '--repo' });
  if (commit) {
    const gitDir = gitDirOf(path) ?? path;
    return { snapshot: { kind: 'git', gitDir, commit }, sandbox: { kind: 'git', gitDir, commit } };
  }
  return { snapshot: { kind: 'dir', path }, sandbox: { kind: 'dir', path } };
}

/** `fixwright solve`: localise, patch with a model, prove the patch in the sandbox. */
export function registerSolveCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('solve')
    .description('fix an issue: localise the files, write a patch with a model, prove it in the sandbox (at most --max-attempts)')
    .requiredOption('--repo <path>', 'repository: a checkout, a directory, or https://github.com/OWNER/NAME (cloned once under the data directory)')
    .option('--commit <sha>', 'work on this commit (read from git objects)')
    .requiredOption('--issue <text>', 'issue text, @FILE, or https://github.com/OWNER/NAME/issues/N (read through the REST API; GITHUB_TOKEN optional)')
    .option('--model <name>', 'chat model (default FIXWRIGHT_MODEL)')
    .option('--base-url <url>', 'OpenAI-compatible endpoint (default OPENAI_BASE_URL; OpenAI when unset)')
    .option('--max-attempts <n>', 'attempts at most', '3')
    .option('--test-timeout <seconds>', 'limit for each test run in the sandbox', '120')
    .option('--provider <name>', 'openai, deepseek or compatible (default: compatible with --base-url, else openai)')
    .option('--max-cost <usd>', 'stop before a new attempt once the model calls cost this much (priced models)')
    .option('--max-seconds <s>', 'start no new attempt after this many seconds')
    .option('--temperatures <list>', 'temperature per attempt; the last repeats', '0,0.4,0.7')
    .option('--out <dir>', 'where patch.diff, trajectory.jsonl and result.json go', 'fixwright-out')
    .action(async (flags: SolveFlags) => {
      const settings = loadSettings(process.env);
      const maxAttempts = Number(flags.maxAttempts);
      if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 10) throw new FixwrightError('FW_ERR_BAD_INPUT', '--max-attempts must be a whole number from 1 to 10', { field: '--max-attempts' });
      const testTimeout = Number(flags.testTimeout);
      if (!(testTimeout > 0)) throw new FixwrightError('FW_ERR_BAD_INPUT', '--test-timeout must be a positive number of seconds', { field: '--test-timeout' });
      if (flags.provider !== undefined && !['openai', 'deepseek', 'compatible'].includes(flags.provider)) {
        throw new FixwrightError('FW_ERR_BAD_INPUT', `--provider must be openai, deepseek or compatible (got ${flags.provider})`, { field: '--provider' });
      }
      const maxCost = flags.maxCost === undefined ? undefined : Number(flags.maxCost);
      if (maxCost !== undefined && !(maxCost >= 0)) throw new FixwrightError('FW_ERR_BAD_INPUT', '--max-cost must be a number of dollars >= 0', { field: '--max-cost' });
      const maxSeconds = flags.maxSeconds === undefined ? undefined : Number(flags.maxSeconds);
      if (maxSeconds !== undefined && !(maxSeconds > 0)) throw new FixwrightError('FW_ERR_BAD_INPUT', '--max-seconds must be a positive number', { field: '--max-seconds' });
      const temperatures = flags.temperatures.split(',').map((t) => (t.trim() === '' ? NaN : Number(t)));
      if (temperatures.length === 0 || !temperatures.every((t) => t >= 0 && t <= 2)) {
        throw new FixwrightError('FW_ERR_BAD_INPUT', `--temperatures must be numbers from 0 to 2 separated by commas (got ${flags.temperatures})`, { field: '--temperatures' });
      }
      const issue = await readIssueArg(flags.issue, settings);
      const { snapshot, sandbox: repo } = sources(flags.repo, flags.commit, settings);
      const model = flags.model ?? settings.models.chatModel;
      const baseURL = flags.baseUrl ?? settings.models.baseURL;
      const localiser = new Localiser({ cacheDir: join(settings.dataDir, 'indexes'), embedder: new LsiEmbedder() });
      const calibrationPath = assetPath('uncertainty/calibration.json');
      const calibration = existsSync(calibrationPath) ? loadCalibration(calibrationPath) : undefined;

      if (!model) {
        const index = await localiser.index(snapshot);
        const { files } = await localiser.rank(index, issue);
        for (const f of files.slice(0, 10)) process.stdout.write(`${f.score.toFixed(4)}  ${f.path}\n`);
        throw new FixwrightError('FW_ERR_CONFIG', 'no model configured: set FIXWRIGHT_MODEL (or --model), and OPENAI_API_KEY and OPENAI_BASE_URL (or --base-url) for its endpoint; the files above are the localisation alone');
      }

      // Fail on an unusable model configuration now, not inside the first attempt.
      createChatModel({ model, provider: flags.provider as ModelProvider | undefined, baseURL, apiKey: settings.models.apiKey });
      const out = resolve(flags.out);
      mkdirSync(out, { recursive: true });
      const taskId = randomUUID();
      const events = new EventLog(taskId, join(out, 'trajectory.jsonl'), settings.models.apiKey ? [settings.models.apiKey] : []);
      // A live timeline: one line per event, and a spinner while the model is thinking.
      const spinner = ora({ stream: process.stderr, discardStdin: false });
      events.subscribe((e) => {
        if (spinner.isSpinning) spinner.stop();
        const detail =
          e.type === 'node_end' ? `${e.data.node} (${e.data.duration_ms} ms)` : e.type === 'node_start' ? `${e.data.node}…` : e.type === 'done' ? `status ${e.data.status}` : JSON.stringify(e.data).slice(0, 120);
        process.stderr.write(`[${String(e.seq).padStart(3)}] ${e.type.padEnd(15)} ${detail}\n`);
        if (e.type === 'node_start' && (e.data.node === 'generate' || e.data.node === 'reproduce')) spinner.start(`waiting for ${model}`);
      });
      const started = Date.now();
      const runtime = await createSandboxRuntime(settings);
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      const run = { tokens: { input: 0, output: 0 }, costUsd: 0 };
      events.emit('status', { status: 'running', repo: flags.repo, model });
      const writeResult = (result: Record<string, unknown>) => writeFileSync(join(out, 'result.json'), `${JSON.stringify(redact(result, events.secrets), null, 2)}\n`);
      let final: Awaited<ReturnType<typeof runAgent>>;
      try {
        final = await runAgent(
        {
          localiser,
          sandbox: runtime,
          modelFor: (attempt) =>
            createChatModel({
              model,
              provider: flags.provider as ModelProvider | undefined,
              baseURL,
              apiKey: settings.models.apiKey,
              temperature: temperatures[Math.min(attempt - 1, temperatures.length - 1)],
              maxTokens: settings.models.maxTokens,
              timeoutMs: settings.models.requestTimeoutSeconds * 1000,
            }),
          prices: { ...DEFAULT_PRICES, ...settings.models.prices },
          maxCostUsd: maxCost,
          deadline: maxSeconds === undefined ? undefined : Date.now() + maxSeconds * 1000,
          events,
          snapshotSource: snapshot,
          repo,
          calibration,
          maxAttempts,
          testTimeoutSeconds: testTimeout,
          contextBudget: 60_000,
          signal: controller.signal,
          run,
        },
        issue,
      );
      } catch (err) {
        // A cancelled or crashed run still ends with a typed status on disk and in the log.
        const cancelled = controller.signal.aborted;
        if (spinner.isSpinning) spinner.stop();
        events.emit(cancelled ? 'done' : 'error', { status: 'failed', stopped_by: cancelled ? 'cancelled' : 'error', message: (err as Error).message });
        writeFileSync(join(out, 'patch.diff'), '');
        writeResult({ task_id: taskId, status: 'failed', stopped_by: cancelled ? 'cancelled' : 'error', message: (err as Error).message, attempts: [], tokens: run.tokens, cost_usd: run.costUsd, duration_ms: Date.now() - started });
        throw err;
      }
      writeFileSync(join(out, 'patch.diff'), final.finalPatch);
      const result = {
        task_id: taskId,
        status: final.status,
        stopped_by: final.stoppedBy ?? null,
        attempts: final.attempts.map((a) => ({ attempt: a.attempt, failure: a.failure?.category ?? null, message: a.failure?.message ?? null, score: a.score })),
        localised_files: final.files,
        tokens: run.tokens,
        cost_usd: run.costUsd,
        duration_ms: Date.now() - started,
      };
      writeResult(result);
      process.stdout.write(`${final.status}: ${final.status === 'failed' ? 'no patch' : join(out, 'patch.diff')} (${final.attempts.length} attempt(s), ${run.tokens.input + run.tokens.output} tokens)\n`);
      setExitCode(final.status === 'resolved' ? 0 : 1);
    });
}
