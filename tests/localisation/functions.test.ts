import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { functionRecall } from '../../benchmarks/localise-eval.js';
import {
  changedBaseLines,
  goldFunctions,
  rankFunctions,
  rankSymbols,
  summarisePython,
} from '../../localisation/index.js';
import { buildRepoIndex } from '../../localisation/repo-index.js';
import { readDirSnapshot } from '../../localisation/snapshot.js';
import { tokenize } from '../../localisation/tokenize.js';
import { runCli } from '../helpers/cli.js';
import { headCommit, makeRepo, removeRepos } from '../helpers/fixture-repo.js';

const CART =
  'from shop.pricing import apply_discount\n\n\nclass Cart:\n    def __init__(self):\n        ' +
  'self.items = []\n\n    def total(self, coupon=None):\n        subtotal = sum(item.price for item ' +
  'in self.items)\n        return apply_discount(subtotal, coupon) if coupon else subtotal\n';
const SHIPPING =
  'RATES = {"eu": 5}\n\n\ndef estimate(region):\n    """Shipping cost of a region."""\n    return RATES[region]\n';
const SHOP: Record<string, string> = {
  'shop/__init__.py': '"""A tiny shop."""\n',
  'shop/pricing.py':
    'def apply_discount(price, coupon):\n    """Apply a percentage coupon to a price."""\n    return price - price * coupon.percent / 100\n',
  'shop/cart.py': CART,
  'shop/shipping.py': SHIPPING,
};

/** A method change in Cart.total: line 9 replaced, lines 8 and 10 context. */
const METHOD_PATCH =
  'diff --git a/shop/cart.py b/shop/cart.py\n--- a/shop/cart.py\n+++ b/shop/cart.py\n@@ -8,3 +8,3 @@ ' +
  'class Cart:\n     def total(self, coupon=None):\n-        subtotal = sum(item.price for item in ' +
  'self.items)\n+        subtotal = sum(item.price * item.count for item in self.items)\n         ' +
  'return apply_discount(subtotal, coupon) if coupon else subtotal\n';
/** A module-level change: the RATES table on line 1. */
const MODULE_PATCH =
  'diff --git a/shop/shipping.py b/shop/shipping.py\n--- a/shop/shipping.py\n+++ ' +
  'b/shop/shipping.py\n@@ -1,2 +1,2 @@\n-RATES = {"eu": 5}\n+RATES = {"eu": 5, "us": 9}\n \n';
/** A pure insertion inside Cart.__init__ (between base lines 5 and 6), and a new file. */
const INSERT_PATCH =
  'diff --git a/shop/cart.py b/shop/cart.py\n--- a/shop/cart.py\n+++ b/shop/cart.py\n@@ -5,2 +5,3 @@ ' +
  'class Cart:\n     def __init__(self):\n+        self.owner = None\n         self.items = []\n' +
  'diff --git a/shop/new.py b/shop/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/shop/new.py\n@@ -0,0 +1,1 @@\n+X = 1\n';

afterAll(removeRepos);

const tq = (issue: string) => new Set(tokenize(issue));

describe('gold functions from a patch', () => {
  const summaries = new Map(Object.entries(SHOP).map(([path, text]) => [path, summarisePython(path, text)]));

  it('names the method a hunk changes, not its class or neighbours', () => {
    expect(changedBaseLines(METHOD_PATCH).get('shop/cart.py')).toEqual([{ lines: [9], insertions: [] }]);
    expect(Object.fromEntries(goldFunctions(METHOD_PATCH, summaries))).toEqual({ 'shop/cart.py': ['Cart.total'] });
  });

  it('names <module> for a module-level change', () => {
    expect(Object.fromEntries(goldFunctions(MODULE_PATCH, summaries))).toEqual({ 'shop/shipping.py': ['<module>'] });
  });

  it('places a pure insertion in the symbol around it and leaves new files out', () => {
    expect(changedBaseLines(INSERT_PATCH).get('shop/cart.py')).toEqual([{ lines: [], insertions: [[5, 6]] }]);
    expect(changedBaseLines(INSERT_PATCH).has('shop/new.py')).toBe(false);
    expect(Object.fromEntries(goldFunctions(INSERT_PATCH, summaries))).toEqual({ 'shop/cart.py': ['Cart.__init__'] });
  });
});

