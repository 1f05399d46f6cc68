import { execFileSync } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_FILE_BYTES } from '../../localisation/file-filter.js';
import { readGitSnapshot, SourceCache } from '../../localisation/snapshot.js';
import { headCommit, makeRepo, removeRepos } from '../helpers/fixture-repo.js';

afterAll(removeRepos);

const git = (dir: string, ...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' }).toString();
const commit = (dir: string, message: string) =>
  git(dir, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', message);

/** What `git ls-tree -r -l` and `git cat-file` say the snapshot holds: the listing the reader must agree with. */
function expectedFromLsTree(
  dir: string,
  rev: string,
): {
  files: Array<{ path: string; blob: string }>;
  skipped: Array<{ path: string; reason: string }>;
  bytesRead: number;
} {
  const files: Array<{ path: string; blob: string }> = [];
  const skipped: Array<{ path: string; reason: string }> = [];
  let bytesRead = 0;
  for (const line of git(dir, 'ls-tree', '-r', '-z', '-l', rev).split('\0')) {
    if (!line) continue;
    const [meta, path] = line.split('\t') as [string, string];
    const [mode, type, blob, size] = meta.split(/\s+/) as [string, string, string, string];
    if (type !== 'blob') continue;
    if (mode === '120000') skipped.push({ path, reason: 'symlink' });
    else if (!path.endsWith('.py')) continue;
    else if (path.startsWith('vendor/')) skipped.push({ path, reason: 'vendored' });
    else if (Number(size) > MAX_FILE_BYTES) skipped.push({ path, reason: 'too-large' });
    else {
      bytesRead += Number(size);
      files.push({ path, blob });
    }
  }
  return { files: files.sort((a, b) => a.path.localeCompare(b.path)), skipped, bytesRead };
}

describe('a git snapshot read through one cat-file process', () => {
  it('lists what ls-tree lists: nested folders, symlinks of any name, vendored and too large files, no submodules', async () => {
    const repo = makeRepo(
      {
        'pkg/a.py': 'def alpha():\n    return 1\n',
        'pkg/sub/deep/b.py': 'def beta():\n    pass\n',
        'pkg/sub/c.txt': 'not python\n',
        'vendor/lib.py': 'x = 1\n',
        'big.py': `x = "${'y'.repeat(MAX_FILE_BYTES)}"\n`,
        'pkg/naïve é.py': 'z = 2\n',
        'a-b.py': 'w = 3\n',
      },
      { git: false },
    );
    symlinkSync('pkg/a.py', join(repo, 'link.py'));
    symlinkSync('pkg/sub/c.txt', join(repo, 'notes.txt'));
    git(repo, 'init', '-q');
    git(repo, 'add', '-A');
    commit(repo, 'base');
    // A submodule is a gitlink (a commit in the tree), which ls-tree lists and the snapshot leaves out.
    git(repo, 'update-index', '--add', '--cacheinfo', `160000,${headCommit(repo)},pkg/submodule.py`);
    commit(repo, 'add a submodule');

    const snapshot = await readGitSnapshot(join(repo, '.git'), 'HEAD');
    const expected = expectedFromLsTree(repo, 'HEAD');
    expect(snapshot.files.map(({ path, blob }) => ({ path, blob }))).toEqual(expected.files);
    expect(snapshot.skipped).toEqual(expected.skipped);
    expect(snapshot.bytesRead).toBe(expected.bytesRead);
    expect(snapshot.files.map((f) => f.path)).toEqual(['a-b.py', 'pkg/a.py', 'pkg/naïve é.py', 'pkg/sub/deep/b.py']);
    expect(snapshot.key).toBe(`git:${join(repo, '.git')}@${headCommit(repo)}`);
    expect(snapshot.treeId).toBe(git(repo, 'rev-parse', 'HEAD^{tree}').trim());
  });

  it('reads the next commit from its changed trees and blobs alike, a too large file seen before included', async () => {
    const repo = makeRepo(
      { 'pkg/a.py': 'a = 1\n', 'pkg/sub/b.py': 'b = 1\n', 'big.py': `x = "${'y'.repeat(MAX_FILE_BYTES)}"\n` },
      { git: true },
    );
    const first = headCommit(repo);
    writeFileSync(join(repo, 'pkg', 'sub', 'b.py'), 'b = 2\n');
    writeFileSync(join(repo, 'pkg', 'sub', 'c.py'), 'c = 1\n');
    git(repo, 'add', '-A');
    commit(repo, 'change b, add c');
    const second = headCommit(repo);
    const sources = new SourceCache();
    for (const c of [first, second, first, second]) {
      const cached = await readGitSnapshot(join(repo, '.git'), c, sources);
      expect(cached).toEqual(await readGitSnapshot(join(repo, '.git'), c));
      expect(cached.skipped).toEqual([{ path: 'big.py', reason: 'too-large' }]);
    }
  });

  it('sees commits, refs and packs made after its first read (the process is kept between reads)', async () => {
    const repo = makeRepo({ 'a.py': 'x = 1\n' }, { git: true });
    const gitDir = join(repo, '.git');
    expect((await readGitSnapshot(gitDir, 'HEAD')).key).toBe(`git:${gitDir}@${headCommit(repo)}`);
    writeFileSync(join(repo, 'b.py'), 'y = 1\n');
    git(repo, 'add', '-A');
    commit(repo, 'add b');
    expect((await readGitSnapshot(gitDir, 'HEAD')).files.map((f) => f.path)).toEqual(['a.py', 'b.py']);
    // Refs packed and objects repacked (the loose ones pruned) while the reader runs.
    git(repo, 'pack-refs', '--all');
    git(repo, 'gc', '-q', '--prune=now');
    writeFileSync(join(repo, 'c.py'), 'z = 1\n');
    git(repo, 'add', '-A');
    commit(repo, 'add c');
    git(repo, 'repack', '-adq');
    git(repo, 'branch', 'later');
    const later = await readGitSnapshot(gitDir, 'later');
    expect(later.key).toBe(`git:${gitDir}@${headCommit(repo)}`);
    expect(later.files.map((f) => [f.path, f.text])).toEqual([
      ['a.py', 'x = 1\n'],
      ['b.py', 'y = 1\n'],
      ['c.py', 'z = 1\n'],
    ]);
  });

  it('says a commit is not found for names it cannot resolve, a newline included', async () => {
    const repo = makeRepo({ 'a.py': 'x = 1\n' }, { git: true });
    for (const name of ['nope', '', 'HEAD\nHEAD', '--all'])
      await expect(readGitSnapshot(join(repo, '.git'), name)).rejects.toMatchObject({ code: 'FW_ERR_REPO_NOT_FOUND' });
    await expect(readGitSnapshot(join(repo, 'missing'), 'HEAD')).rejects.toMatchObject({
      code: 'FW_ERR_REPO_NOT_FOUND',
    });
  });
});
