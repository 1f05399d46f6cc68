import { getMaxListeners, setMaxListeners } from 'node:events';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pThrottle from 'p-throttle';
import { type Settings, FixwrightError } from '../core/index.js';
import { gitDirOf, type SnapshotSource } from '../localisation/index.js';
import type { EnvironmentRequest, RepoSource } from '../sandbox/index.js';
import { contextBudgetChars, fitIssue } from './context-budget.js';
import type { AgentDeps, ModelGate } from './deps.js';
import type { EventLog } from './events.js';
import { cloneRepository } from './github.js';
import { runAgent } from './graph.js';
import { DEFAULT_PRICES } from './models.js';
import type { AgentParts } from './parts.js';
import type { RunTiming } from './run-clock.js';
import type { AgentStatus, AttemptRecord, LocalisedFile, StopReason } from './state.js';

/** Where the repository comes from: a local checkout or directory, or a GitHub URL cloned once. */
export interface RepoSpec {
  url?: string;
  path?: string;
  /** Read the files at this commit from git objects (the working tree is ignored). */
  commit?: string;
}

/** Temperature per attempt when the caller names none: exact first, then hotter to escape a failed idea. */
export const DEFAULT_TEMPERATURES: readonly number[] = [0, 0.4, 0.7];

/**
 * Candidates per attempt when the caller names none. One: each extra candidate costs a full fix
 * call (the prompt's code context again, about 2-8k tokens, and the answer), while a first
 * candidate that is proven needs none; reflection already retries what fails. Benchmarks buy
 * points with `--samples 4` (see the README's figures).
 */
export const DEFAULT_SAMPLES = 1;
/** Candidates per attempt at most: each is a model call and a sandbox run. */
export const MAX_SAMPLES = 8;

/** Listeners a run's abort signal may hold before Node warns: a few per call in flight, for a bench's workers × candidates. */
const SIGNAL_LISTENERS = 200;

/** Seconds each test run in the sandbox may take when the caller names none. */
export const DEFAULT_TEST_TIMEOUT_SECONDS = 120;

/** One run of the agent, as the CLI and the workers describe it (the model is a part: see SolveContext). */
export interface SolveOptions {
  repo: RepoSpec;
  issue: string;
  maxAttempts: number;
  /** Candidate fixes per attempt (default DEFAULT_SAMPLES). */
  samples?: number;
  testTimeoutSeconds: number;
  maxCostUsd?: number;
  maxSeconds?: number;
  /** What is known of the project's environment: a user's spec, or the SWE-bench table's entry. */
  environment?: EnvironmentRequest;
}

/** How a run ended, with what it spent. */
export interface SolveOutcome {
  status: AgentStatus;
  stoppedBy: StopReason | null;
  /** Why the run stopped early, in words a user can act on (always set for `error`). */
  stopMessage: string | null;
  attempts: AttemptRecord[];
  files: LocalisedFile[];
  finalPatch: string;
  tokens: { input: number; output: number };
  costUsd: number;
  /**
   * Where the run's time went (model calls, the repository's tests, fixwright's own work), in all,
   * per node and per attempt. Always set by solveIssue; optional for outcomes made without a run.
   */
  timing?: RunTiming;
}

/**
 * What a run borrows: the parts its entry wired (see defaultAgentParts; a worker shares its localiser
 * across its jobs), where its events go, and its limits.
 */
export interface SolveContext extends AgentParts {
  settings: Settings;
  events: EventLog;
  signal?: AbortSignal;
  /** A limit shared by every run's model calls (see `modelRateLimit`). */
  modelGate?: ModelGate;
  /** Filled while the run goes, so a crashed run can still report what it spent (and, once it ends, its `timing`). */
  spent?: { tokens: { input: number; output: number }; costUsd: number; timing?: RunTiming };
}

/**
 * A gate that lets at most `perMinute` model requests start in any minute, however many runs share
 * it: a bench's workers stay under the provider's rate limit instead of drawing 429s (which the
 * client still retries with back-off).
 */
export function modelRateLimit(perMinute: number): ModelGate {
  const throttled = pThrottle({ limit: perMinute, interval: 60_000 })(<T>(call: () => Promise<T>) => call());
  return <T>(call: () => Promise<T>) => throttled(call) as Promise<T>;
}

/** Resolves a repository spec into what localisation reads and what the sandbox copies. */
export async function repositorySources(
  repo: RepoSpec,
  settings: Settings,
): Promise<{ snapshot: SnapshotSource; sandbox: RepoSource }> {
  const given = repo.url ?? repo.path;
  if (!given)
    throw new FixwrightError('FW_ERR_BAD_INPUT', 'a repository is required (a URL or a path)', { field: 'repo' });
  const path = repo.url ? await cloneRepository(repo.url, join(settings.dataDir, 'repos')) : resolve(repo.path!);
  if (!existsSync(path))
    throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `repository not found: ${given}`, {
      field: repo.url ? 'repo_url' : 'repo_path',
    });
  const gitDir = gitDirOf(path);
  // A bare repository has no working tree to read as a folder: its HEAD is what is asked about.
  const commit = repo.commit ?? (gitDir === path ? 'HEAD' : undefined);
  if (commit) {
    const dir = gitDir ?? path;
    return { snapshot: { kind: 'git', gitDir: dir, commit }, sandbox: { kind: 'git', gitDir: dir, commit } };
  }
  return { snapshot: { kind: 'dir', path }, sandbox: { kind: 'dir', path } };
}

/** Runs the agent on one issue: localise, patch with the model, prove the patch in the sandbox. */
export async function solveIssue(options: SolveOptions, context: SolveContext): Promise<SolveOutcome> {
  const { settings } = context;
  // Every model call in flight listens on the run's signal (a bench shares one across its workers):
  // parallel candidates pass Node's default warning threshold of 10 without any leak.
  if (context.signal && getMaxListeners(context.signal) < SIGNAL_LISTENERS)
    setMaxListeners(SIGNAL_LISTENERS, context.signal);
  const { snapshot, sandbox: repo } = await repositorySources(options.repo, settings);
  const run: AgentDeps['run'] = context.spent ?? { tokens: { input: 0, output: 0 }, costUsd: 0 };
  const issue = fitIssue(settings.models, options.issue);
  const final = await runAgent(
    {
      localiser: context.localiser,
      sandbox: context.sandbox,
      modelFor: context.modelFor,
      prices: { ...DEFAULT_PRICES, ...settings.models.prices },
      modelGate: context.modelGate,
      maxCostUsd: options.maxCostUsd,
      deadline: options.maxSeconds === undefined ? undefined : Date.now() + options.maxSeconds * 1000,
      events: context.events,
      snapshotSource: snapshot,
      repo,
      environmentRequest: options.environment,
      pip: settings.pip,
      calibration: context.calibration ?? undefined,
      maxAttempts: options.maxAttempts,
      samples: options.samples ?? DEFAULT_SAMPLES,
      testTimeoutSeconds: options.testTimeoutSeconds,
      contextBudget: contextBudgetChars(settings.models, issue),
      signal: context.signal,
      run,
    },
    issue,
  );
  return {
    status: final.status ?? 'failed',
    stoppedBy: final.stoppedBy ?? null,
    stopMessage: final.stopMessage ?? null,
    attempts: final.attempts,
    files: final.files,
    finalPatch: final.finalPatch,
    tokens: run.tokens,
    costUsd: run.costUsd,
    ...(run.timing ? { timing: run.timing } : {}),
  };
}
