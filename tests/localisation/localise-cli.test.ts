import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Localiser } from '../../localisation/index.js';
import { runCli } from '../helpers/cli.js';
import { headCommit, makeRepo, removeRepos } from '../helpers/fixture-repo.js';

const SHOP: Record<string, string> = {
  'shop/__init__.py': '"""A tiny shop."""\n',
  'shop/pricing.py':
    'def apply_discount(price, coupon):\n    """Apply a percentage coupon to a price."""\n    return price - price * coupon.percent / 100\n',
  'shop/cart.py':
    'from shop.pricing import apply_discount\n\n\nclass Cart:\n    def __init__(self):\n        ' +
    'self.items = []\n\n    def total(self, coupon=None):\n        subtotal = sum(item.price for ' +
    'item in self.items)\n        return apply_discount(subtotal, coupon) if coupon else subtotal\n',
  'shop/shipping.py': 'RATES = {"eu": 5}\n\n\ndef estimate(region):\n    return RATES[region]\n',
  'shop/inventory.py': 'class Stock:\n    def reserve(self, sku, count):\n        return count\n',
  'shop/utils.py': 'def slugify(text):\n    return text.lower().replace(" ", "-")\n',
  'tests/test_cart.py':
    'from shop.cart import Cart\n\ndef test_total_discount_coupon_percentage():\n    assert Cart().total() == 0\n',
  'docs/conf.py': 'project = "shop discount coupon percentage"\n',
};

