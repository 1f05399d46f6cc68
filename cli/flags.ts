import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
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
