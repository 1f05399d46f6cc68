import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  isCloneableRepoUrl,
  type ModelProvider,
  type RepoSpec,
  type SolveContext,
  type SolveOptions,
} from '../../agent/index.js';
import { type Settings, FixwrightError } from '../../core/index.js';
import { maxCostFlag, modelGateFlag, samplesFlag, wholeNumber } from '../flags.js';
import { readIssueArg } from '../issue-input.js';
import { parseUserSpecText, type UserSpec } from '../../sandbox/index.js';

/** `fixwright solve`'s flags as commander hands them over (strings until checked). */
export interface SolveFlags {
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

/** The run the flags ask for, every value checked; `model` is unset when neither --model nor the settings name one. */
export interface SolveRun {
  request: SolveOptions;
  samples: number;
  modelGate: SolveContext['modelGate'];
  model: string | undefined;
  baseURL: string | undefined;
  provider: ModelProvider | undefined;
  temperatures: number[];
}

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

function positiveSeconds(value: string, flag: string, message: string): number {
  const seconds = Number(value);
  if (!(seconds > 0)) throw new FixwrightError('FW_ERR_BAD_INPUT', message, { field: flag });
  return seconds;
}

function providerFlag(value: string | undefined): ModelProvider | undefined {
  if (value !== undefined && !['openai', 'deepseek', 'compatible'].includes(value)) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `--provider must be openai, deepseek or compatible (got ${value})`, {
      field: '--provider',
    });
  }
  return value as ModelProvider | undefined;
}

function temperaturesFlag(value: string): number[] {
  const temperatures = value.split(',').map((t) => (t.trim() === '' ? NaN : Number(t)));
  if (temperatures.length === 0 || !temperatures.every((t) => t >= 0 && t <= 2)) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `--temperatures must be numbers from 0 to 2 separated by commas (got ${value})`,
      { field: '--temperatures' },
    );
  }
  return temperatures;
}

/** Where --repo points: a URL to clone or a local path, refused here when it cannot be used. */
function repoSpecFlag(repo: string, commit: string | undefined): RepoSpec {
  const isUrl = /^[a-z]+:\/\//.test(repo) || repo.startsWith('git@');
  const repoSpec = { ...(isUrl ? { url: repo } : { path: repo }), commit };
  if (isUrl && !isCloneableRepoUrl(repo))
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `only https://github.com/OWNER/NAME repository URLs can be cloned (got ${repo})`,
      { field: '--repo' },
    );
  if (!isUrl && !existsSync(repo))
    throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `repository not found: ${repo}`, { field: '--repo' });
  return repoSpec;
}

/**
 * Checks every flag in the order the errors have always been reported, then reads the issue and
 * checks the repository (before the model or --out, the first thing to say when it cannot be used).
 */
export async function solveRun(flags: SolveFlags, settings: Settings): Promise<SolveRun> {
  const maxAttempts = wholeNumber(flags.maxAttempts, '--max-attempts', 1, 10);
  const samples = samplesFlag(flags.samples);
  const modelGate = modelGateFlag(flags.modelRpm);
  const testTimeout = positiveSeconds(
    flags.testTimeout,
    '--test-timeout',
    '--test-timeout must be a positive number of seconds',
  );
  const provider = providerFlag(flags.provider);
  const maxCost = maxCostFlag(flags.maxCost);
  const maxSeconds =
    flags.maxSeconds === undefined
      ? undefined
      : positiveSeconds(flags.maxSeconds, '--max-seconds', '--max-seconds must be a positive number');
  checkBaseUrlFlag(flags.baseUrl);
  const environment =
    flags.env === undefined
      ? undefined
      : { given: { spec: readEnvironmentFile(flags.env), origin: resolve(flags.env), trust: 'operator' as const } };
  const temperatures = temperaturesFlag(flags.temperatures);
  const issue = await readIssueArg(flags.issue, settings);
  const repo = repoSpecFlag(flags.repo, flags.commit);
  return {
    request: {
      repo,
      issue,
      maxAttempts,
      samples,
      testTimeoutSeconds: testTimeout,
      maxCostUsd: maxCost,
      maxSeconds,
      environment,
    },
    samples,
    modelGate,
    model: flags.model ?? settings.models.chatModel,
    baseURL: flags.baseUrl ?? settings.models.baseURL,
    provider,
    temperatures,
  };
}
