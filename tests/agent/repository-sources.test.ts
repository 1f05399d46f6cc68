import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repositorySources } from '../../agent/solve-issue.js';
import { loadSettings } from '../../core/config.js';
import { Localiser } from '../../localisation/index.js';
import { headCommit, makeRepo, removeRepos } from '../helpers/fixture-repo.js';

afterAll(removeRepos);

describe('repositorySources', () => {
  const settings = loadSettings({ FIXWRIGHT_DATA_DIR: mkdtempSync(join(tmpdir(), 'fw-sources-')) });

  it('reads a checkout as a folder, a commit from its git directory, and a bare repository at its HEAD', async () => {
    const repo = makeRepo({ 'shop/pricing.py': 'def apply_discount(price):\n    return price\n' }, { git: true });
    const bare = join(mkdtempSync(join(tmpdir(), 'fw-bare-')), 'shop.git');
    execFileSync('git', ['clone', '-q', '--bare', repo, bare]);

    expect(await repositorySources({ path: repo }, settings)).toEqual({
      snapshot: { kind: 'dir', path: repo },
      sandbox: { kind: 'dir', path: repo },
    });
    const commit = headCommit(repo);
    expect((await repositorySources({ path: repo, commit }, settings)).snapshot).toEqual({
      kind: 'git',
      gitDir: join(repo, '.git'),
      commit,
    });
    // A bare repository has no files to read as a folder: it was read as one and indexed nothing.
    const fromBare = await repositorySources({ path: bare }, settings);
    expect(fromBare).toEqual({
      snapshot: { kind: 'git', gitDir: bare, commit: 'HEAD' },
      sandbox: { kind: 'git', gitDir: bare, commit: 'HEAD' },
    });
    const snapshot = await new Localiser().snapshot(fromBare.snapshot);
    expect(snapshot.files.map((f) => f.path)).toEqual(['shop/pricing.py']);
  });
});
