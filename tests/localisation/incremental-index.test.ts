import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Bm25Index, bm25Fields } from '../../localisation/bm25.js';
import { LsiEmbedder } from '../../localisation/embeddings/lsi.js';
import { loadBasis } from '../../localisation/embeddings/lsi-store.js';
import { Localiser, type RepoIndex } from '../../localisation/index.js';
import { evictIndexes, loadOrBuildIndex } from '../../localisation/index-cache.js';
import { BlobCache, buildRepoIndex } from '../../localisation/repo-index.js';
import { readDirSnapshot, readGitSnapshot } from '../../localisation/snapshot.js';
import { headCommit, makeRepo, removeRepos } from '../helpers/fixture-repo.js';

afterAll(removeRepos);

const TOPICS = [
  'invoice',
  'coupon',
  'shipping',
  'customer',
  'warehouse',
  'refund',
  'catalog',
  'payment',
  'discount',
  'ledger',
];
const VERBS = ['compute', 'render', 'validate', 'merge', 'export', 'parse', 'schedule', 'cache'];

/** A module about two topics, so files share vocabulary the way a real package does. */
function moduleText(i: number, extra = ''): string {
  const a = TOPICS[i % TOPICS.length]!;
  const b = TOPICS[(i * 3 + 1) % TOPICS.length]!;
  const verb = VERBS[i % VERBS.length]!;
  return [
    `"""The ${a} ${b} module number ${i}."""`,
    i > 0 ? `from shop.mod${i - 1} import ${verb}_${TOPICS[(i - 1) % TOPICS.length]}` : 'import os',
    '',
    `class ${a[0]!.toUpperCase()}${a.slice(1)}${i}:`,
    `    """Keeps the ${a} of a ${b}."""`,
    `    def ${verb}_${a}(self, ${b}_total, ${a}_rate):`,
    `        return ${b}_total * ${a}_rate  # ${a} ${b} ${verb}`,
    '',
    `def ${verb}_${b}(${b}, ${a}):`,
    `    """${verb} the ${b} for an ${a}."""`,
    `    return [${b}, ${a}, ${i}]`,
    extra,
  ].join('\n');
}

function shopFiles(count: number): Record<string, string> {
  const files: Record<string, string> = { 'shop/__init__.py': '"""The shop package."""\n' };
  for (let i = 0; i < count; i++) files[`shop/mod${i}.py`] = moduleText(i);
  return files;
}

/** Writes files (null deletes one) and commits them; returns the new commit. */
function commit(dir: string, files: Record<string, string | null>): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  for (const [path, text] of Object.entries(files)) {
    if (text === null) git('rm', '-q', path);
    else writeFileSync(join(dir, path), text);
  }
  git('add', '-A');
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'change');
  return headCommit(dir);
}

const QUERIES = [
  'coupon discount rate',
  'refund the customer invoice',
  'validate_shipping ledger',
  'Traceback in shop/mod3.py render_catalog',
  'warehouse',
];

function expectSameIndex(a: RepoIndex, b: RepoIndex): void {
  expect(a.summaries).toEqual(b.summaries);
  expect([...a.graph]).toEqual([...b.graph]);
  expect([...a.defs].map(([k, v]) => [k, [...v]])).toEqual([...b.defs].map(([k, v]) => [k, [...v]]));
  // Exact: the same files, in the same order, with bit-identical scores.
  for (const q of QUERIES) expect(a.bm25.search(q, 50)).toEqual(b.bm25.search(q, 50));
}

