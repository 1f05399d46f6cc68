import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { instanceFileName, isFixwrightError } from '../../core/index.js';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pLimit from 'p-limit';
import {
  DEFAULT_SAMPLES,
  defaultAgentParts,
  EventLog,
  solveIssue,
  type GivenParts,
  type ModelChoice,
  type RunTiming,
  type SolveContext,
  type SolveOptions,
} from '../../agent/index.js';
import type { EnvironmentRequest } from '../../sandbox/index.js';
import { changedFiles } from '../dataset.js';
import type { EvalRow } from '../eval/instances.js';

/** One instance's run, as bench-report.json keeps it. */
export interface BenchInstance {
  instance_id: string;
  repo: string;
  status: 'resolved' | 'unverified' | 'failed' | 'error';
  stopped_by: string | null;
  message: string | null;
  attempts: number;
  /** Candidate fixes drawn, per attempt (absent in results from before sampling: one each). */
  candidates_drawn?: number[];
  /** Runs of this instance in this bench run (more than 1 when an error was retried). */
  tries: number;
  tokens: { input: number; output: number };
  cost_usd: number;
  wall_ms: number;
  /** 1-based rank of the first gold file among the localised files (null: not among them). */
  gold_rank: number | null;
  gold_in_set: boolean;
  set_size: number;
  /** The settings the result was drawn with (absent in results from before they were recorded: samples 1, the rest unknown). */
  settings?: ResultSettings;
  /**
   * Where the kept try's time went (absent in results from before it was recorded, and for a try
   * that crashed before the agent started): fixwright's own time, the model's and the repository's
   * tests', in ms, and fixwright's own time per attempt (the attempt nodes only; null without one).
   */
  own_ms?: number;
  model_ms?: number;
  test_ms?: number;
  own_ms_per_attempt?: number | null;
  /** The whole breakdown (per node, one-off steps and attempts), as result.json's `timing`. */
  timing?: RunTiming;
}

/** An instance's timing fields from its run's timing. */
export function timingFields(
  timing: RunTiming | undefined,
): Pick<BenchInstance, 'own_ms' | 'model_ms' | 'test_ms' | 'own_ms_per_attempt' | 'timing'> {
  if (!timing) return {};
  return {
    own_ms: timing.own_ms,
    model_ms: timing.model_ms,
    test_ms: timing.test_ms,
    own_ms_per_attempt: timing.attempts.own_ms_per_attempt,
    timing,
  };
}

/** The settings that shape an instance's result: a resumed run reruns a kept result drawn with others. */
export interface ResultSettings {
  samples: number;
  max_cost_usd: number | null;
  max_attempts: number;
}

/** The settings a run with these solve options draws its results with. */
export function resultSettings(solve: Pick<SolveOptions, 'samples' | 'maxCostUsd' | 'maxAttempts'>): ResultSettings {
  return {
    samples: solve.samples ?? DEFAULT_SAMPLES,
    max_cost_usd: solve.maxCostUsd ?? null,
    max_attempts: solve.maxAttempts,
  };
}

/** Settings in the flags' words: `samples 4, max-cost $1.00, max-attempts 3`. */
export function settingsText(s: Partial<ResultSettings>): string {
  return [
    `samples ${s.samples ?? 1}`,
    ...(s.max_cost_usd === undefined
      ? []
      : [s.max_cost_usd === null ? 'no max-cost' : `max-cost $${s.max_cost_usd.toFixed(2)}`]),
    ...(s.max_attempts === undefined ? [] : [`max-attempts ${s.max_attempts}`]),
  ].join(', ');
}

/**
 * The settings a kept result was drawn with, as far as it says: one from before they were recorded
 * drew one candidate per attempt; its cost cap and attempts are unknown, so they are not compared.
 */
function keptSettings(kept: BenchInstance): Partial<ResultSettings> & { samples: number } {
  return kept.settings ?? { samples: 1 };
}

/** Whether a kept result was drawn with other settings than `now` (only what it recorded is compared). */
function drawnOtherwise(kept: BenchInstance, now: ResultSettings): boolean {
  const was = keptSettings(kept);
  return (
    was.samples !== now.samples ||
    (was.max_cost_usd !== undefined && was.max_cost_usd !== now.max_cost_usd) ||
    (was.max_attempts !== undefined && was.max_attempts !== now.max_attempts)
  );
}

