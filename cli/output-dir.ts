import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { FixwrightError } from '../core/errors.js';
import { OS_REASONS } from './errors.js';

/** What an errno means to someone choosing an output folder: the OS reasons, and two of its own. */
const WHY: Readonly<Record<string, string>> = {
  ...OS_REASONS,
  EEXIST: 'a file of that name is in the way',
  // /proc, /sys and some mounts refuse new entries with ENOENT though the parent exists.
  ENOENT: 'that file system does not take new folders',
};

const cannotCreate = (flag: string, given: string, why: string) =>
  new FixwrightError('FW_ERR_BAD_INPUT', `${flag} ${given}: cannot create the folder (${why}); pass another ${flag}`, { field: flag });

/**
 * Creates an output folder (and its missing parents), or says in one line why it cannot.
 * Not `mkdirSync(…, { recursive: true })`: on /proc and similar mounts Node's recursive mkdir
 * loops forever on ENOENT (the parent "exists" yet refuses the child), pinning a core and blocking
 * the event loop so SIGTERM is never handled. Here each level is made once, so every path ends.
 */
export function makeOutputDir(given: string, flag = '--out'): string {
  const dir = resolve(given);
  const missing: string[] = [];
  let at = dir;
  while (!existsSync(at)) {
    missing.unshift(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  // `existsSync` is false below a file (ENOTDIR), so the first existing ancestor may be a file.
  if (existsSync(at) && !statSync(at).isDirectory()) throw cannotCreate(flag, given, at === dir ? 'it is a file' : `${at} is a file, not a folder`);
  for (const level of missing) {
    try {
      mkdirSync(level);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (code === 'EEXIST' && statSync(level).isDirectory()) continue; // made meanwhile by another process
      throw cannotCreate(flag, given, `${WHY[code] ?? (err as Error).message} at ${level}${WHY[code] ? `, ${code}` : ''}`);
    }
  }
  return dir;
}

/**
 * True when the folder records only a model check that failed before the run began (no trajectory,
 * no attempt): nothing is lost by replacing it, and the user who fixed the key or URL can rerun
 * the same command.
 */
function onlyFailedPreflight(dir: string, found: readonly string[]): boolean {
  if (found.includes('trajectory.jsonl') || !found.includes('result.json')) return false;
  try {
    const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as { stopped_by?: unknown; attempts?: unknown };
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
    throw new FixwrightError('FW_ERR_BAD_INPUT', `${flag} ${dir} already holds a run (${found.join(', ')}): pass a fresh folder with ${flag}, or remove it`, { field: flag });
  }
}
