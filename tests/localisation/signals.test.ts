import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ablateLocalisation, formatAblation } from '../../benchmarks/localise-ablation.js';
import { changeFrequency, coChange, historySource, readHistory } from '../../localisation/history.js';
import { errorMessages, issueIdentifiers, messageFragments, rankIdentifiers } from '../../localisation/identifiers.js';
import { Localiser } from '../../localisation/index.js';
import { baseSignals, DEFAULT_RANK_CONFIG, fuseSignals, rankFiles, type RankConfig } from '../../localisation/rank.js';
import { buildRepoIndex } from '../../localisation/repo-index.js';
import { gitDirOf, readDirSnapshot, readGitSnapshot } from '../../localisation/snapshot.js';
import { SymbolIndex, symbolIndexOf } from '../../localisation/symbol-index.js';
import { headCommit, makeRepo, removeRepos } from '../helpers/fixture-repo.js';

afterAll(removeRepos);

function commitFiles(dir: string, files: Record<string, string>, message: string): string {
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text);
  execFileSync('git', ['add', ...Object.keys(files)], { cwd: dir });
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', message], { cwd: dir });
  return headCommit(dir);
}

const only = (signal: keyof RankConfig['weights'], weight = 1): RankConfig => ({
  ...DEFAULT_RANK_CONFIG,
  weights: {
    bm25: 0,
    embeddings: 0,
    evidence: 0,
    pagerank: 0,
    symbols: 0,
    identifiers: 0,
    history: 0,
    cochange: 0,
    title: 0,
    title_symbols: 0,
    [signal]: weight,
  },
});

describe('symbols signal', () => {
  // Both files talk about timeouts a lot; only one has a method about retrying a timed-out request.
  const filler = Array.from(
    { length: 30 },
    (_, i) => `def helper_${i}(timeout):\n    """Timeout handling helper ${i}."""\n    return timeout + ${i}\n`,
  ).join('\n');
  const repo = {
    'net/pool.py': `${filler}\n\nclass Pool:\n    def acquire(self, timeout):\n        return timeout\n`,
    'net/client.py':
      `${filler}\n\nclass Client:\n    def retry_after_timeout(self, request, ` +
      `attempts):\n        """Resend a request whose connection timed out, with backoff."""\n        ` +
      `backoff = 1\n        for attempt in range(attempts):\n            backoff *= 2\n        return request\n`,
  };

  it('ranks the file whose one method matches above files that merely share words, and keeps that method', async () => {
    const index = buildRepoIndex(readDirSnapshot(makeRepo(repo)));
    const result = await rankFiles(
      index,
      'Client does not back off when it resends a request after the connection timed out',
      only('symbols'),
    );
    expect(result.files[0]?.path).toBe('net/client.py');
    expect(result.symbolMatches.get('net/client.py')?.[0]).toMatchObject({
      qualname: 'Client.retry_after_timeout',
      startLine: expect.any(Number),
    });
  });

  it("reuses a blob's chunks at the next snapshot and gives the same answers as a fresh build", () => {
    const first = buildRepoIndex(readDirSnapshot(makeRepo(repo)));
    symbolIndexOf(first); // the blobs' chunks are now cached
    const changed = {
      ...repo,
      'net/pool.py': `${repo['net/pool.py']}\n\ndef drain_after_timeout(pool):\n    return pool\n`,
    };
    const next = buildRepoIndex(readDirSnapshot(makeRepo(changed)));
    const query = 'resend a request after the connection timed out; drain the pool';
    const reused = symbolIndexOf(next).search(query, 10);
    // Without blob ids nothing comes from the cache: every file is chunked and tokenised afresh.
    const fresh = SymbolIndex.build(next.summaries, next.texts).search(query, 10);
    expect(reused).toEqual(fresh);
    expect(fresh.matches.get('net/pool.py')?.map((m) => m.qualname)).toContain('drain_after_timeout');
  });

  it('gives a nested definition its own lines: the class document does not hold the method body', () => {
    const index = buildRepoIndex(
      readDirSnapshot(
        makeRepo({
          'a.py':
            'class Box:\n    size = 1\n\n    def unpack_contents(self):\n        zebra = 1\n        return zebra\n',
        }),
      ),
    );
    const found = symbolIndexOf(index).search('zebra', 10);
    expect(found.matches.get('a.py')?.map((m) => m.qualname)).toEqual(['Box.unpack_contents']);
    // The class keeps its method's name, so an issue naming the method still reaches the class too.
    expect(
      symbolIndexOf(index)
        .search('unpack_contents', 10)
        .matches.get('a.py')
        ?.map((m) => m.qualname),
    ).toContain('Box');
  });
});

