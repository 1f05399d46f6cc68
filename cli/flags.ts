import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_SAMPLES, MAX_SAMPLES } from '../agent/index.js';
import { FixwrightError } from '../core/errors.js';

/** A whole-number flag within bounds, or a clear error naming the flag. */
export function wholeNumber(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new FixwrightError('FW_ERR_BAD_INPUT', `${flag} must be a whole number from ${min} to ${max} (got ${value})`, { field: flag });
  return n;
}

/** `--repos DIR` (the `DIR/<owner>/<name>` layout), resolved, or a clear error when it is missing. */
export function reposDirFlag(value: string): string {
  const dir = resolve(value);
  if (!existsSync(dir)) throw new FixwrightError('FW_ERR_BAD_INPUT', `--repos ${value} does not exist (expected DIR/<owner>/<name>)`, { field: '--repos' });
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
export const SAMPLES_HELP = `candidate fixes drawn per attempt (1-${MAX_SAMPLES}); the reproduction tests judge them and one is kept. Each candidate is one more fix call per attempt (its prompt and answer tokens, its cost) and one more test run unless its change equals another's`;
