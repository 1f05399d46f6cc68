import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_FILE_BYTES } from '../../localisation/file-filter.js';
import { keptReaders, readGitSnapshot, SourceCache } from '../../localisation/snapshot.js';
import { headCommit, makeRepo, removeRepos } from '../helpers/fixture-repo.js';

afterAll(removeRepos);
afterEach(() => vi.useRealTimers());

const git = (dir: string, ...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' }).toString();
const commit = (dir: string, message: string) =>
  git(dir, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', message);

/** A repository with `count` commits, each changing one file and adding another. */
function repoWithHistory(count: number, seed: string): { gitDir: string; commits: string[] } {
  const repo = makeRepo(
    { 'pkg/__init__.py': `NAME = "${seed}"\n`, 'pkg/core.py': 'def core():\n    return 0\n' },
    { git: true },
  );
  const commits = [headCommit(repo)];
  for (let i = 1; i < count; i++) {
    writeFileSync(join(repo, 'pkg', 'core.py'), `def core():\n    return ${i}\n`);
    writeFileSync(join(repo, 'pkg', `m${i}.py`), `def f${i}():\n    return "${seed}"\n`);
    git(repo, 'add', '-A');
    commit(repo, `step ${i}`);
    commits.push(headCommit(repo));
  }
  return { gitDir: join(repo, '.git'), commits };
}

/** A loose object cut short: git still reads its type and size, but fails (and exits) reading its content. */
function truncateObject(repo: string, id: string): void {
  const file = join(repo, '.git', 'objects', id.slice(0, 2), id.slice(2));
  const bytes = readFileSync(file);
  chmodSync(file, 0o644);
  writeFileSync(file, bytes.subarray(0, Math.min(40, bytes.length >> 1)));
}

const processAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('kept snapshot readers', () => {
  it('answer concurrent reads of one repository, cached and not, as reads one at a time do', async () => {
    const { gitDir, commits } = repoWithHistory(6, 'one');
    const alone = [];
    for (const c of commits) alone.push(await readGitSnapshot(gitDir, c));
    expect(await Promise.all(commits.map((c) => readGitSnapshot(gitDir, c)))).toEqual(alone);
    const sources = new SourceCache();
    expect(await Promise.all([...commits, ...commits].map((c) => readGitSnapshot(gitDir, c, sources)))).toEqual([
      ...alone,
      ...alone,
    ]);
  });

  it('answer concurrent reads of more than four repositories: none closed while in use, at most four kept after', async () => {
    const repos = Array.from({ length: 7 }, (_, i) => repoWithHistory(2, `r${i}`));
    const alone = [];
    for (const { gitDir, commits } of repos) alone.push(await readGitSnapshot(gitDir, commits[1]!));
    // Twice each, all at once: the first round starts seven readers, the second reuses or replaces them.
    const reads = repos.flatMap(({ gitDir, commits }) => [
      readGitSnapshot(gitDir, commits[1]!),
      readGitSnapshot(gitDir, 'HEAD'),
    ]);
    const inUse = keptReaders().filter((r) => r.users > 0).length;
    expect(inUse).toBeGreaterThan(4);
    expect(await Promise.all(reads)).toEqual(alone.flatMap((s) => [s, s]));
    const after = keptReaders();
    expect(after.length).toBeLessThanOrEqual(4);
    expect(after.every((r) => r.users === 0)).toBe(true);
  });

  it('tells a bad name apart from good ones read beside it, and keeps the shared reader running', async () => {
    const { gitDir, commits } = repoWithHistory(3, 'bad');
    const good = await readGitSnapshot(gitDir, 'HEAD');
    const pid = keptReaders().find((r) => r.gitDir === gitDir)!.pid;
    const names = ['HEAD', 'HEAD@{99}', commits[0]!, 'nope', '0'.repeat(40), 'HEAD~1', 'HEAD@{98}', 'HEAD'];
    const results = await Promise.allSettled(names.map((n) => readGitSnapshot(gitDir, n)));
    const outcome = results.map((r) =>
      r.status === 'fulfilled'
        ? r.value.key
        : `${(r.reason as { code?: string }).code}: ${(r.reason as Error).message}`,
    );
    const key = (c: string) => `git:${gitDir}@${c}`;
    const missing = (n: string) => `FW_ERR_REPO_NOT_FOUND: commit ${n} not found in ${gitDir}`;
    expect(outcome).toEqual([
      good.key,
      missing('HEAD@{99}'),
      key(commits[0]!),
      missing('nope'),
      missing('0'.repeat(40)),
      key(commits[1]!),
      missing('HEAD@{98}'),
      good.key,
    ]);
    expect(keptReaders().find((r) => r.gitDir === gitDir)!.pid).toBe(pid);
  });

  it('replaces a reader killed while a snapshot waits on it, once', async () => {
    const { gitDir, commits } = repoWithHistory(2, 'killed');
    const expected = await readGitSnapshot(gitDir, commits[1]!);
    const pid = keptReaders().find((r) => r.gitDir === gitDir)!.pid!;
    // A full id goes to the kept reader at once, so the process dies with the request unanswered.
    const reading = readGitSnapshot(gitDir, commits[1]!);
    process.kill(pid, 'SIGKILL');
    expect(await reading).toEqual(expected);
    const now = keptReaders().find((r) => r.gitDir === gitDir)!.pid!;
    expect(now).not.toBe(pid);
    expect(processAlive(now)).toBe(true);
  });

  it('names the cause when git fails reading a repository it can resolve the commit of, and never calls that not found', async () => {
    const repo = makeRepo({ 'a.py': 'x = 1\n', 'b.py': 'y = 2\n' }, { git: true });
    truncateObject(repo, git(repo, 'rev-parse', 'HEAD:b.py').trim());
    const error = await readGitSnapshot(join(repo, '.git'), 'HEAD').catch((e: Error & { code?: string }) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as { code?: string }).code).toBeUndefined();
    expect((error as Error).message).toMatch(/^git cat-file in .* exited with exit code 128: .*fatal/s);
  });

  it('says a git without --batch-command is too old, and which version is needed', async () => {
    const repo = makeRepo({ 'a.py': 'x = 1\n' }, { git: true });
    // A git that answers --batch-command as git 2.34 does; everything else goes to the real one.
    const bin = makeRepo({});
    const real = execFileSync('sh', ['-c', 'command -v git']).toString().trim();
    writeFileSync(
      join(bin, 'git'),
      `#!/bin/sh\nfor a in "$@"; do [ "$a" = --batch-command ] && { echo "error: unknown option ` +
        `\\\`batch-command'" >&2; echo "usage: git cat-file <type> <object>" >&2; exit 129; }; done\nexec ${real} "$@"\n`,
    );
    chmodSync(join(bin, 'git'), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const error = await readGitSnapshot(join(repo, '.git'), 'HEAD').catch((e: Error) => e);
      expect((error as Error).message).toMatch(
        /exited with exit code 129: .*unknown option .*needs git 2\.36 or later/s,
      );
      // A setting of the machine, reported as such (the CLI prints it in one line, exit 2), not as an internal error.
      expect((error as { code?: string }).code).toBe('FW_ERR_CONFIG');
    } finally {
      process.env.PATH = path;
    }
  });

  it('keeps files a snapshot sharing the cache evicts while this one waits on git', async () => {
    const { gitDir, commits } = repoWithHistory(4, 'evict');
    const expected = await readGitSnapshot(gitDir, commits[3]!);
    /** Another snapshot's write, made just after this one first looks a held source up: it pushes every held source out. */
    class Shared extends SourceCache {
      armed = false;
      evictions = 0;
      override get(blob: string) {
        const entry = super.get(blob);
        if (entry) this.evictSoon();
        return entry;
      }
      private evictSoon() {
        if (!this.armed) return;
        this.armed = false;
        setImmediate(() => {
          this.set('f'.repeat(40), { text: 'x'.repeat(1_000_000) });
          this.evictions++;
        });
      }
    }
    const sources = new Shared(1_000_000);
    await readGitSnapshot(gitDir, commits[2]!, sources);
    sources.armed = true;
    const shared = await readGitSnapshot(gitDir, commits[3]!, sources);
    expect(sources.evictions).toBe(1);
    expect(sources.size).toBeLessThanOrEqual(2);
    expect(shared).toEqual(expected);
  });

  it('learns a too large file is too large from its size, without reading it (no cache)', async () => {
    const repo = makeRepo({ 'a.py': 'x = 1\n', 'big.py': `x = "${'y'.repeat(MAX_FILE_BYTES)}"\n` }, { git: true });
    // git can give the big file's size but not its content: a reader that asked for it would fail.
    truncateObject(repo, git(repo, 'rev-parse', 'HEAD:big.py').trim());
    const snapshot = await readGitSnapshot(join(repo, '.git'), 'HEAD');
    expect(snapshot.files.map((f) => f.path)).toEqual(['a.py']);
    expect(snapshot.skipped).toEqual([{ path: 'big.py', reason: 'too-large' }]);
  });

  it('closes a reader idle for 30 s, and starts another for the next read', async () => {
    const { gitDir, commits } = repoWithHistory(2, 'idle');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const first = await readGitSnapshot(gitDir, commits[1]!);
    const pid = keptReaders().find((r) => r.gitDir === gitDir)!.pid!;
    vi.advanceTimersByTime(29_000);
    expect(keptReaders().some((r) => r.gitDir === gitDir)).toBe(true);
    vi.advanceTimersByTime(1_000);
    expect(keptReaders().some((r) => r.gitDir === gitDir)).toBe(false);
    await vi.waitFor(() => expect(processAlive(pid)).toBe(false), { timeout: 5_000, interval: 20 });
    expect(await readGitSnapshot(gitDir, commits[1]!)).toEqual(first);
    expect(keptReaders().find((r) => r.gitDir === gitDir)!.pid).not.toBe(pid);
  });
});