describe('title signals', () => {
  // The body is a long log naming the logging module over and over; the title names what is wrong.
  const repo = {
    'app/logging_setup.py':
      'def configure_logging(level):\n    """Set up logging handlers, formatters and log levels."""\n    return level\n',
    'app/skipping.py':
      'def evaluate_xfail_marks(item):\n    """Evaluate xfail marks on a test item."""\n    return item\n\ndef add_marker(item, marker):\n    return marker\n',
    'app/unrelated.py': 'def parse_config(path):\n    return path\n',
  };
  const issue =
    `### Dynamically adding an xfail marker no longer ignores the failure\n\nHere is the ` +
    `log output:\n\n${'INFO logging handler: log level debug, formatter logging set up\n'.repeat(25)}`;

  it('search the title alone over files and symbols, where the whole text ranks by its log', async () => {
    const index = buildRepoIndex(readDirSnapshot(makeRepo(repo)));
    const base = await baseSignals(index, issue, DEFAULT_RANK_CONFIG, undefined, true);
    expect(base.signals.bm25?.[0]?.path).toBe('app/logging_setup.py');
    expect(base.signals.title?.[0]?.path).toBe('app/skipping.py');
    expect(base.signals.title_symbols?.[0]?.path).toBe('app/skipping.py');
    // Off by default in RRF (the learned fusion reads them), so the default ranking is as before.
    expect(DEFAULT_RANK_CONFIG.weights.title).toBe(0);
    expect((await rankFiles(index, issue, only('title'))).files[0]?.path).toBe('app/skipping.py');
  });

  it('are empty for an issue without text', async () => {
    const index = buildRepoIndex(readDirSnapshot(makeRepo(repo)));
    const base = await baseSignals(index, '\n  \n', DEFAULT_RANK_CONFIG, undefined, true);
    expect([base.signals.title, base.signals.title_symbols]).toEqual([[], []]);
  });
});

describe('identifiers signal', () => {
  it('reads names written as code, test names and error messages from an issue', () => {
    const ids = issueIdentifiers(
      'Calling `resolve_url` fails in test_merge_headers; see Session.prepare_request and DataArray',
    );
    expect([...ids.keys()]).toEqual(
      expect.arrayContaining([
        'resolve_url',
        'test_merge_headers',
        'merge_headers',
        'Session',
        'prepare_request',
        'DataArray',
      ]),
    );
    expect(ids.has('fails')).toBe(false);
    expect(
      errorMessages("Traceback...\nValueError: cannot reindex or align along dimension 'x' because of conflicts\n"),
    ).toEqual([{ type: 'ValueError', message: "cannot reindex or align along dimension 'x' because of conflicts" }]);
    expect(messageFragments("cannot reindex or align along dimension 'x' because of conflicts")).toEqual([
      'cannot reindex or align along dimension',
      'because of conflicts',
    ]);
    expect(messageFragments("'lat'")).toEqual(["'lat'", '"lat"']);
  });

  it('weights a name by its rarity: the file defining a rare name outranks files sharing a common one', () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 12; i++) files[`pkg/m${i}.py`] = `def render(x):\n    return x\n`;
    files['pkg/m3.py'] = 'def render(x):\n    return x\n\n\ndef normalise_axes(a):\n    return a\n';
    files['pkg/odd.py'] = 'def render(x):\n    return x\n\n\ndef render_twice(x):\n    return x\n';
    const index = buildRepoIndex(readDirSnapshot(makeRepo(files)));
    const ranked = rankIdentifiers(index, 'after `render` the `normalise_axes` call loses the labels', 10);
    expect(ranked[0]?.path).toBe('pkg/m3.py');
    expect(ranked[0]!.score).toBeGreaterThan(2 * ranked[1]!.score);
  });

  it('maps a test file to the module it tests and a quoted error message to the code raising it', () => {
    const index = buildRepoIndex(
      readDirSnapshot(
        makeRepo({
          'lib/cookies.py': 'def load(jar):\n    return jar\n',
          'lib/models.py':
            'def check(v):\n    if v < 0:\n        raise ValueError(f"negative length {v} is not allowed here")\n',
          'lib/other.py': 'def noop():\n    return None\n',
        }),
      ),
    );
    const ranked = rankIdentifiers(
      index,
      'tests/test_cookies.py fails with\nValueError: negative length -3 is not allowed here\n',
      10,
    );
    expect(Object.fromEntries(ranked.map((r) => [r.path, r.reasons.join('; ')]))).toMatchObject({
      'lib/cookies.py': expect.stringContaining('test_cookies.py'),
      'lib/models.py': expect.stringContaining('ValueError message'),
    });
    expect(ranked.map((r) => r.path)).not.toContain('lib/other.py');
  });
});