describe('function ranking', () => {
  it('ranks a file symbols by the issue words in their names and bodies', () => {
    const ranked = rankSymbols(
      summarisePython('shop/shipping.py', SHIPPING),
      tq('the shipping estimate for a region is wrong'),
      SHIPPING,
    );
    expect(ranked.map((s) => s.qualname)).toEqual(['estimate', '<module>']);
    expect(ranked[0]!.score).toBeGreaterThan(0);
    // <module> spans the file's lines, the final newline ending the last one rather than starting another.
    const lines = SHIPPING.endsWith('\n') ? SHIPPING.split('\n').length - 1 : SHIPPING.split('\n').length;
    expect(SHIPPING.endsWith('\n')).toBe(true);
    expect(ranked[1]!.endLine).toBe(lines);
    expect(
      rankSymbols(summarisePython('a.py', 'x_value = 1\ny_value = 2'), tq('x value'), 'x_value = 1\ny_value = 2').find(
        (s) => s.qualname === '<module>',
      )!.endLine,
    ).toBe(2);
    const cart = rankSymbols(summarisePython('shop/cart.py', CART), tq('Cart total ignores the coupon'), CART);
    expect(cart[0]!.qualname).toBe('Cart.total');
  });

  it('finds a method by the identifiers of its body, weighting words rare in the file above common ones', () => {
    const text = [
      'class Store:',
      '    def load(self, path):',
      '        self.records = read_records(path)',
      '',
      '    def save(self, path):',
      '        write_records(path, self.records)',
      '',
      '    def compact(self):',
      '        self.records = [r for r in self.records if not r.tombstone]',
      '',
    ].join('\n');
    const ranked = rankSymbols(
      summarisePython('store.py', text),
      tq('Deleted records keep their tombstone after saving and loading'),
      text,
    );
    expect(ranked[0]!.qualname).toBe('Store.compact');
    // Without the text only names and docstrings count, and nothing here says "tombstone".
    expect(rankSymbols(summarisePython('store.py', text), tq('records keep their tombstone'))[0]!.score).toBe(0);
  });

  it('lifts a helper that a matching function calls above one nothing related calls', () => {
    const text = [
      'def render(table):',
      '    """Render a table as text."""',
      '    return _pad(table)',
      '',
      'def _pad(rows):',
      '    return rows',
      '',
      'def _trim(rows):',
      '    return rows',
      '',
    ].join('\n');
    const ranked = rankSymbols(
      summarisePython('fmt.py', text),
      new Set(tokenize('render of a table loses its last column')),
      text,
    );
    expect(ranked.map((s) => s.qualname).slice(0, 2)).toEqual(['render', '_pad']);
    expect(ranked.find((s) => s.qualname === '_trim')!.score).toBe(0);
  });

  it('does not take a definition header for a call: same-named methods and classes lift nothing', () => {
    const text = [
      'class A:',
      '    def render(self, table):',
      '        return table.columns.truncate(self.width)',
      '',
      '    class Meta(Options):',
      '        ordering = ["width"]',
      '',
      'class B:',
      '    def render(self, rows):',
      '        return rows',
      '',
      '    class Meta(Options):',
      '        verbose_name = "b"',
      '',
    ].join('\n');
    const ranked = rankSymbols(
      summarisePython('views.py', text),
      tq('truncate drops the last table columns; ordering by width'),
      text,
    );
    expect(ranked[0]!.qualname).toBe('A.render');
    expect(ranked.find((s) => s.qualname === 'B.render')!.score).toBe(0);
    expect(ranked.find((s) => s.qualname === 'B.Meta')!.score).toBe(0);
    const at = (q: string) => ranked.findIndex((s) => s.qualname === q);
    expect(at('B.render')).toBeGreaterThan(at('A.Meta'));
  });

  it('holds <module> within the top five, where patches that add imports change it', () => {
    const text = [
      'import os',
      '',
      ...Array.from({ length: 8 }, (_, i) => `def parse_${i}(value):\n    return value.parse()\n`),
    ].join('\n');
    const ranked = rankSymbols(summarisePython('p.py', text), tq('parse fails on empty value'), text);
    expect(ranked.findIndex((s) => s.qualname === '<module>')).toBe(4);
  });

  it('returns the top functions of each set file from the index', () => {
    const index = buildRepoIndex(readDirSnapshot(makeRepo(SHOP)));
    const out = rankFunctions(index, ['shop/cart.py', 'missing.py'], 'Cart total ignores the coupon', 2);
    expect(out).toEqual([
      {
        path: 'shop/cart.py',
        functions: [
          expect.objectContaining({ qualname: 'Cart.total', kind: 'method' }),
          expect.objectContaining({ qualname: 'Cart', kind: 'class' }),
        ],
      },
      { path: 'missing.py', functions: [] },
    ]);
  });

  it('counts a gold function only when the set holds its file and it is in the top k', () => {
    const row = (set: string[], top: string[]) => ({
      set,
      gold_functions: { 'a.py': ['f'] },
      top_functions: { 'a.py': top },
    });
    const fns = ['g1', 'g2', 'g3', 'g4', 'g5', 'f'];
    expect(functionRecall([row(['a.py'], fns), row([], ['f'])])).toEqual({
      '5': 0,
      '10': 0.5,
      gold_functions: 2,
      in_set: 1,
    });
  });
});

