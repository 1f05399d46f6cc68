import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changedFiles } from '../../benchmarks/dataset.js';
import { historyRows } from '../../benchmarks/history-rows.js';
import { runCli } from '../helpers/cli.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

/** Commits on top of a fixture repository, each writing some files; returns the commits' ids. */
function commit(dir: string, message: string, files: Record<string, string>): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' }).toString().trim();
  git('add', '-A');
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', message);
  return git('rev-parse', 'HEAD');
}

describe("localisation rows from a repository's own fix commits", () => {
  let repo: string;
  const ids: Record<string, string> = {};
  beforeAll(() => {
    repo = makeRepo(
      {
        'shop/pricing.py': 'def apply_discount(price, coupon):\n    return price - price * coupon.percent / 100\n',
        'shop/shipping.py': 'RATES = {"eu": 5}\n\n\ndef estimate(region):\n    return RATES[region]\n',
        'shop/utils.py': 'def slugify(text):\n    return text.lower()\n',
      },
      { git: true },
    );
    ids.base = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo }).toString().trim();
    ids.discount = commit(repo, 'Fix the discount when a coupon is zero percent\n\nSigned-off-by: someone', {
      'shop/pricing.py':
        'def apply_discount(price, coupon):\n    if not coupon.percent:\n        return price\n    return price - price * coupon.percent / 100\n',
    });
    ids.docs = commit(repo, 'Fix a typo in the docs of the shop module', { 'docs/conf.py': 'project = "shop"\n' });
    ids.shipping = commit(repo, 'fix crash in estimate for an unknown region (KeyError)', {
      'shop/shipping.py': 'RATES = {"eu": 5}\n\n\ndef estimate(region):\n    return RATES.get(region, 10)\n',
      'tests/test_shipping.py': 'def test_unknown():\n    pass\n',
    });
    commit(repo, 'Tidy the slug helper so it reads better for everyone', {
      'shop/utils.py': 'def slugify(text):\n    return text.strip().lower()\n',
    });
    commit(repo, 'fix: a new module for returns, which fixes the missing refunds', {
      'shop/returns.py': 'def refund():\n    return 0\n',
    });
  });
  afterAll(removeRepos);

  it('keeps the newest fixes that modify sources, oldest first, with the parent as base and the message as issue', () => {
    const rows = historyRows({ gitDir: join(repo, '.git'), repo: 'acme/shop', limit: 10 });
    expect(rows.map((r) => r.base_commit)).toEqual([ids.base, ids.docs]);
    expect(rows.map((r) => changedFiles(r.patch))).toEqual([['shop/pricing.py'], ['shop/shipping.py']]);
    expect(rows[0]).toMatchObject({
      instance_id: `acme__shop-history-${ids.discount!.slice(0, 12)}`,
      repo: 'acme/shop',
      problem_statement: 'Fix the discount when a coupon is zero percent',
    });
    expect(rows[1]!.patch).toContain('+    return RATES.get(region, 10)');
    expect(rows[1]!.patch).not.toContain('test_shipping');
    expect(historyRows({ gitDir: join(repo, '.git'), repo: 'acme/shop', limit: 1 }).map((r) => r.base_commit)).toEqual([
      ids.docs,
    ]); // the newest
    expect(
      historyRows({ gitDir: join(repo, '.git'), repo: 'acme/shop', limit: 10, until: ids.shipping + '~1' }).map(
        (r) => r.base_commit,
      ),
    ).toEqual([ids.base]);
  });

  it('writes them from the CLI, and localise --dataset reads them back from the folder it names', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'fw-history-data-'));
    const out = join(dataDir, 'rows.jsonl');
    const made = await runCli(['localise', '--repo', repo, '--history-rows', out], { FIXWRIGHT_DATA_DIR: dataDir });
    expect(made.code).toBe(0);
    const reposDir = dirname(dirname(repo));
    expect(made.stdout).toContain(
      `wrote 2 row(s) from past fix commits of ${basename(dirname(repo))}/${basename(repo)}`,
    );
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(2);
    const evaluated = await runCli(['localise', '--dataset', out, '--repos', reposDir, '--folds', '2'], {
      FIXWRIGHT_DATA_DIR: dataDir,
    });
    expect(evaluated.stderr).not.toContain('skipped');
    expect(evaluated.stdout).toContain('instances 2');
    const notGit = await runCli(['localise', '--repo', dataDir, '--history-rows', out], {
      FIXWRIGHT_DATA_DIR: dataDir,
    });
    expect(notGit.code).toBe(2);
    expect(notGit.stderr).toContain('--history-rows needs a git repository');
  }, 60_000);
});