describe('history signals', () => {
  it('reads only commits reachable from the base commit, never later ones', async () => {
    const dir = makeRepo({ 'app/a.py': 'A = 1\n', 'app/b.py': 'B = 1\n', 'app/c.py': 'C = 1\n' }, { git: true });
    commitFiles(dir, { 'app/a.py': 'A = 2\n' }, 'fix crash in a');
    commitFiles(dir, { 'app/a.py': 'A = 3\n', 'app/b.py': 'B = 2\n' }, 'fix a and b together');
    const base = headCommit(dir);
    // After the base: many changes to c, which must not count.
    for (let i = 0; i < 4; i++)
      commitFiles(dir, { 'app/c.py': `C = ${i + 10}\n`, 'app/b.py': `B = ${i + 10}\n` }, `fix c ${i}`);
    const gitDir = gitDirOf(dir)!;
    const history = readHistory(gitDir, base)!;
    expect(history.commits).toHaveLength(3);
    const candidates = new Set(['app/a.py', 'app/b.py', 'app/c.py']);
    expect(changeFrequency(history, candidates, 10).map((r) => r.path)).toEqual(['app/a.py', 'app/b.py', 'app/c.py']);
    // b changed with a twice (once in the initial commit of all three), c once.
    expect(coChange(history, new Map([['app/a.py', 1]]), candidates, 10).map((r) => r.path)).toEqual([
      'app/b.py',
      'app/c.py',
    ]);

    // Through the ranker: the snapshot at the base commit gives the same prior.
    const index = buildRepoIndex(await readGitSnapshot(gitDir, base));
    expect(historySource(index.key)).toEqual({ gitDir: expect.any(String), commit: base });
    const ranked = await rankFiles(index, 'something is off', only('history'));
    expect(ranked.signals.history?.map((r) => r.path)).toEqual(['app/a.py', 'app/b.py', 'app/c.py']);
    // At HEAD, c (changed four times since) leads.
    const atHead = await rankFiles(
      buildRepoIndex(await readGitSnapshot(gitDir, 'HEAD')),
      'something is off',
      only('history'),
    );
    expect(atHead.signals.history?.[0]?.path).toBe('app/b.py');
  });

  it('is absent, not an error, for a directory snapshot without git', async () => {
    const index = buildRepoIndex(readDirSnapshot(makeRepo({ 'x.py': 'xval = 1\n', 'y.py': 'yval = 1\n' })));
    const ranked = await rankFiles(index, 'yval is wrong', {
      ...only('history'),
      weights: { ...only('history').weights, cochange: 1, bm25: 1 },
    });
    expect(ranked.signals.history).toBeUndefined();
    expect(ranked.signals.cochange).toBeUndefined();
    expect(ranked.files.length).toBeGreaterThan(0);
  });

  it("ranks by co-change with the other signals' top file", async () => {
    const dir = makeRepo(
      {
        'core/parser.py': 'def parse_header(line):\n    return line\n',
        'core/lexer.py': 'TOKENS = []\n',
        'core/unrelated.py': 'Z = 0\n',
      },
      { git: true },
    );
    for (let i = 0; i < 3; i++)
      commitFiles(
        dir,
        {
          'core/parser.py': `def parse_header(line):\n    return line  # ${i}\n`,
          'core/lexer.py': `TOKENS = [${i}]\n`,
        },
        `fix ${i}`,
      );
    commitFiles(dir, { 'core/unrelated.py': 'Z = 1\n' }, 'tweak');
    const index = buildRepoIndex(await readGitSnapshot(gitDirOf(dir)!, 'HEAD'));
    const ranked = await rankFiles(index, '`parse_header` drops folded lines', {
      ...only('identifiers'),
      weights: { ...only('identifiers').weights, cochange: 1 },
    });
    const cochange = ranked.signals.cochange ?? [];
    expect(cochange[0]?.path).toBe('core/lexer.py');
    // unrelated.py shares only the initial commit with the parser.
    expect(cochange[0]!.score).toBeGreaterThan(4 * (cochange.find((r) => r.path === 'core/unrelated.py')?.score ?? 0));
  });
});