describe('fixwright localise: function-level output', () => {
  it('reports function recall in the dataset report and prints set functions for one issue', async () => {
    const repo = makeRepo(SHOP, { git: true });
    const commit = headCommit(repo);
    const dataDir = mkdtempSync(join(tmpdir(), 'fw-data-'));
    const repos = join(dataDir, 'repos');
    mkdirSync(join(repos, 'acme'), { recursive: true });
    symlinkSync(repo, join(repos, 'acme', 'shop'));
    const dataset = join(dataDir, 'rows.jsonl');
    const row = (id: string, problem: string, patch: string) =>
      JSON.stringify({ instance_id: id, repo: 'acme/shop', base_commit: commit, problem_statement: problem, patch });
    writeFileSync(
      dataset,
      [
        row('acme__shop-1', 'Cart total ignores item counts', METHOD_PATCH),
        row('acme__shop-2', 'Shipping estimate fails for region us', MODULE_PATCH),
      ].join('\n'),
    );
    const out = join(dataDir, 'report.json');
    const env = { FIXWRIGHT_DATA_DIR: dataDir };
    const r = await runCli(['localise', '--dataset', dataset, '--repos', repos, '--folds', '2', '--json', out], env);
    expect(r.code).toBe(0);
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
    expect(report.results[0].gold_functions).toEqual({ 'shop/cart.py': ['Cart.total'] });
    expect(report.results[0].top_functions['shop/cart.py'][0]).toBe('Cart.total');
    expect(report.results[1].gold_functions).toEqual({ 'shop/shipping.py': ['<module>'] });
    expect(report.function_recall).toEqual({ '5': 1, '10': 1, gold_functions: 2, in_set: 2 });
    expect(r.stdout).toContain('function recall@5/10 1.000 / 1.000 (of 2 gold functions, 2 in a file the set holds)');

    const calibration = join(dataDir, 'all.json');
    // A set of every file, for the ranking the CLI uses by default (the shipped calibration's ranker).
    const ranker = (
      JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'uncertainty', 'calibration.json'), 'utf8')) as {
        ranker: string;
      }
    ).ranker;
    writeFileSync(
      calibration,
      JSON.stringify({
        version: 1,
        ranker,
        alpha: 0.1,
        method: 'rank',
        qhat: 100,
        n: 2,
        created: '2026-01-01T00:00:00.000Z',
      }),
    );
    const one = await runCli(
      ['localise', '--repo', repo, '--issue', 'Cart total ignores item counts', '--calibration', calibration],
      env,
    );
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/shop\/cart\.py .*\n {10}Cart\.total \(lines 8-10, score \d+\.\d\d\)\n/);
    const json = JSON.parse(
      (
        await runCli(
          [
            'localise',
            '--repo',
            repo,
            '--issue',
            'Cart total ignores item counts',
            '--calibration',
            calibration,
            '--json',
          ],
          env,
        )
      ).stdout,
    );
    expect(json.set_functions['shop/cart.py'][0]).toMatchObject({
      qualname: 'Cart.total',
      kind: 'method',
      start_line: 8,
      end_line: 10,
    });
  });
});
