import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { FixwrightError } from '../core/errors.js';

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
  if (roots.length === 0) throw new FixwrightError('FW_ERR_FORBIDDEN', 'repo_path is disabled on this server (it sets no FIXWRIGHT_REPO_ROOTS); use repo_url', { field });
  if (!isAbsolute(path)) throw new FixwrightError('FW_ERR_BAD_INPUT', 'repo_path must be an absolute path', { field });
  const outside = () => new FixwrightError('FW_ERR_FORBIDDEN', `repo_path must be inside one of the server's repository roots (${roots.join(', ')})`, { field });
  if (!roots.some((root) => within(resolve(root), resolve(path)))) throw outside();
  if (!existsSync(path)) throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `repo_path ${path} does not exist on the server`, { field });
  if (!insideRoots(path, roots)) throw outside();
}