describe('ablation', () => {
  it('ranks each row once and reports every signal without, alone and toggled', async () => {
    const dir = makeRepo(
      {
        'shop/cart.py': 'class Cart:\n    def total(self):\n        return 0\n',
        'shop/tax.py': 'def vat(x):\n    return x\n',
        'shop/misc.py': 'Q = 1\n',
      },
      { git: true },
    );
    const commit = headCommit(dir);
    const patch =
      'diff --git a/shop/cart.py b/shop/cart.py\n--- a/shop/cart.py\n+++ b/shop/cart.py\n@@ -3 +3 @@\n-        return 0\n+        return 1\n';
    const rows = [
      {
        repo: 'o/shop',
        instance_id: 'o__shop-1',
        base_commit: commit,
        patch,
        problem_statement: 'Cart.total returns 0',
      },
    ];
    const reposDir = join(dir, '..', `repos-${process.pid}`);
    execFileSync('mkdir', ['-p', join(reposDir, 'o')]);
    execFileSync('ln', ['-s', dir, join(reposDir, 'o', 'shop')]);
    const report = await ablateLocalisation(rows as never, { reposDir, localiser: new Localiser() });
    expect(report.instances).toBe(1);
    expect(report.signals.map((s) => s.signal)).toEqual([
      'bm25',
      'embeddings',
      'evidence',
      'pagerank',
      'symbols',
      'identifiers',
      'history',
      'cochange',
      'title',
      'title_symbols',
    ]);
    expect(report.signals.find((s) => s.signal === 'symbols')!.alone.r1).toBe(1);
    expect(formatAblation(report)).toMatch(/symbols\s+\d/);
    execFileSync('rm', ['-rf', reposDir]);
  });

  it('re-fusing the base signals under a configuration equals ranking under it', async () => {
    const index = buildRepoIndex(
      readDirSnapshot(
        makeRepo({
          'a/x.py': 'def alpha_beta():\n    return 1\n',
          'a/y.py': 'def gamma():\n    return alpha_beta()\n',
          'a/z.py': 'W = 2\n',
        }),
      ),
    );
    const issue = 'alpha_beta is wrong';
    const config: RankConfig = {
      ...DEFAULT_RANK_CONFIG,
      weights: { ...DEFAULT_RANK_CONFIG.weights, symbols: 1, identifiers: 0.5 },
    };
    const base = await baseSignals(index, issue, config, undefined, true);
    expect(fuseSignals(index, base, config).files).toEqual((await rankFiles(index, issue, config)).files);
  });
});
