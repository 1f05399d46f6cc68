import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { RepoSpec } from './solve-issue.js';

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
  return host.toLowerCase() === 'github.com' ? path : `${host.toLowerCase()}/${path}`;
}

/**
 * The name a run records for its repository. "." or a relative path would make every local run
 * "the same repository" (and break the export's split by repository), so a path is named by its
 * git remote `origin` when it has one, else by its absolute path.
 */
export function repositoryName(repo: RepoSpec): string {
  if (repo.url) return remoteName(repo.url) ?? repo.url;
  const path = resolve(repo.path ?? '.');
  try {
    const origin = execFileSync('git', ['-C', path, 'config', '--get', 'remote.origin.url'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    return (origin && remoteName(origin)) || path;
  } catch {
    return path; // not a git repository, or no origin
  }
}
