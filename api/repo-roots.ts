import { execFile } from 'node:child_process';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { FixwrightError } from '../core/index.js';
import { gitDirOf } from '../localisation/index.js';

const execFileAsync = promisify(execFile);

const within = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

/** Is `path` inside one of `roots` once links are resolved (so `root/../etc` and symlinks out are refused)? */
export function insideRoots(path: string, roots: readonly string[]): boolean {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return false;
  }
  return roots.some((root) => {
    try {
      return within(realpathSync(root), real);
    } catch {
      return false;
    }
  });
}

/**
 * Refuses a `repo_path` outside the configured roots. The roots are checked before existence, so
 * a caller cannot learn whether a path outside them exists; the API checks at submission and the
 * worker again before it reads (it may run elsewhere, and a link may change in between).
 */
export function checkRepoPath(path: string, roots: readonly string[]): void {
  const field = 'repo_path';
  if (roots.length === 0)
    throw new FixwrightError(
      'FW_ERR_FORBIDDEN',
      'repo_path is disabled on this server (it sets no FIXWRIGHT_REPO_ROOTS); use repo_url',
      { field },
    );
  if (!isAbsolute(path)) throw new FixwrightError('FW_ERR_BAD_INPUT', 'repo_path must be an absolute path', { field });
  const outside = () =>
    new FixwrightError(
      'FW_ERR_FORBIDDEN',
      `repo_path must be inside one of the server's repository roots (${roots.join(', ')})`,
      { field },
    );
  if (!roots.some((root) => within(resolve(root), resolve(path)))) throw outside();
  if (!existsSync(path))
    throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `repo_path ${path} does not exist on the server`, { field });
  if (!insideRoots(path, roots)) throw outside();
  if (!statSync(path).isDirectory())
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `repo_path ${path} is a file, not a directory: give the repository's folder`,
      { field },
    );
}

/**
 * Refuses a `commit` the repository at `path` (already checked by checkRepoPath) does not hold.
 * The git directory is named explicitly, so a folder that is not a repository is said to be one
 * rather than git walking up into a parent's; `commit` cannot start with `-` (the schema's pattern),
 * so git never reads it as an option, and no shell sees it.
 */
export async function checkCommit(path: string, commit: string): Promise<void> {
  const field = 'commit';
  const gitDir = gitDirOf(path);
  if (!gitDir)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `repo_path ${path} is not a git repository, so commit ${commit} cannot be read from it (leave commit out to use the folder as it is)`,
      { field },
    );
  try {
    await execFileAsync('git', ['--git-dir', gitDir, 'cat-file', '-e', `${commit}^{commit}`], {
      timeout: 10_000,
      windowsHide: true,
    });
  } catch (err) {
    const e = err as { code?: string | number; killed?: boolean };
    if (e.code === 'ENOENT')
      throw new FixwrightError('FW_ERR_INTERNAL', 'git is not installed on the server, so commit cannot be checked');
    if (e.killed)
      throw new FixwrightError('FW_ERR_UNAVAILABLE', `checking commit ${commit} in ${path} took too long; try again`, {
        field,
      });
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `there is no commit ${commit} in ${path} (a sha, a short sha, a branch or a tag it holds)`,
      { field },
    );
  }
}