describe('an index at the next commit', () => {
  it('equals a fresh build, and parses only the files that changed', async () => {
    const repo = makeRepo(shopFiles(12), { git: true });
    const first = headCommit(repo);
    const second = commit(repo, {
      'shop/mod2.py': moduleText(2, 'def refund_coupon(coupon):\n    return coupon.refund()\n'),
      'shop/mod5.py': null,
      'shop/extra.py': moduleText(40),
    });
    const cache = new BlobCache();
    const s1 = await readGitSnapshot(join(repo, '.git'), first);
    const s2 = await readGitSnapshot(join(repo, '.git'), second);
    buildRepoIndex(s1, { cache });
    const before = cache.size;
    const incremental = buildRepoIndex(s2, { cache });
    expect(cache.size - before).toBe(2); // the changed and the added file; nothing else is parsed again
    expectSameIndex(incremental, buildRepoIndex(s2));
    // And the same as BM25F built straight from each file's field texts, with no per-blob cache.
    const reference = Bm25Index.build(
      new Map(incremental.summaries.map((s) => [s.path, bm25Fields(s, incremental.texts.get(s.path)!)])),
    );
    for (const q of QUERIES) expect(incremental.bm25.search(q, 50)).toEqual(reference.search(q, 50));
    expect(incremental.bm25.search('refund_coupon', 5)[0]?.path).toBe('shop/mod2.py');

    // Across processes: a new localiser that finds only the first commit's entry on disk.
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-inc-'));
    const gitDir = join(repo, '.git');
    await new Localiser({ cacheDir }).index({ kind: 'git', gitDir, commit: first });
    const later = new Localiser({ cacheDir });
    const fromDisk = await later.index({ kind: 'git', gitDir, commit: second });
    expect(later.lastTiming?.cached).toBe(false);
    expectSameIndex(fromDisk, buildRepoIndex(s2));
    const again = new Localiser({ cacheDir });
    expectSameIndex(await again.index({ kind: 'git', gitDir, commit: second }), fromDisk);
    expect(again.lastTiming?.cached).toBe(true);
  });

  it('scores BM25F as k1 1.2, b 0.75 and idf ln((N − n + 0.5)/(n + 0.5) + 1) over weighted fields', () => {
    const docs = new Map([
      ['a.py', { path: 'alpha', symbols: 'beta', docs: '', body: 'beta gamma' }],
      ['b.py', { path: 'delta', symbols: '', docs: 'gamma', body: 'gamma gamma' }],
      ['c.py', { path: 'eps', symbols: '', docs: '', body: 'zeta' }],
    ]);
    const index = Bm25Index.build(docs, { path: 3, symbols: 2, docs: 1, body: 1 });
    // Weighted lengths: a 3 + 2 + 2 = 7, b 3 + 1 + 2 = 6, c 3 + 1 = 4; average 17/3.
    const avg = 17 / 3;
    const term = (f: number, len: number, n: number) =>
      ((f * 2.2) / (1.2 * (0.25 + (0.75 * len) / avg) + f)) * Math.log((3 - n + 0.5) / (n + 0.5) + 1);
    const got = index.search('beta gamma', 10);
    expect(got.map((r) => r.path)).toEqual(['a.py', 'b.py']);
    expect(got[0]!.score).toBeCloseTo(term(3, 7, 1) + term(1, 7, 2), 12);
    expect(got[1]!.score).toBeCloseTo(term(3, 6, 2), 12);
    expect(Bm25Index.fromJSON(index.toJSON()).search('beta gamma', 10)).toEqual(got);
  });
});

