import { spawnSync } from 'node:child_process';
import { FixwrightError } from '../core/index.js';
import { isDocsFile, isTestFile } from '../localisation/index.js';
import type { SwebenchRow } from './dataset.js';

/**
 * Localisation rows made from a repository's own history: each past fix commit becomes a row whose
 * "issue" is the commit message, whose base is the commit's parent and whose gold files are the
 * Python sources it modified. A proxy, weaker than real issues (a message often names what it
 * changed, and says nothing of the symptom), but it needs no dataset: a user can measure, and
 * calibrate, localisation on their own repository, and a repository of any size can show how the
 * conformal sets grow with it.
 */

/** Options of `historyRows`. */
export interface HistoryRowOptions {
  gitDir: string;
  /** The `owner/name` the rows name (their repository under `--repos DIR`). */
  repo: string;
  /** The newest commit to consider (default HEAD); only its ancestors are read. */
  until?: string;
  /** How many rows at most, newest first. */
  limit: number;
  /** A commit changing more source files than this is a refactoring, not a fix: skipped. */
  maxFiles?: number;
}

/** Words of a message that say a commit fixes something. */
const FIX_WORDS = /\b(fix(e[sd])?|bug|crash(es|ed)?|error|regression|wrong|incorrect|broken)\b/i;

/** Trailers and boilerplate that say nothing about the problem. */
const NOISE_LINES = /^(signed-off-by|co-authored-by|reviewed-by|cherry picked from|merge (pull request|branch))/i;

function git(gitDir: string, args: string[]): string {
  const r = spawnSync('git', ['--git-dir', gitDir, ...args], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (r.status !== 0)
    throw new FixwrightError('FW_ERR_BAD_INPUT', `git ${args[0]} failed in ${gitDir}: ${(r.stderr || '').trim()}`, {
      field: '--repo',
    });
  return r.stdout;
}

/** The newest `limit` fixes, oldest first; commits that add or delete sources, or touch no non-test source, are left out. */
export function historyRows(options: HistoryRowOptions): SwebenchRow[] {
  const maxFiles = options.maxFiles ?? 3;
  const until = options.until ?? 'HEAD';
  // Twenty candidates a row is plenty: most commits are not fixes, or touch tests or docs only.
  const log = git(options.gitDir, [
    'log',
    '--no-merges',
    `-n${options.limit * 20}`,
    '--format=%H%x1f%P%x1f%B%x1e',
    until,
    '--',
    '*.py',
  ]);
  const rows: SwebenchRow[] = [];
  for (const record of log.split('\x1e')) {
    if (rows.length >= options.limit) break;
    const [sha, parents, body] = record.trim().split('\x1f');
    if (!sha || !parents || parents.includes(' ') || !body) continue;
    const message = body
      .split('\n')
      .filter((l) => !NOISE_LINES.test(l.trim()))
      .join('\n')
      .trim();
    if (message.length < 30 || !FIX_WORDS.test(message)) continue;
    const changes = git(options.gitDir, ['diff', '--name-status', '--no-renames', parents, sha, '--', '*.py'])
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t') as [string, string]);
    const sources = changes.filter(([, path]) => !isTestFile(path) && !isDocsFile(path));
    if (sources.length === 0 || sources.length > maxFiles || sources.some(([status]) => status !== 'M')) continue;
    const patch = git(options.gitDir, ['diff', parents, sha, '--', ...sources.map(([, path]) => path)]);
    rows.push({
      instance_id: `${options.repo.replace('/', '__')}-history-${sha.slice(0, 12)}`,
      repo: options.repo,
      base_commit: parents,
      problem_statement: message,
      patch,
    });
  }
  // Oldest first: a dataset run indexes them in file order, and each commit can then fold into the
  // LSI basis of an earlier one (never a later one's), instead of a fit of its own per row.
  return rows.reverse();
}