/**
 * A bench run whose instances run elsewhere (a queue's workers, benchmarks/queue): the settings its
 * results are drawn with, and what runs one instance (its retries are the runner's business).
 */
export interface RemoteBench {
  solve: BenchContext['solve'];
  run: InstanceRunner;
}

/** What a bench run shares: the model and run options, and the long-lived parts each instance's run is wired from. */
export interface BenchContext {
  solve: Omit<SolveOptions, 'repo' | 'issue'> & ModelChoice;
  parts: Pick<SolveContext, 'settings' | 'modelGate'> & GivenParts;
  reposDir: string;
  secrets: string[];
  /** The environment a known instance is tested in (the SWE-bench table's entry); none: resolved from the repository. */
  environmentFor?: (row: EvalRow) => EnvironmentRequest | undefined;
  signal?: AbortSignal;
}

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** A localised file as the localisation figures need it: its path, and whether the conformal set holds it. */
export interface LocalisedPath {
  path: string;
  inSet: boolean;
}

/**
 * The localisation figures of a run that localised `files`, against the files the gold patch
 * changes. A run on a queue's worker gets no gold patch: the submitter computes them from the files
 * the worker sends back.
 */
export function goldFigures(
  files: readonly LocalisedPath[],
  goldPatch: string,
): Pick<BenchInstance, 'gold_rank' | 'gold_in_set' | 'set_size'> {
  const gold = changedFiles(goldPatch);
  const rank = files.findIndex((f) => gold.includes(f.path));
  return {
    gold_rank: rank >= 0 ? rank + 1 : null,
    gold_in_set: files.some((f) => f.inSet && gold.includes(f.path)),
    set_size: files.filter((f) => f.inSet).length,
  };
}

/**
 * Runs the agent on one instance. It sees the problem statement and the repository at the base
 * commit only — never `patch`, `test_patch`, FAIL_TO_PASS or PASS_TO_PASS (the gold files are
 * read here, after the run, for the localisation figures).
 */
async function runInstance(
  row: EvalRow,
  ctx: BenchContext,
  trajectory: string,
): Promise<{ result: BenchInstance; patch: string; retryable: boolean; files: LocalisedPath[] }> {
  const started = Date.now();
  rmSync(trajectory, { force: true });
  const events = new EventLog(row.instance_id, trajectory, ctx.secrets);
  const spent: NonNullable<SolveContext['spent']> = { tokens: { input: 0, output: 0 }, costUsd: 0 };
  events.emit('status', {
    status: 'running',
    instance_id: row.instance_id,
    repo: row.repo,
    base_commit: row.base_commit,
  });
  const base = { instance_id: row.instance_id, repo: row.repo };
  try {
    const { model, provider, baseURL, temperatures, ...solve } = ctx.solve;
    const { settings, modelGate, ...given } = ctx.parts;
    const outcome = await solveIssue(
      {
        ...solve,
        repo: { path: join(ctx.reposDir, row.repo), commit: row.base_commit },
        issue: row.problem_statement,
        environment: ctx.environmentFor?.(row),
      },
      {
        ...defaultAgentParts(settings, { model, provider, baseURL, temperatures }, given),
        settings,
        modelGate,
        events,
        signal: ctx.signal,
        spent,
      },
    );
    const files = outcome.files.map((f) => ({ path: f.path, inSet: f.inSet }));
    const result: BenchInstance = {
      ...base,
      status: outcome.status,
      stopped_by: outcome.stoppedBy,
      message: outcome.stopMessage,
      attempts: outcome.attempts.length,
      candidates_drawn: outcome.attempts.map((a) => a.candidates?.length ?? 1),
      tries: 1,
      tokens: outcome.tokens,
      cost_usd: outcome.costUsd,
      wall_ms: Date.now() - started,
      ...goldFigures(files, row.patch),
      ...timingFields(outcome.timing),
    };
    // An environment that does not import fails the same way on every try; a provider failure may not.
    return {
      result,
      patch: outcome.finalPatch,
      retryable: outcome.status === 'error' && outcome.stoppedBy !== 'environment',
      files,
    };
  } catch (err) {
    if (ctx.signal?.aborted) throw err;
    events.emit('error', { status: 'failed', message: (err as Error).message });
    return {
      result: {
        ...base,
        status: 'error',
        stopped_by: null,
        message: (err as Error).message,
        attempts: 0,
        candidates_drawn: [],
        tries: 1,
        tokens: spent.tokens,
        cost_usd: spent.costUsd,
        wall_ms: Date.now() - started,
        gold_rank: null,
        gold_in_set: false,
        set_size: 0,
        ...timingFields(spent.timing),
      },
      patch: '',
      retryable: !(isFixwrightError(err) && PERMANENT.has(err.code)),
      files: [],
    };
  }
}