describe('fixwright localise', () => {
  let repo: string;
  let commit: string;
  let dataDir: string;
  beforeAll(() => {
    repo = makeRepo(SHOP, { git: true });
    commit = headCommit(repo);
    dataDir = mkdtempSync(join(tmpdir(), 'fw-data-'));
  });
  afterAll(removeRepos);
  const cli = (args: string[]) => runCli(['localise', ...args], { FIXWRIGHT_DATA_DIR: dataDir });

  it('finds a lexical match, leaving tests and docs out', async () => {
    const r = await cli([
      '--repo',
      repo,
      '--commit',
      commit,
      '--issue',
      'Percentage coupon discount applied wrongly to the price',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.files[0].path).toBe('shop/pricing.py');
    expect(out.files.map((f: { path: string }) => f.path)).not.toContain('tests/test_cart.py');
    expect(out.files.map((f: { path: string }) => f.path)).not.toContain('docs/conf.py');
    expect(out.set).toContain('shop/pricing.py');
  });

  it('follows a stack trace to the failing file', async () => {
    const issue =
      'Crash when estimating:\nTraceback (most recent call last):\n  File "/site-packages/shop/shipping.py", line 5, in estimate\nKeyError: \'us\'';
    const r = await cli(['--repo', repo, '--issue', issue, '--json']);
    const out = JSON.parse(r.stdout);
    expect(out.files[0].path).toBe('shop/shipping.py');
    expect(out.files[0].ranks.evidence).toBe(1);
  });

  it('reaches an import-graph neighbour through PageRank', async () => {
    const r = await cli(['--repo', repo, '--issue', 'Cart.total returns the wrong amount', '--json']);
    const out = JSON.parse(r.stdout);
    const pricing = out.files.find((f: { path: string }) => f.path === 'shop/pricing.py');
    expect(out.files[0].path).toBe('shop/cart.py');
    expect(pricing.ranks.pagerank).toBeLessThanOrEqual(2);
    expect(pricing.ranks.bm25).toBeUndefined(); // no word of the issue is in it: only the graph found it
  });

  it('reads @FILE issues, prints a table, and refuses empty issues and missing repositories', async () => {
    const file = join(dataDir, 'issue.txt');
    writeFileSync(file, 'slugify breaks on unicode text');
    const table = await cli(['--repo', repo, '--issue', `@${file}`, '--top', '2']);
    expect(table.stdout).toMatch(/^ {2}1 {2}[* ] \d\.\d{4} {2}shop\/utils\.py {2}\(bm25=1/m);
    expect(table.stdout).toMatch(/conformal set: \d+ file\(s\)/);
    const empty = await cli(['--repo', repo, '--issue', '  ']);
    expect(empty.stderr).toBe('fixwright: the issue text is empty: pass --issue TEXT or --issue @FILE\n');
    expect(empty.code).toBe(2);
    const missing = await cli(['--repo', '/nonexistent/repo', '--issue', 'x']);
    expect(missing.stderr).toBe('fixwright: repository not found: /nonexistent/repo\n');
    const badCommit = await cli(['--repo', repo, '--commit', 'deadbeef', '--issue', 'x']);
    expect(badCommit.stderr).toMatch(/commit deadbeef not found/);
  });

  it('takes RRF weights and k from flags, refusing bad ones', async () => {
    const bm25Only = await cli([
      '--repo',
      repo,
      '--issue',
      'Cart.total returns the wrong amount',
      '--json',
      '--weights',
      'embeddings=0,evidence=0,pagerank=0,symbols=0',
      '--rrf-k',
      '60',
    ]);
    const files = JSON.parse(bm25Only.stdout).files as Array<{ ranks: Record<string, number> }>;
    expect(files.every((f) => Object.keys(f.ranks).join() === 'bm25')).toBe(true);
    // --weights means RRF; the shipped calibration belongs to the learned fusion, so it is not silently used.
    expect(bm25Only.stderr).toMatch(
      /warning: the calibration was fitted on ranker fixwright-learned-[0-9a-f]{8}\+lsi-128, not fixwright-rrf-v2\+lsi-128\+cfg-/,
    );
    const bad = await cli(['--repo', repo, '--issue', 'x', '--weights', 'magic=2']);
    expect(bad.stderr).toMatch(/^fixwright: --weights: 'magic=2' is not SIGNAL=WEIGHT/);
    expect(bad.code).toBe(2);
  });

  it('skips binary and undecodable .py files with a reason instead of failing', async () => {
    const odd = makeRepo({ 'ok.py': 'def fine():\n    pass\n' });
    writeFileSync(join(odd, 'blob.py'), Buffer.from([0x64, 0x65, 0x66, 0x00, 0x01]));
    writeFileSync(join(odd, 'latin.py'), Buffer.from([0x23, 0x20, 0xe9, 0xe8, 0x0a]));
    const snapshot = await new Localiser().snapshot({ kind: 'dir', path: odd });
    expect(snapshot.files.map((f) => f.path)).toEqual(['ok.py']);
    expect(snapshot.skipped).toEqual(
      expect.arrayContaining([
        { path: 'blob.py', reason: 'binary' },
        { path: 'latin.py', reason: 'undecodable' },
      ]),
    );
  });

  it('says which files it could not read or decode, in --json too, and writes --json FILE', async () => {
    const odd = makeRepo({ 'ok.py': 'def fine_function():\n    pass\n' });
    writeFileSync(join(odd, 'blob.py'), Buffer.from([0x64, 0x65, 0x66, 0x00, 0x01]));
    const out = join(dataDir, 'single', 'out.json');
    const r = await cli(['--repo', odd, '--issue', 'fine function', '--json', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^fixwright: skipped blob\.py \(binary\)$/m);
    const written = JSON.parse(readFileSync(out, 'utf8'));
    expect(written.files[0].path).toBe('ok.py');
    expect(written.skipped).toEqual([{ path: 'blob.py', reason: 'binary' }]);
  });

  it('reads an issue from a pipe, and refuses a directory or more than 4 MiB without reading it whole', async () => {
    const big = join(dataDir, 'big-issue.txt');
    writeFileSync(big, Buffer.alloc(4 * 1024 * 1024 + 1, 0x61));
    for (const [file, why] of [
      ['/dev/zero', /is over 4194304 bytes/],
      [dataDir, /it is a directory/],
      [big, /is over 4194304 bytes; an issue file may be at most 4194304 bytes/],
    ] as const) {
      const r = await cli(['--repo', repo, '--issue', `@${file}`]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(why);
    }
    const piped = spawnSync(
      process.execPath,
      [
        join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js'),
        'localise',
        '--repo',
        repo,
        '--issue',
        '@/dev/stdin',
        '--json',
      ],
      {
        input: 'slugify breaks on unicode text',
        encoding: 'utf8',
        env: { ...process.env, FIXWRIGHT_DATA_DIR: dataDir },
      },
    );
    expect(piped.status).toBe(0);
    expect(JSON.parse(piped.stdout).files[0].path).toBe('shop/utils.py');
  });

  it('evaluates a dataset, reporting bad rows and missing commits and repositories', async () => {
    const repos = join(dataDir, 'repos');
    mkdirSync(join(repos, 'acme'), { recursive: true });
    symlinkSync(repo, join(repos, 'acme', 'shop'));
    const row = (id: string, problem: string, gold: string, base = commit, name = 'acme/shop') =>
      JSON.stringify({
        instance_id: id,
        repo: name,
        base_commit: base,
        problem_statement: problem,
        patch: `diff --git a/${gold} b/${gold}\n--- a/${gold}\n+++ b/${gold}\n`,
      });
    const dataset = join(dataDir, 'rows.jsonl');
    writeFileSync(
      dataset,
      [
        row('acme__shop-1', 'Percentage coupon discount applied wrongly', 'shop/pricing.py'),
        row('acme__shop-2', 'Traceback:\n  File "shop/shipping.py", line 5, in estimate\nKeyError', 'shop/shipping.py'),
        row('acme__shop-3', 'reserve stock count', 'shop/inventory.py', 'f'.repeat(40)),
        row('acme__gone-4', 'anything', 'x.py', commit, 'acme/gone'),
        row('acme__shop-1', 'a duplicate of the first row', 'shop/utils.py'),
        JSON.stringify({
          instance_id: 'acme__empty-5',
          repo: 'acme/shop',
          base_commit: commit,
          problem_statement: 'x',
          patch: '',
        }),
        JSON.stringify({
          instance_id: 'acme__escape-6',
          repo: '../..',
          base_commit: commit,
          problem_statement: 'x',
          patch: '',
        }),
        '{"instance_id": "broken"',
        '',
      ].join('\n'),
    );
    const out = join(dataDir, 'report.json');
    const r = await cli(['--dataset', dataset, '--repos', repos, '--alpha', '0.1', '--folds', '2', '--json', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/rows\.jsonl:7: skipped bad row: repo: must be owner\/name/);
    expect(r.stderr).toMatch(/rows\.jsonl:8: skipped bad row: not JSON/);
    expect(r.stderr).toMatch(/skipped acme__shop-1: duplicate instance_id/);
    expect(r.stderr).toMatch(/skipped acme__empty-5: its patch changes no files/);
    expect(r.stderr).toMatch(/skipped acme__shop-3: commit f{40} not found/);
    expect(r.stderr).toMatch(/skipped acme__gone-4: repository acme\/gone not found/);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(Object.keys(report)).toEqual([
      'instances',
      'recall',
      'recall_any',
      'mrr',
      'conformal',
      'index_seconds',
      'query_ms',
      'results',
      'function_recall',
    ]);
    expect(report.instances).toBe(2);
    expect(report.recall).toEqual({ '1': 1, '3': 1, '5': 1, '10': 1 });
    expect(Object.keys(report.conformal)).toEqual([
      'alpha',
      'coverage',
      'mean_set_size',
      'set_size_p50',
      'set_size_p90',
      'by_repo_size',
    ]);
    expect(report.results[0]).toMatchObject({
      instance_id: 'acme__shop-1',
      gold: ['shop/pricing.py'],
      indexed_files: 6,
    });
    expect(Object.keys(report.results[0])).toEqual([
      'instance_id',
      'gold',
      'ranked',
      'set',
      'indexed_files',
      'gold_functions',
      'top_functions',
    ]);
    // Set sizes: p50 and p90 beside the mean, overall and per repository-size bucket (the shop's 6 files: the smallest).
    const sizes = report.results.map((x: { set: string[] }) => x.set.length).sort((a: number, b: number) => a - b);
    expect(report.conformal.set_size_p50).toBe(sizes[0]);
    expect(report.conformal.set_size_p90).toBe(sizes[1]);
    expect(
      report.conformal.by_repo_size.map((b: { bucket: string; instances: number }) => [b.bucket, b.instances]),
    ).toEqual([
      ['<=200', 2],
      ['201-1000', 0],
      ['>1000', 0],
    ]);
    expect(report.conformal.by_repo_size[0]).toMatchObject({
      min: 0,
      max: 200,
      coverage: report.conformal.coverage,
      mean_set_size: report.conformal.mean_set_size,
      set_size_p50: sizes[0],
      set_size_p90: sizes[1],
    });
    expect(r.stdout).toContain(
      `set size p50 ${sizes[0]} p90 ${sizes[1]} (mean ${report.conformal.mean_set_size.toFixed(2)})`,
    );
    expect(r.stdout).toMatch(
      /repository <=200 {3} files {2}n= {2}2 {2}coverage \d\.\d\d {2}set size p50 \d+ p90 \d+ mean /,
    );
    expect(r.stdout).toMatch(/repository >1000 {4}files {2}n= {2}0\n/);
    const oneFold = await cli(['--dataset', dataset, '--repos', repos, '--folds', '1']);
    expect(oneFold.stderr).toMatch(/--folds must be at least 2/);
    const noFile = await cli(['--dataset', dataset, '--repos', repos, '--json']);
    expect(noFile.stderr).toMatch(/--json needs a file/);
    expect(report.results[0].ranked[0]).toBe('shop/pricing.py');
  });
});

describe('Localiser', () => {
  it('works on a repository of one file', async () => {
    const one = makeRepo({ 'solo.py': 'def lonely_function():\n    return 1\n' });
    const localiser = new Localiser();
    const index = await localiser.index({ kind: 'dir', path: one });
    const { files } = await localiser.rank(index, 'lonely_function returns the wrong value');
    expect(files.map((f) => f.path)).toEqual(['solo.py']);
  });

  it('reuses its on-disk index for the same snapshot', async () => {
    const repo = makeRepo(SHOP);
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-idx-'));
    const first = new Localiser({ cacheDir });
    await first.index({ kind: 'dir', path: repo });
    expect(first.lastTiming?.cached).toBe(false);
    const second = new Localiser({ cacheDir });
    const index = await second.index({ kind: 'dir', path: repo });
    expect(second.lastTiming?.cached).toBe(true);
    const { files } = await second.rank(index, 'percentage coupon discount');
    expect(files[0]?.path).toBe('shop/pricing.py');
    removeRepos();
  });
});

describe('fixwright localise --embeddings', () => {
  it('uses an OpenAI-compatible embeddings endpoint, or none, and refuses unknown kinds', async () => {
    const { startScriptedOpenAIServer } = await import('../../core/scripted-openai-server.js');
    const server = await startScriptedOpenAIServer({ embeddingDimensions: 32 });
    const repo = makeRepo(SHOP);
    const dataDir = mkdtempSync(join(tmpdir(), 'fw-data-'));
    try {
      const env = {
        FIXWRIGHT_DATA_DIR: dataDir,
        FIXWRIGHT_EMBEDDINGS_MODEL: 'text-embedding-3-small',
        OPENAI_BASE_URL: server.url,
        OPENAI_API_KEY: 'sk-local',
      };
      const api = await runCli(['localise', '--repo', repo, '--issue', 'shipping estimate by region', '--json'], env);
      expect(api.code).toBe(0);
      const out = JSON.parse(api.stdout);
      expect(out.files[0].path).toBe('shop/shipping.py');
      expect(out.files[0].ranks.embeddings).toBeGreaterThanOrEqual(1);
      expect(server.requests.some((r) => r.path === '/v1/embeddings')).toBe(true);
      const none = await runCli(
        ['localise', '--repo', repo, '--issue', 'shipping estimate by region', '--json', '--embeddings', 'none'],
        { FIXWRIGHT_DATA_DIR: dataDir },
      );
      expect(JSON.parse(none.stdout).files[0].ranks.embeddings).toBeUndefined();
      const bad = await runCli(['localise', '--repo', repo, '--issue', 'x', '--embeddings', 'magic'], {
        FIXWRIGHT_DATA_DIR: dataDir,
      });
      expect(bad.stderr).toBe('fixwright: --embeddings must be lsi, api or none (got magic)\n');
      const noModel = await runCli(['localise', '--repo', repo, '--issue', 'x', '--embeddings', 'api'], {
        FIXWRIGHT_DATA_DIR: dataDir,
      });
      expect(noModel.stderr).toMatch(/--embeddings api needs FIXWRIGHT_EMBEDDINGS_MODEL/);
      const badUrl = await runCli(['localise', '--repo', repo, '--issue', 'x'], {
        FIXWRIGHT_DATA_DIR: dataDir,
        OPENAI_BASE_URL: 'file:///etc',
      });
      expect(badUrl.stderr).toMatch(/invalid settings: OPENAI_BASE_URL: must be an http\(s\) URL/);
    } finally {
      await server.close();
    }
  });
});
