import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FixwrightError, makeDir } from '../core/index.js';

const cannotCreate = (flag: string, given: string, why: string) =>
  new FixwrightError('FW_ERR_BAD_INPUT', `${flag} ${given}: cannot create the folder (${why}); pass another ${flag}`, {
    field: flag,
  });

/** Creates an output folder (and its missing parents), or says in one line, naming the flag, why it cannot. */
export function makeOutputDir(given: string, flag = '--out'): string {
  return makeDir(given, (why) => cannotCreate(flag, given, why));
}

/**
 * True when the folder records only a model check that failed before the run began (no trajectory,
 * no attempt): nothing is lost by replacing it, and the user who fixed the key or URL can rerun
 * the same command.
 */
function onlyFailedPreflight(dir: string, found: readonly string[]): boolean {
  if (found.includes('trajectory.jsonl') || !found.includes('result.json')) return false;
  try {
    const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as {
      stopped_by?: unknown;
      attempts?: unknown;
    };
    return result.stopped_by === 'model_error' && Array.isArray(result.attempts) && result.attempts.length === 0;
  } catch {
    return false;
  }
}

/** The files one `solve` run writes into its --out folder. */
export const RUN_FILES = ['trajectory.jsonl', 'result.json', 'patch.diff'] as const;

/**
 * Refuses an --out folder that already holds a run: one folder holds one run, so its trajectory is
 * one task's event log and its patch and result belong to that run (a second run appended to the
 * trajectory and overwrote the rest, and `export` then mixed the two).
 */
export function refuseUsedRunDir(dir: string, flag = '--out'): void {
  const found = RUN_FILES.filter((f) => existsSync(join(dir, f)));
  if (found.length > 0 && !onlyFailedPreflight(dir, found)) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `${flag} ${dir} already holds a run (${found.join(', ')}): pass a fresh folder with ${flag}, or remove it`,
      { field: flag },
    );
  }
}