/** Errors that another try cannot mend: the instance's repository or input is wrong. */
const PERMANENT = new Set<string>([
  'FW_ERR_REPO_NOT_FOUND',
  'FW_ERR_BAD_INPUT',
  'FW_ERR_CONFIG',
  'FW_ERR_COMMAND_NOT_ALLOWED',
]);

/** Back-off before the n-th retry of an instance that ended in error (n from 1): 2 s, 4 s, 8 s…, at most a minute. */
export function retryDelayMs(n: number, baseMs = 2000): number {
  return Math.min(60_000, baseMs * 2 ** (n - 1));
}

/** Waits, or stops waiting when the run is cancelled. */
const sleep = (ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }).catch(() => undefined);

/** One instance's run: its result (the kept try's, spend and time over every try), final patch and localised files. */
export interface InstanceRun {
  result: BenchInstance;
  patch: string;
  files: LocalisedPath[];
}

/**
 * Runs an instance (with its retries) and leaves its trajectory at the given path: in this process
 * (the default), or on a queue's worker elsewhere.
 */
export type InstanceRunner = (row: EvalRow, trajectory: string) => Promise<InstanceRun>;

/**
 * Runs one instance, trying again (after a back-off) while it ends in an error another try may mend
 * (the model provider failed, the environment did not start), at most `retries` more times. Each try
 * rewrites the instance's trajectory; spend and time add up over the tries.
 */
export async function runWithRetries(
  row: EvalRow,
  ctx: BenchContext,
  trajectory: string,
  retries: number,
  backoffMs: number,
): Promise<InstanceRun> {
  let tries = 0;
  const spent = { tokens: { input: 0, output: 0 }, cost_usd: 0, wall_ms: 0 };
  for (;;) {
    tries += 1;
    // The cost cap holds for the instance as a whole: a retry gets what the earlier tries left.
    const cap = ctx.solve.maxCostUsd;
    const budget =
      cap === undefined ? ctx : { ...ctx, solve: { ...ctx.solve, maxCostUsd: Math.max(0, cap - spent.cost_usd) } };
    const run = await runInstance(row, budget, trajectory);
    spent.tokens.input += run.result.tokens.input;
    spent.tokens.output += run.result.tokens.output;
    spent.cost_usd += run.result.cost_usd;
    spent.wall_ms += run.result.wall_ms;
    if (run.result.status !== 'error' || !run.retryable || tries > retries || ctx.signal?.aborted) {
      return {
        result: { ...run.result, tries, tokens: spent.tokens, cost_usd: spent.cost_usd, wall_ms: spent.wall_ms },
        patch: run.patch,
        files: run.files,
      };
    }
    await sleep(retryDelayMs(tries, backoffMs), ctx.signal);
  }
}

/** A finished instance's recorded result, or undefined when it has none or ended in `error` (those run again). */
function recordedResult(out: string, instanceId: string): (BenchInstance & { model_patch: string }) | undefined {
  const file = join(out, 'results', `${instanceFileName(instanceId)}.json`);
  if (!existsSync(file)) return undefined;
  const kept = JSON.parse(readFileSync(file, 'utf8')) as BenchInstance & { model_patch: string };
  return kept.status === 'error' ? undefined : kept;
}

/**
 * A finished instance's result a rerun keeps: recorded, not ended in `error`, and (given the run's
 * settings) drawn with the same samples, cost cap and attempts.
 */
