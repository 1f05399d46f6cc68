import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { gitDirOf } from '../localisation/index.js';
import { resolve } from 'node:path';
import type { RepoSpec } from './solve-issue.js';

const run = promisify(execFile);

/**
 * A remote URL as a repository name: GitHub's `owner/name` (https, ssh or scp-style), other hosts
 * as `host/path`; credentials in the URL are dropped, so a token never reaches a trajectory.
 */
export function remoteName(url: string): string | undefined {
  const text = url.trim();
  let host: string;
  let path: string;
  const scp = /^(?:[^@/]+@)?([^:/]+):(?!\/)(.+)$/.exec(text); // git@github.com:owner/name.git
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    [, host, path] = scp as unknown as [string, string, string];
  } else {
    try {
      const parsed = new URL(text);
      if (parsed.protocol === 'file:') return undefined;
      host = parsed.hostname;
      path = parsed.pathname;
    } catch {
      return undefined;
    }
  }
  path = path.replace(/^\/+|\/+$/g, '').replace(/\.git$/, '');
  if (!host || !path) return undefined;
  // GitHub names are case-insensitive: one repository, one name.
  return host.toLowerCase() === 'github.com' ? path.toLowerCase() : `${host.toLowerCase()}/${path}`;
}

/**
 * The name a run records for its repository. "." or a relative path would make every local run
 * "the same repository" (and break the export's split by repository), so a path is named by its
 * git remote `origin` when it has one, else by its absolute path. The repository's own git dir is
 * named explicitly: discovery would take a parent repository's origin for a plain subfolder, and
 * drop the config of a checkout another user owns (git's safe.directory check).
 */
export async function repositoryName(repo: RepoSpec): Promise<string> {
  if (repo.url) return remoteName(repo.url) ?? repo.url;
  const path = resolve(repo.path ?? '.');
  const gitDir = gitDirOf(path);
  if (!gitDir) return path;
  try {
    const { stdout } = await run('git', ['--git-dir', gitDir, 'config', '--get', 'remote.origin.url'], {
      encoding: 'utf8',
      timeout: 5000,
    });
    const origin = stdout.trim();
    return (origin && remoteName(origin)) || path;
  } catch {
    return path; // no origin
  }
}