describe('LSI fold-in', () => {
  // The commit and git directory as the Localiser passes them (a directory index has neither).
  const corpusOf = (
    index: RepoIndex,
    repository: string,
    cacheDir?: string,
    candidates?: { includeTests?: boolean },
  ) => {
    const git = /^git:(.*)@([0-9a-f]+)$/.exec(index.key);
    return {
      paths: index.summaries.map((s) => s.path),
      texts: index.texts,
      terms: index.terms,
      blobs: index.blobs,
      repository,
      commit: git?.[2],
      gitDir: git?.[1],
      candidates,
      cache: cacheDir ? { dir: cacheDir } : undefined,
    };
  };

  it('folds a commit with few changed files into the basis, refits past the share, and reads bases back from disk', async () => {
    const repo = makeRepo(shopFiles(30), { git: true });
    const gitDir = join(repo, '.git');
    const c1 = headCommit(repo);
    const c2 = commit(repo, {
      'shop/mod7.py': moduleText(
        7,
        'def audit_ledger_refund(ledger):\n    """Audit a ledger refund."""\n    return ledger\n',
      ),
    });
    const changes: Record<string, string> = {};
    for (let i = 0; i < 10; i++) changes[`shop/mod${i}.py`] = moduleText(i + 100);
    const c3 = commit(repo, changes);
    const [i1, i2, i3] = await Promise.all(
      [c1, c2, c3].map(async (c) => buildRepoIndex(await readGitSnapshot(gitDir, c))),
    );
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-lsi-'));

    const lsi = new LsiEmbedder();
    const e1 = await lsi.embedCorpus(corpusOf(i1!, 'shop', cacheDir));
    expect(lsi.lastFit?.kind).toBe('fitted');
    // Given tokens or not, a fit is the same.
    const plain = await new LsiEmbedder().embedCorpus({ paths: corpusOf(i1!, 'x').paths, texts: i1!.texts });
    expect(plain.vectors).toEqual(e1.vectors);

    const e2 = await lsi.embedCorpus(corpusOf(i2!, 'shop', cacheDir));
    expect(lsi.lastFit).toEqual({ kind: 'folded', folded: 1, share: 1 / 31 });
    const paths = corpusOf(i2!, 'shop').paths;
    const changed = paths.indexOf('shop/mod7.py');
    paths.forEach((_, i) => {
      if (i !== changed) expect(e2.vectors[i]).toEqual(e1.vectors[i]); // unchanged files keep their fitted vectors
    });
    expect(e2.vectors[changed]).not.toEqual(e1.vectors[changed]);
    const norm = Math.hypot(...e2.vectors[changed]!);
    expect(norm).toBeCloseTo(1, 5);

    // 10 of 31 files changed (32%, over the 20% a basis may be off by): a fit of its own.
    await lsi.embedCorpus(corpusOf(i3!, 'shop', cacheDir));
    expect(lsi.lastFit?.kind).toBe('fitted');

    // A new process folds c2 into the basis stored for c1: the same vectors as in memory.
    const later = new LsiEmbedder();
    const e2Disk = await later.embedCorpus(corpusOf(i2!, 'shop', cacheDir));
    expect(later.lastFit?.kind).toBe('folded');
    expect(e2Disk.vectors).toEqual(e2.vectors);
    expect(await e2Disk.embedQuery('ledger refund audit')).toEqual(await e2.embedQuery('ledger refund audit'));

    // A damaged basis is ignored and the corpus refitted, not a crash.
    for (const name of readdirSync(cacheDir).filter((n) => n.endsWith('.bin')))
      writeFileSync(join(cacheDir, name), Buffer.from([7, 0, 0, 0, 123, 34, 118]));
    const damaged = new LsiEmbedder();
    const refit = await damaged.embedCorpus(corpusOf(i2!, 'shop', cacheDir));
    expect(damaged.lastFit?.kind).toBe('fitted');
    expect(refit.vectors).toHaveLength(31);
  });

  it('folds a commit only into a basis fitted at it or an ancestor, never at a later commit', async () => {
    const repo = makeRepo(shopFiles(30), { git: true });
    const gitDir = join(repo, '.git');
    const a = headCommit(repo);
    const b = commit(repo, { 'shop/mod4.py': moduleText(4, 'def settle_ledger(ledger):\n    return ledger\n') });
    const [ia, ib] = await Promise.all([a, b].map(async (c) => buildRepoIndex(await readGitSnapshot(gitDir, c))));

    // B, then its parent A: B's basis may hold A's fix, so A gets its own fit, in memory and from disk.
    const laterFirst = mkdtempSync(join(tmpdir(), 'fw-lsi-order-'));
    const lsi = new LsiEmbedder();
    await lsi.embedCorpus(corpusOf(ib!, 'shop', laterFirst));
    expect(lsi.lastFit?.kind).toBe('fitted');
    await lsi.embedCorpus(corpusOf(ia!, 'shop', laterFirst));
    expect(lsi.lastFit?.kind).toBe('fitted');
    rmSync(
      join(
        laterFirst,
        readdirSync(laterFirst).find((n) => loadBasis(join(laterFirst, n))?.commit === a)!,
      ),
    );
    const fresh = new LsiEmbedder();
    await fresh.embedCorpus(corpusOf(ia!, 'shop', laterFirst));
    expect(fresh.lastFit?.kind).toBe('fitted');
    expect(
      readdirSync(laterFirst)
        .map((n) => loadBasis(join(laterFirst, n))?.commit)
        .sort(),
    ).toEqual([a, b].sort());

    // A, then B: B is folded into A's basis, in memory and from disk.
    const earlierFirst = mkdtempSync(join(tmpdir(), 'fw-lsi-order-'));
    const forward = new LsiEmbedder();
    await forward.embedCorpus(corpusOf(ia!, 'shop', earlierFirst));
    await forward.embedCorpus(corpusOf(ib!, 'shop', earlierFirst));
    expect(forward.lastFit).toEqual({ kind: 'folded', folded: 1, share: 1 / 31 });
    const forwardDisk = new LsiEmbedder();
    await forwardDisk.embedCorpus(corpusOf(ib!, 'shop', earlierFirst));
    expect(forwardDisk.lastFit?.kind).toBe('folded');

    // A directory has no commit to order by: only a basis of exactly its files serves.
    const dirLsi = new LsiEmbedder();
    const dirA = buildRepoIndex(readDirSnapshot(makeRepo(shopFiles(30))));
    const dirB = buildRepoIndex(
      readDirSnapshot(
        makeRepo({
          ...shopFiles(30),
          'shop/mod4.py': moduleText(4, 'def settle_ledger(ledger):\n    return ledger\n'),
        }),
      ),
    );
    await dirLsi.embedCorpus(corpusOf(dirB, 'dir-shop'));
    await dirLsi.embedCorpus(corpusOf(dirA, 'dir-shop'));
    expect(dirLsi.lastFit?.kind).toBe('fitted');
    await dirLsi.embedCorpus(corpusOf(dirB, 'dir-shop'));
    expect(dirLsi.lastFit).toEqual({ kind: 'folded', folded: 0, share: 0 });
  });

  it('does not reuse a basis fitted over other candidates (tests included) for a default run', async () => {
    const files = shopFiles(30);
    for (let i = 0; i < 12; i++)
      files[`tests/test_mod${i}.py`] =
        `from shop.mod${i} import *\n\ndef test_mod${i}():\n    assert ${VERBS[i % VERBS.length]}_${TOPICS[(i * 3 + 1) % TOPICS.length]}\n`;
    const repo = makeRepo(files, { git: true });
    const gitDir = join(repo, '.git');
    const c = headCommit(repo);

    // Through the Localiser: the stored basis is tagged with the candidate options.
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-lsi-tests-'));
    const withTests = new Localiser({ cacheDir, includeTests: true, embedder: new LsiEmbedder() });
    await withTests.denseRanker(await withTests.index({ kind: 'git', gitDir, commit: c }));
    const embedder = new LsiEmbedder();
    const plain = new Localiser({ cacheDir, embedder });
    await plain.denseRanker(await plain.index({ kind: 'git', gitDir, commit: c }));
    expect(embedder.lastFit?.kind).toBe('fitted');

    // Without options to tell them apart, the overlap is measured both ways: 12 of 43 files is too far.
    const snapshot = await readGitSnapshot(gitDir, c);
    const lsi = new LsiEmbedder();
    await lsi.embedCorpus(corpusOf(buildRepoIndex(snapshot, { includeTests: true }), 'shop'));
    await lsi.embedCorpus(corpusOf(buildRepoIndex(snapshot), 'shop'));
    expect(lsi.lastFit?.kind).toBe('fitted');
  });

  it('rejects a stored basis whose header length exceeds the file, without allocating it', async () => {
    const repo = makeRepo(shopFiles(22), { git: true });
    const index = buildRepoIndex(await readGitSnapshot(join(repo, '.git'), headCommit(repo)));
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-lsi-len-'));
    await new LsiEmbedder().embedCorpus(corpusOf(index, 'shop', cacheDir));
    const [name] = readdirSync(cacheDir).filter((n) => n.endsWith('.bin'));
    const file = join(cacheDir, name!);
    const bytes = readFileSync(file);
    bytes.writeUInt32LE(0xfffffff0, 0);
    writeFileSync(file, bytes);
    const huge: number[] = [];
    const alloc = Buffer.alloc.bind(Buffer);
    const spy = vi.spyOn(Buffer, 'alloc').mockImplementation((size, fill, encoding) => {
      if (size > bytes.length) {
        huge.push(size);
        throw new RangeError('allocation past the file size');
      }
      return alloc(size, fill, encoding);
    });
    try {
      expect(loadBasis(file)).toBeUndefined();
      const lsi = new LsiEmbedder();
      await lsi.embedCorpus(corpusOf(index, 'shop', cacheDir));
      expect(lsi.lastFit?.kind).toBe('fitted');
    } finally {
      spy.mockRestore();
    }
    expect(huge).toEqual([]);
  });

  it('ranks a commit the same way through the Localiser whether its basis came from memory or disk', async () => {
    const repo = makeRepo(shopFiles(25), { git: true });
    const gitDir = join(repo, '.git');
    const c1 = headCommit(repo);
    const c2 = commit(repo, { 'shop/mod3.py': moduleText(3, 'def reconcile_ledger(ledger):\n    return ledger\n') });
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-lsi-loc-'));
    const first = new Localiser({ cacheDir, embedder: new LsiEmbedder() });
    await first.denseRanker(await first.index({ kind: 'git', gitDir, commit: c1 }));
    const inMemory = await first.rank(await first.index({ kind: 'git', gitDir, commit: c2 }), 'reconcile the ledger');
    const second = new Localiser({ cacheDir, embedder: new LsiEmbedder() });
    const fromDisk = await second.rank(await second.index({ kind: 'git', gitDir, commit: c2 }), 'reconcile the ledger');
    expect(fromDisk.signals.embeddings).toEqual(inMemory.signals.embeddings);
    expect(fromDisk.files).toEqual(inMemory.files);
  });
});