function keptResult(
  out: string,
  instanceId: string,
  now?: ResultSettings,
): (BenchInstance & { model_patch: string }) | undefined {
  const kept = recordedResult(out, instanceId);
  return kept && (!now || !drawnOtherwise(kept, now)) ? kept : undefined;
}

/** The instances a rerun into `out` skips: those with a recorded result that did not end in `error` (and, given `now`, was drawn with those settings). */
export function finishedInstances(rows: readonly EvalRow[], out: string, now?: ResultSettings): string[] {
  return rows.filter((row) => keptResult(out, row.instance_id, now) !== undefined).map((row) => row.instance_id);
}

/** Finished instances a rerun with settings `now` runs again, as their results were drawn with others. */
export function staleInstances(
  rows: readonly EvalRow[],
  out: string,
  now: ResultSettings,
): Array<{ instance_id: string; settings: Partial<ResultSettings> }> {
  return rows.flatMap((row) => {
    const kept = recordedResult(out, row.instance_id);
    return kept && drawnOtherwise(kept, now) ? [{ instance_id: row.instance_id, settings: keptSettings(kept) }] : [];
  });
}

/**
 * What a rerun into `out` says before it starts, one line each (none for a fresh run): how many
 * finished instances it skips, and how many it runs again because they were drawn with other settings.
 */
export function resumeLines(rows: readonly EvalRow[], out: string, now: ResultSettings, tag = ''): string[] {
  const kept = finishedInstances(rows, out, now).length;
  const stale = staleInstances(rows, out, now);
  const lines: string[] = [];
  if (kept > 0)
    lines.push(
      `fixwright: ${tag}` +
        `resuming ${out}: skipping ${kept} finished instance(s) of ${rows.length}; ${rows.length - kept} to run${kept === rows.length ? ' (none left)' : ''}\n`,
    );
  if (stale.length > 0) {
    const was = [...new Set(stale.map((s) => settingsText(s.settings)))].join('; ');
    lines.push(
      `fixwright: ${tag}rerunning ${stale.length} finished instance(s) of ${out} drawn with other settings (${was}; now ${settingsText(now)})\n`,
    );
  }
  return lines;
}

/**
 * Runs the agent over the rows, `workers` at a time, writing `predictions.jsonl` in the official
 * format (`instance_id`, `model_name_or_path`, `model_patch`), one trajectory per instance under
 * `trajectories/`, and `bench-report.json`. An instance that ends in `error` is tried again within
 * the run (`errorRetries`, with back-off). Resumable: an instance with a recorded result is skipped,
 * unless it ended in `error` or was drawn with other samples, cost cap or attempts (those are run
 * again); each result records the settings it was drawn with. With a `RemoteBench` the instances
 * run wherever its runner sends them; the run directory is written here just the same.
 */
export async function solveInstances(
  rows: readonly EvalRow[],
  ctx: BenchContext | RemoteBench,
  options: {
    out: string;
    workers: number;
    modelName: string;
    /** Further tries for an instance that ends in error (default 2). */
    errorRetries?: number;
    /** First back-off before a retry, doubling each time (default 2000 ms). */
    retryBackoffMs?: number;
    onDone?: (result: BenchInstance, kept: boolean) => void;
  },
) {
  const dirs = { results: join(options.out, 'results'), trajectories: join(options.out, 'trajectories') };
  mkdirSync(dirs.results, { recursive: true });
  mkdirSync(dirs.trajectories, { recursive: true });
  const limit = pLimit(options.workers);
  const patches = new Map<string, string>();
  const settings = resultSettings(ctx.solve);
  const runOne: InstanceRunner =
    'run' in ctx
      ? ctx.run
      : (row, trajectory) =>
          runWithRetries(row, ctx, trajectory, options.errorRetries ?? 2, options.retryBackoffMs ?? 2000);
  const results = await Promise.all(
    rows.map((row) =>
      limit(async () => {
        const file = join(dirs.results, `${instanceFileName(row.instance_id)}.json`);
        const found = keptResult(options.out, row.instance_id, settings);
        if (found) {
          const { model_patch: keptPatch, ...kept } = found;
          patches.set(row.instance_id, keptPatch);
          options.onDone?.(kept, true);
          return kept;
        }
        const run = await runOne(row, join(dirs.trajectories, `${instanceFileName(row.instance_id)}.jsonl`));
        const { patch } = run;
        // The gold files are read here, on the machine that holds the row: a queue's worker never gets them.
        const result: BenchInstance = { ...run.result, ...goldFigures(run.files, row.patch), settings };
        writeAtomic(file, `${JSON.stringify({ ...result, model_patch: patch }, null, 1)}\n`);
        patches.set(row.instance_id, patch);
        options.onDone?.(result, false);
        return result;
      }),
    ),
  );
  writeAtomic(
    join(options.out, 'predictions.jsonl'),
    rows
      .map((r) =>
        JSON.stringify({
          instance_id: r.instance_id,
          model_name_or_path: options.modelName,
          model_patch: patches.get(r.instance_id) ?? '',
        }),
      )
      .join('\n') + '\n',
  );
  const report = benchReport(results, { samples: ctx.solve.samples });
  writeAtomic(
    join(options.out, 'bench-report.json'),
    `${JSON.stringify({ ...report, instances: results }, null, 1)}\n`,
  );
  return { results, report };
}

