import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

// Tests run as root, for whom no permission bit refuses a read: the refusal is made here instead,
// for paths holding "locked", as EACCES from the file system would be.
vi.mock('node:fs', async (original) => {
  const fs = await original<typeof import('node:fs')>();
  const denied = (path: unknown) => {
    if (String(path).includes('locked'))
      throw Object.assign(new Error(`EACCES: permission denied, open '${String(path)}'`), { code: 'EACCES' });
  };
  return {
    ...fs,
    readdirSync: ((path: string, options: never) => (
      denied(path),
      fs.readdirSync(path, options)
    )) as typeof fs.readdirSync,
    readFileSync: ((path: string, options: never) => (
      denied(path),
      fs.readFileSync(path, options)
    )) as typeof fs.readFileSync,
  };
});

const { readDirSnapshot } = await import('../../localisation/snapshot.js');

afterAll(removeRepos);

describe('a directory snapshot with files it may not read', () => {
  it('leaves an unreadable file or folder out with its reason, and reads the rest', () => {
    const repo = makeRepo({ 'pkg/ok.py': 'def ok():\n    pass\n', 'pkg/locked_file.py': 'secret = 1\n' });
    mkdirSync(join(repo, 'pkg', 'locked_dir'));
    writeFileSync(join(repo, 'pkg', 'locked_dir', 'inner.py'), 'x = 1\n');
    const snapshot = readDirSnapshot(repo);
    expect(snapshot.files.map((f) => f.path)).toEqual(['pkg/ok.py']);
    expect(snapshot.skipped).toEqual(
      expect.arrayContaining([
        { path: 'pkg/locked_file.py', reason: 'unreadable' },
        { path: 'pkg/locked_dir', reason: 'unreadable' },
      ]),
    );
  });

  it('refuses a repository folder it cannot list', () => {
    const repo = makeRepo({ 'a.py': 'x = 1\n' });
    const locked = join(repo, 'locked_repo');
    mkdirSync(locked);
    expect(() => readDirSnapshot(locked)).toThrow(/cannot list the repository directory/);
  });
});