describe('on-disk caches', () => {
  it('bound index entries and LSI bases together', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-evict-bin-'));
    writeFileSync(join(dir, 'old.bin'), 'x'.repeat(300));
    writeFileSync(join(dir, 'new.json'), 'x'.repeat(100));
    const past = Date.now() / 1000 - 100;
    execFileSync('touch', ['-d', `@${Math.floor(past)}`, join(dir, 'old.bin')]);
    expect(evictIndexes(dir, 200).map((p) => p.slice(dir.length + 1))).toEqual(['old.bin']);

    const repo = makeRepo(shopFiles(22));
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-bound-'));
    const unbounded = new Localiser({ cacheDir, embedder: new LsiEmbedder() });
    await unbounded.denseRanker(await unbounded.index({ kind: 'dir', path: repo }));
    const names = readdirSync(cacheDir).sort();
    expect(names.filter((n) => n.endsWith('.json'))).toHaveLength(1);
    expect(names.filter((n) => n.endsWith('.bin'))).toHaveLength(1);
    const sizes = names.map((n) => statSync(join(cacheDir, n)).size);
    rmSync(cacheDir, { recursive: true });
    // Room for the basis but not both: the index entry, older, goes when the basis is written.
    const bounded = new Localiser({ cacheDir, cacheMaxBytes: Math.max(...sizes) + 1, embedder: new LsiEmbedder() });
    await bounded.denseRanker(await bounded.index({ kind: 'dir', path: repo }));
    const left = readdirSync(cacheDir);
    expect(left).toHaveLength(1);
    expect(left.reduce((s, n) => s + statSync(join(cacheDir, n)).size, 0)).toBeLessThanOrEqual(Math.max(...sizes) + 1);
  });

  it("ignores damaged index entries (and another release's) and builds the index again", async () => {
    const repo = makeRepo(shopFiles(6));
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-corrupt-'));
    const expected = await new Localiser({ cacheDir }).index({ kind: 'dir', path: repo });
    const [entry] = readdirSync(cacheDir).filter((n) => n.endsWith('.json'));
    const file = join(cacheDir, entry!);
    const valid = JSON.parse(execFileSync('cat', [file]).toString()) as {
      version: number;
      blobs: Record<string, { stats: { terms: unknown } }>;
    };
    const oneBlob = Object.keys(valid.blobs)[0]!;
    valid.blobs[oneBlob]!.stats.terms = 'not an array';
    const otherRelease = JSON.stringify({
      ...JSON.parse(execFileSync('cat', [file]).toString()),
      pkg: '0.0.0-another-release',
    });
    for (const damage of [
      '{"version": 5, "blobs": ',
      'null',
      '{"version": 5, "blobs": 3}',
      JSON.stringify(valid),
      otherRelease,
    ]) {
      writeFileSync(file, damage);
      const localiser = new Localiser({ cacheDir });
      const index = await localiser.index({ kind: 'dir', path: repo });
      expectSameIndex(index, expected);
      // A damaged blob of an otherwise readable entry is parsed again; a whole damaged entry rewritten.
      expect(localiser.lastTiming?.cached).toBe(false);
    }
  });

  it('rebuilds rather than crashes on an entry whose records are damaged', async () => {
    const repo = makeRepo(shopFiles(6));
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-corrupt-records-'));
    const expected = await new Localiser({ cacheDir }).index({ kind: 'dir', path: repo });
    const [entry] = readdirSync(cacheDir).filter((n) => n.endsWith('.json'));
    const file = join(cacheDir, entry!);
    const text = readFileSync(file, 'utf8');
    type Entry = {
      blobs: Record<string, { summary: { symbols: unknown[]; imports: unknown[] }; body: { counts: unknown[] } }>;
    };
    const damages: Array<(e: Entry['blobs'][string]) => void> = [
      (e) => (e.summary.symbols = [null]),
      (e) => (e.summary.imports = [{ module: 5 }]),
      (e) => (e.summary.imports = [{ module: 'os', level: 0, names: [1] }]),
      (e) => (e.summary.symbols = [{ kind: 'function', name: 'f', qualname: 'f', startLine: 'one', endLine: 2 }]),
      (e) => (e.body.counts = e.body.counts.map(() => 'x')),
    ];
    for (const damage of damages) {
      const data = JSON.parse(text) as Entry;
      for (const e of Object.values(data.blobs)) damage(e);
      writeFileSync(file, JSON.stringify(data));
      const localiser = new Localiser({ cacheDir });
      expectSameIndex(await localiser.index({ kind: 'dir', path: repo }), expected);
      expect(localiser.lastTiming?.cached).toBe(false);
    }
  });

  it('writes every file of the index to disk even when the in-memory cache is smaller than the snapshot', async () => {
    const lru = new BlobCache(2);
    lru.entry('a', 'a.py', 'x = 1\n');
    lru.entry('b', 'b.py', 'y = 2\n');
    lru.entry('a', 'a.py', 'x = 1\n');
    lru.entry('c', 'c.py', 'z = 3\n');
    // A hit counts as a use: the least recently used goes.
    expect([lru.peek('a') !== undefined, lru.peek('b') !== undefined, lru.peek('c') !== undefined]).toEqual([
      true,
      false,
      true,
    ]);

    const repo = makeRepo(shopFiles(2));
    const snapshot = readDirSnapshot(repo);
    expect(snapshot.files).toHaveLength(3);
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-tiny-cache-'));
    const { index } = loadOrBuildIndex(snapshot, { cacheDir, cache: new BlobCache(2) });
    const [entry] = readdirSync(cacheDir).filter((n) => n.endsWith('.json'));
    const written = JSON.parse(readFileSync(join(cacheDir, entry!), 'utf8')) as { blobs: Record<string, unknown> };
    expect(Object.keys(written.blobs).sort()).toEqual(snapshot.files.map((f) => f.blob).sort());
    const again = loadOrBuildIndex(snapshot, { cacheDir, cache: new BlobCache() });
    expect(again.cached).toBe(true);
    expectSameIndex(again.index, index);
  });
});
