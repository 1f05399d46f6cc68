import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cloneRepository } from '../agent/github.js';
import { gitDirOf } from '../localisation/index.js';

const exec = promisify(execFile);

/** Does this checkout or mirror hold the commit? */
async function hasCommit(checkout: string, commit: string): Promise<boolean> {
  const gitDir = gitDirOf(checkout);
  if (!gitDir) return false;
  try {
    await exec('git', ['--git-dir', gitDir, 'cat-file', '-e', `${commit}^{commit}`]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes sure every repository the rows need is in `cacheDir/<owner>/<name>` with their base
 * commits: a missing repository is cloned from GitHub, one that lacks a commit is fetched, one
 * that has them all is left alone (so a warm cache needs no network). Returns, per repository
 * that could not be had, why; its instances then end as the repository being missing.
 */
export async function cacheRepositories(
  rows: ReadonlyArray<{ repo: string; base_commit: string }>,
  cacheDir: string,
  onClone?: (repo: string) => void,
): Promise<Map<string, string>> {
  const commits = new Map<string, string[]>();
  for (const row of rows) commits.set(row.repo, [...(commits.get(row.repo) ?? []), row.base_commit]);
  const failures = new Map<string, string>();
  for (const [repo, needed] of commits) {
    const checkout = join(cacheDir, repo);
    const present =
      existsSync(checkout) && (await Promise.all(needed.map((c) => hasCommit(checkout, c)))).every(Boolean);
    if (present) continue;
    onClone?.(repo);
    try {
      await cloneRepository(`https://github.com/${repo}`, cacheDir);
    } catch (err) {
      failures.set(repo, (err as Error).message);
    }
  }
  return failures;
}
