import { existsSync } from 'node:fs';
import { Option } from 'commander';
import { resolve } from 'node:path';
import { DEFAULT_SAMPLES, MAX_SAMPLES, modelRateLimit, type SolveContext } from '../agent/index.js';
import { MODEL_RPM_LIMIT, FixwrightError } from '../core/index.js';
import { entriesWithPip, loadEnvironmentTable, DEFAULT_GRADING_RULE, GRADING_RULES } from '../benchmarks/eval/index.js';

/** A whole-number flag within bounds, or a clear error naming the flag. */
export function wholeNumber(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `${flag} must be a whole number from ${min} to ${max} (got ${value})`,
      { field: flag },
    );
  return n;
}

/** `--repos DIR` (the `DIR/<owner>/<name>` layout), resolved, or a clear error when it is missing. */
export function reposDirFlag(value: string): string {
  const dir = resolve(value);
  if (!existsSync(dir))
    throw new FixwrightError('FW_ERR_BAD_INPUT', `--repos ${value} does not exist (expected DIR/<owner>/<name>)`, {
      field: '--repos',
    });
  return dir;
}

/**
 * `--samples N` (solve and bench): candidate fixes drawn per attempt, 1..MAX_SAMPLES, DEFAULT_SAMPLES
 * when not given. Each candidate past the first is one more fix call per attempt (and a test run).
 */
export function samplesFlag(value: string | undefined): number {
  return value === undefined ? DEFAULT_SAMPLES : wholeNumber(value, '--samples', 1, MAX_SAMPLES);
}

/** The help text of `--samples`, saying what each candidate costs. */
export const SAMPLES_HELP =
  `candidate fixes drawn per attempt ` +
  `(1-${MAX_SAMPLES}); the reproduction tests judge them and one is kept. Each candidate is one more ` +
  `fix call per attempt (its prompt and answer tokens, its cost) and one more test run unless its change equals another's`;

/** The help text of `--model-rpm` (solve and bench). */
export const MODEL_RPM_HELP =
  "at most this many model requests start in any minute, shared by all of the command's calls " +
  "(parallel candidates, bench's workers): your provider's rate limit; 429s are retried with back-off either way";

/** `--model-rpm N` (solve and bench): requests a minute, 1..MODEL_RPM_LIMIT; undefined when not given. */
export function modelRpmFlag(value: string | undefined): number | undefined {
  return value === undefined ? undefined : wholeNumber(value, '--model-rpm', 1, MODEL_RPM_LIMIT);
}

/** `--model-rpm N` as the gate every model call of the command goes through (none when not given). */
export function modelGateFlag(value: string | undefined): SolveContext['modelGate'] {
  const perMinute = modelRpmFlag(value);
  return perMinute === undefined ? undefined : modelRateLimit(perMinute);
}

/** `--max-cost USD` (solve and bench): dollars >= 0, undefined when not given. */
export function maxCostFlag(value: string | undefined): number | undefined {
  const usd = value === undefined ? undefined : Number(value);
  if (usd !== undefined && !(usd >= 0))
    throw new FixwrightError('FW_ERR_BAD_INPUT', '--max-cost must be a number of dollars >= 0', {
      field: '--max-cost',
    });
  return usd;
}

/** The help text of `--max-cost`; `whose` says whose spend it caps ("the run's", "each instance's"). */
export function maxCostHelp(whose: string): string {
  return (
    `cap in USD ` +
    `on ${whose} whole model spend, samples included (priced models): a call starts only when the ` +
    `spend so far, the worst case of the calls in flight and its own worst case (prompt at 3 chars/token + an answer of FIXWRIGHT_MAX_TOKENS) fit under it`
  );
}

/** `--env-table FILE`: the environment table instead of the shipped one (read and checked whole before anything runs). */
export const ENV_TABLE_HELP =
  'the environment table to test in (default: the shipped one, Debian packages offline; ' +
  'benchmarks/eval/environments-pinned.json holds the official pip pins for machines that reach a package index)';

/** `--grading RULE`: whose grading rule decides verdicts. */
export function gradingOption(): Option {
  return new Option(
    '--grading <rule>',
    'the official release whose grading rule decides verdicts: swebench-5 (5.0.x: a skipped ' +
      'FAIL_TO_PASS test fails, a skipped PASS_TO_PASS test passes, cut ids match by prefix, a ' +
      'non-zero exit with no failing test is not graded) or swebench-4 (3.x to 4.1.0: skipped tests count as neither)',
  )
    .choices([...GRADING_RULES])
    .default(DEFAULT_GRADING_RULE);
}

/** The environment table a command's --env-table names, or the shipped one; a bad table is one clear error. */
export function envTableFlag(value: string | undefined): ReturnType<typeof loadEnvironmentTable> {
  return loadEnvironmentTable(value === undefined ? undefined : resolve(value));
}

/** A warning when a table's environments install pins with pip and nothing is set for pip to install from. */
export function pipSourceWarning(
  table: ReturnType<typeof loadEnvironmentTable>,
  pip: { indexUrl?: string; wheelsDir?: string },
): string | undefined {
  const withPip = entriesWithPip(table);
  if (withPip.length === 0 || pip.indexUrl || pip.wheelsDir) return undefined;
  return (
    `fixwright: ` +
    `warning: ${withPip.length} environment(s) ` +
    `of ${table.source.path} install pinned packages with pip, and no package index or wheel ` +
    `directory is set (FIXWRIGHT_PIP_INDEX_URL, FIXWRIGHT_PIP_WHEELS): their instances will end in env_error\n`
  );
}