/** Candidates an instance drew over its attempts (one per attempt for a result from before sampling). */
export function candidatesDrawn(r: BenchInstance): number {
  return r.candidates_drawn?.reduce((s, n) => s + n, 0) ?? r.attempts;
}

/**
 * Aggregate figures of a run: the agent's own verdicts, attempts, candidates drawn, spend,
 * localisation. `samples` is the run's setting (candidates wanted per attempt).
 */
export function benchReport(results: readonly BenchInstance[], settings: { samples?: number } = {}) {
  const n = results.length || 1;
  const histogram: Record<string, number> = {};
  for (const r of results) histogram[String(r.attempts)] = (histogram[String(r.attempts)] ?? 0) + 1;
  const recall = (k: number) => results.filter((r) => r.gold_rank !== null && r.gold_rank <= k).length / n;
  return {
    instance_count: results.length,
    agent_status: Object.fromEntries(
      ['resolved', 'unverified', 'failed', 'error'].map((s) => [s, results.filter((r) => r.status === s).length]),
    ),
    /** Instances that needed more than one try (an error retried), however they ended. */
    retried: results.filter((r) => (r.tries ?? 1) > 1).length,
    attempts_histogram: histogram,
    samples: settings.samples ?? DEFAULT_SAMPLES,
    /** Candidate fixes drawn over every attempt of every instance (fewer than samples × attempts when the cost cap stopped sampling). */
    candidates_drawn: results.reduce((s, r) => s + candidatesDrawn(r), 0),
    tokens: results.reduce((t, r) => ({ input: t.input + r.tokens.input, output: t.output + r.tokens.output }), {
      input: 0,
      output: 0,
    }),
    cost_usd: results.reduce((s, r) => s + r.cost_usd, 0),
    wall_ms: results.reduce((s, r) => s + r.wall_ms, 0),
    timing: timingMedians(results),
    localisation: {
      recall_at_1: recall(1),
      recall_at_5: recall(5),
      conformal_coverage: results.filter((r) => r.gold_in_set).length / n,
      mean_set_size: results.reduce((s, r) => s + r.set_size, 0) / n,
    },
  };
}

/** The median of some numbers (null for none). */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Medians over the instances that recorded their timing (`instances` says how many): fixwright's
 * own time, the model's and the tests', per instance and own time per attempt (instances with an attempt).
 */
export function timingMedians(results: readonly BenchInstance[]) {
  const timed = results.filter((r) => r.own_ms !== undefined);
  const of = (pick: (r: BenchInstance) => number | null | undefined) =>
    median(timed.map(pick).filter((v): v is number => typeof v === 'number'));
  return {
    instances: timed.length,
    median_own_ms: of((r) => r.own_ms),
    median_model_ms: of((r) => r.model_ms),
    median_test_ms: of((r) => r.test_ms),
    median_own_ms_per_attempt: of((r) => r.own_ms_per_attempt),
    median_one_off_own_ms: of((r) => r.timing?.one_off.own_ms),
  };
}
