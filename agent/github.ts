import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FixwrightError } from '../core/index.js';

const ISSUE_URL = /^https:\/\/github\.com\/([\w.-]+)\/([\w.-]+)\/issues\/(\d+)\/?(?:[?#].*)?$/;
const REPO_URL = /^https:\/\/github\.com\/([\w.-]+)\/([\w.-]+?)(?:\.git)?\/?$/;

/** Is this a GitHub issue URL (`https://github.com/owner/name/issues/N`)? */
export function isIssueUrl(text: string): boolean {
  return ISSUE_URL.test(text.trim());
}

/**
 * Reads an issue's title and body through GitHub's REST API (a token raises the rate limit and
 * reaches private repositories). Offline, it fails with a message saying so.
 */
export async function readGithubIssue(
  url: string,
  options: { apiURL: string; token?: string; timeoutMs?: number },
): Promise<string> {
  const match = ISSUE_URL.exec(url.trim());
  if (!match)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `not a GitHub issue URL: ${url} (expected https://github.com/OWNER/NAME/issues/N)`,
      { field: '--issue' },
    );
  const [, owner, name, number] = match;
  const endpoint = `${options.apiURL.replace(/\/$/, '')}/repos/${owner}/${name}/issues/${number}`;
  let response: Response;
  try {
    response = await fetch(endpoint, {
      headers: {
        accept: 'application/vnd.github+json',
        'user-agent': 'fixwright',
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      },
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
  } catch (err) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `could not reach GitHub at ${options.apiURL} (offline?): ${(err as Error).message}; paste the issue with --issue @FILE instead`,
      { field: '--issue' },
    );
  }
  if (response.status === 404)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `issue ${owner}/${name}#${number} not found (private repositories need GITHUB_TOKEN)`,
      { field: '--issue' },
    );
  if (response.status === 403 || response.status === 429) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `GitHub refused the request (${response.status}, rate limit?); set GITHUB_TOKEN and try again`,
      { field: '--issue' },
    );
  }
  if (!response.ok)
    throw new FixwrightError('FW_ERR_BAD_INPUT', `GitHub answered ${response.status} for ${owner}/${name}#${number}`, {
      field: '--issue',
    });
  const issue = (await response.json()) as { title?: unknown; body?: unknown; pull_request?: unknown };
  if (typeof issue.title !== 'string')
    throw new FixwrightError('FW_ERR_BAD_INPUT', `GitHub's answer for ${owner}/${name}#${number} has no title`, {
      field: '--issue',
    });
  return `${issue.title}\n\n${typeof issue.body === 'string' ? issue.body : ''}`.trim();
}

const exec = promisify(execFile);

/** Clones in flight, so two runs on one repository share a clone instead of racing. */
const cloning = new Map<string, Promise<string>>();

/**
 * Clones `https://github.com/OWNER/NAME` into `cacheDir/OWNER/NAME` once (later runs fetch), and
 * returns the checkout. Only GitHub https URLs are accepted: no file://, no other hosts. Async, so a
 * worker's event loop (and its job locks) keep running during a long clone.
 */
export function cloneRepository(url: string, cacheDir: string): Promise<string> {
  const match = REPO_URL.exec(url.trim());
  if (!match)
    return Promise.reject(
      new FixwrightError(
        'FW_ERR_BAD_INPUT',
        `only https://github.com/OWNER/NAME repository URLs can be cloned (got ${url})`,
        { field: 'repo_url' },
      ),
    );
  const [, owner, name] = match;
  const target = join(cacheDir, owner!, name!);
  const pending = cloning.get(target);
  if (pending) return pending;
  const git = (args: string[], cwd?: string) =>
    exec('git', args, { cwd, encoding: 'utf8', timeout: 600_000, maxBuffer: 16 << 20 });
  const work = (async () => {
    try {
      if (existsSync(join(target, '.git'))) await git(['fetch', '--quiet', 'origin'], target);
      else {
        mkdirSync(join(cacheDir, owner!), { recursive: true });
        await git(['clone', '--quiet', `https://github.com/${owner}/${name}.git`, target]);
      }
      return target;
    } catch (err) {
      const detail = ((err as { stderr?: string }).stderr || (err as Error).message || '').trim().split('\n').pop();
      throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `could not clone ${url} (offline?): ${detail}`, {
        field: 'repo_url',
      });
    } finally {
      cloning.delete(target);
    }
  })();
  cloning.set(target, work);
  return work;
}

/** Is this an https URL of a repository fixwright can clone? */
export function isCloneableRepoUrl(url: string): boolean {
  return REPO_URL.test(url.trim());
}
