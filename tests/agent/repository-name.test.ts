import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repositoryName } from '../../agent/index.js';

describe('repositoryName: the name a run records for a local repository', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-repo-name-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const repoWithOrigin = (name: string, origin: string) => {
    const path = join(dir, name);
    mkdirSync(path);
    execFileSync('git', ['init', '-q', path]);
    execFileSync('git', ['-C', path, 'remote', 'add', 'origin', origin]);
    return path;
  };

  it('names a checkout by its origin, GitHub names in one case', async () => {
    expect(await repositoryName({ path: repoWithOrigin('calc', 'https://GitHub.com/Acme/Calc.git') })).toBe(
      'acme/calc',
    );
  });

  it('names a plain folder inside a repository by its own path, not the parent repository', async () => {
    const parent = repoWithOrigin('outer', 'git@github.com:acme/outer.git');
    mkdirSync(join(parent, 'sub'));
    expect(await repositoryName({ path: join(parent, 'sub') })).toBe(join(parent, 'sub'));
  });

  it.skipIf(process.getuid?.() !== 0)(
    'reads the origin of a checkout another user owns (a mounted repository)',
    async () => {
      const path = repoWithOrigin('owned', 'https://github.com/acme/owned');
      execFileSync('chown', ['-R', 'nobody', path]);
      chownSync(path, 65534, 65534);
      expect(await repositoryName({ path })).toBe('acme/owned');
    },
  );
});
