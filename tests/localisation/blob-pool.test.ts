import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_BM25_WEIGHTS } from '../../localisation/bm25.js';
import { countBlob } from '../../localisation/blob-count.js';
import { BlobPool, indexThreads, MAX_INDEX_THREADS, PARALLEL_FROM } from '../../localisation/blob-pool.js';
import { serialiseIndex } from '../../localisation/index-cache.js';
import { buildRepoIndexWithEntries, lastPoolCount } from '../../localisation/repo-index.js';
import type { RepoSnapshot } from '../../localisation/snapshot.js';
import { setTokenLimit, SymbolIndex } from '../../localisation/symbol-index.js';

const ROOT = join(import.meta.dirname, '..', '..');
// The worker script is JavaScript built from the sources (npm test builds dist/ first); a private
// build can be named instead.
const DIST = process.env.FIXWRIGHT_TEST_DIST ?? join(ROOT, 'dist');
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'blob-workers');

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

function moduleText(i: number): string {
  const a = TOPICS[i % TOPICS.length]!;
  const b = TOPICS[(i * 7 + 3) % TOPICS.length]!;
  const lines = [
    `"""The ${a} and ${b} module ${i}."""`,
    `from shop.mod${i + 1} import ${b}_total`,
    'import os.path as osp',
    '',
  ];
  for (let c = 0; c < 1 + (i % 4); c++) {
    lines.push(
      `class ${a[0]!.toUpperCase()}${a.slice(1)}Keeper${c}(object):`,
      `    """Keeps the ${a} of each ${b}: see ${b}_total."""`,
    );
    for (let m = 0; m < 2 + (i % 5); m++)
      lines.push(
        `    def ${b}_${a}_step${m}(self, ${a}Rate, ${b}_count=${m}):`,
        `        return ${a}Rate * ${b}_count + len("${b}-${a}") # ${a}.${b}`,
        '',
      );
  }
  return lines.join('\n');
}

/**
 * Real Python (this repository's own scripts, each also with a comment of its copy), generated
 * modules, and the odd ones: a syntax error (tree-sitter reads it), unpaired surrogates, CRLF
 * lines, a long docstring, an empty file and one blob at two paths.
 */
function fixtureFiles(tag: string): RepoSnapshot['files'] {
  const real = execFileSync('git', ['ls-files', '*.py'], { cwd: ROOT }).toString().split('\n').filter(Boolean);
  const files: Array<{ path: string; text: string }> = [];
  real.forEach((path, i) => {
    const text = readFileSync(join(ROOT, path), 'utf8');
    for (let copy = 0; copy < 4; copy++)
      files.push({ path: `real${copy}/${i}_${path.replace(/[/.]/g, '_')}.py`, text: `${text}\n# copy ${copy}\n` });
  });
  for (let i = 0; i < 60; i++) files.push({ path: `shop/mod${i}.py`, text: moduleText(i) });
  files.push(
    { path: 'odd/broken.py', text: 'def broken(:\n    return 1\nclass Fine:\n    def ok(self):\n        pass\n' },
    { path: 'odd/surrogate.py', text: 'def lone():\n    """A \ud800 lone \udc00 half."""\n    return "x\ud83dy"\n' },
    { path: 'odd/crlf.py', text: 'import sys\r\nclass Crlf:\r\n    def run(self):\r\n        return sys.argv\r\n' },
    {
      path: 'odd/longdoc.py',
      text: `def long():\n    """${'verylongdocstringword '.repeat(200)}splitme_at_the_end"""\n`,
    },
    { path: 'odd/empty.py', text: '' },
    { path: 'odd/__init__.py', text: '' },
    { path: 'tests/test_shop.py', text: 'def test_shop():\n    assert True\n' },
  );
  // The same blob id at two paths: parsed once, at its first path.
  return files.map((f) => ({ ...f, blob: `${tag}-${f.text.length}-${hash(f.text)}` }));
}

function hash(text: string): string {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
  return (h >>> 0).toString(16);
}

const snapshotOf = (tag: string): RepoSnapshot => ({
  key: `dir:${tag}`,
  bytesRead: 0,
  skipped: [],
  files: fixtureFiles(tag),
});

const QUERIES = [
  'coupon discount rate',
  'refund the customer invoice',
  'ledger_payment_step3',
  'pytest report json',
  'lone half',
  'Crlf run argv',
  'splitme',
  'dpo data trainer',
];

type Built = ReturnType<typeof buildRepoIndexWithEntries>;

/** Everything an index holds but its blob ids, as text: equal texts, equal indexes. */
function indexDump({ index, entries }: Built): string {
  return JSON.stringify({
    summaries: index.summaries,
    bm25: index.bm25.toJSON(),
    terms: [...index.terms],
    graph: [...index.graph],
    defs: [...index.defs].map(([k, v]) => [k, [...v]]),
    texts: [...index.texts],
    entries: serialiseIndex(new Map([...entries].map(([, e], i) => [String(i), e]))),
  });
}

function expectSameIndex(parallel: Built, serial: Built): void {
  expect(indexDump(parallel)).toBe(indexDump(serial));
  for (const q of QUERIES) expect(parallel.index.bm25.search(q, 50)).toEqual(serial.index.bm25.search(q, 50));
  // The parallel build's chunks come from the workers (its blob ids are its own, so none is cached from the serial build).
  const symbols = SymbolIndex.build(parallel.index.summaries, parallel.index.texts, parallel.index.blobs);
  const fresh = SymbolIndex.build(serial.index.summaries, serial.index.texts);
  expect(symbols.size).toBe(fresh.size);
  for (const q of QUERIES) expect(JSON.stringify(symbols.search(q, 20))).toBe(JSON.stringify(fresh.search(q, 20)));
}

describe('counting blobs in worker threads', () => {
  const pools: BlobPool[] = [];
  const poolOf = (script: string) => {
    const pool = new BlobPool(pathToFileURL(script));
    pools.push(pool);
    return pool;
  };
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  it('builds the same index as one thread does, with the built worker script', async () => {
    const script = join(DIST, 'localisation', 'blob-worker.js');
    expect(existsSync(script), `${script} is missing: run npm run build`).toBe(true);
    const pool = poolOf(script);
    const serial = buildRepoIndexWithEntries(snapshotOf('serial'), { threads: 1 });
    expect(serial.entries.size).toBeGreaterThan(PARALLEL_FROM);
    // Workers start while the first build runs; the test needs builds they took part in.
    let worked = 0;
    for (let round = 0; round < 20 && worked < 2; round++) {
      const parallel = buildRepoIndexWithEntries(snapshotOf(`parallel${round}`), { threads: 3, pool });
      expectSameIndex(parallel, serial);
      if (lastPoolCount()!.byWorkers > 0) worked++;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(worked).toBe(2);
  });

  it('keeps to the token table bound: a table replaced between blobs gives the same symbol index', async () => {
    const pool = poolOf(join(DIST, 'localisation', 'blob-worker.js'));
    await pool.warm(3);
    const previous = setTokenLimit(50);
    try {
      const serial = buildRepoIndexWithEntries(snapshotOf('limit-serial'), { threads: 1 });
      const parallel = buildRepoIndexWithEntries(snapshotOf('limit-parallel'), { threads: 3, pool });
      expect(lastPoolCount()!.byWorkers).toBeGreaterThan(0);
      expectSameIndex(parallel, serial);
    } finally {
      setTokenLimit(previous);
    }
  });

  it('counts here what a worker fails on, and the index is the same', async () => {
    const serial = buildRepoIndexWithEntries(snapshotOf('fails-serial'), { threads: 1 });
    const pool = poolOf(join(FIXTURES, 'fails.mjs'));
    await pool.warm(2);
    const parallel = buildRepoIndexWithEntries(snapshotOf('fails-parallel'), { threads: 2, pool });
    expectSameIndex(parallel, serial);
    expect(lastPoolCount()!.byWorkers).toBe(0);
    // Blobs went to the failing worker and were parsed again here.
    expect(lastPoolCount()!.failed).toBeGreaterThan(0);
  });

  it('counts here the blob of a worker that dies or hangs, after a bounded wait', async () => {
    // Every fixture file, not a few: the caller counts blobs while the worker starts, and on a loaded
    // machine a short list was all counted before the worker thread ran at all (nothing overdue).
    const files = fixtureFiles('dead');
    for (const script of ['dies.mjs', 'hangs.mjs']) {
      // Should the caller still claim every blob first, a fresh pool is tried again (five times at most).
      let overdueSeen = false;
      for (let attempt = 0; attempt < 5 && !overdueSeen; attempt++) {
        const pool = poolOf(join(FIXTURES, script));
        await pool.warm(2);
        const started = performance.now();
        const result = pool.count(files, DEFAULT_BM25_WEIGHTS, 2)!;
        const waited = performance.now() - started;
        expect(result.byWorkers).toBe(0);
        files.forEach((f, i) => expect(result.counted[i]).toEqual(countBlob(f.path, f.text, DEFAULT_BM25_WEIGHTS)));
        expect(result.overdue).toBeLessThanOrEqual(1);
        if (result.overdue === 1) {
          // The blob the worker took was waited for about a second (OVERDUE_MS), then counted here.
          overdueSeen = true;
          expect(waited).toBeGreaterThan(900);
          expect(waited).toBeLessThan(10_000);
        }
      }
      expect(overdueSeen, `${script}: the worker never took a blob in five tries`).toBe(true);
    }
  });

  it('counts in this thread alone when the worker script is not there', () => {
    const pool = poolOf(join(FIXTURES, 'no-such-worker.js'));
    expect(pool.count(fixtureFiles('absent').slice(0, 40), DEFAULT_BM25_WEIGHTS, 4)).toBeUndefined();
    const serial = buildRepoIndexWithEntries(snapshotOf('absent-serial'), { threads: 1 });
    expectSameIndex(buildRepoIndexWithEntries(snapshotOf('absent-parallel'), { threads: 4, pool }), serial);
  });

  it('never keeps the process alive', () => {
    const script = [
      `const { buildRepoIndex, lastPoolCount } = await import(${JSON.stringify(pathToFileURL(join(DIST, 'localisation', 'repo-index.js')).href)});`,
      `const files = Array.from({ length: 200 }, (_, i) => ({ path: 'm' + i + '.py', blob: 'b' + i, ` +
        `text: 'def f' + i + '(x):\\n    return x\\n'.repeat(200) }));`,
      `buildRepoIndex({ key: 'dir:x', bytesRead: 0, skipped: [], files }, { threads: 2 });`,
      `console.log(JSON.stringify(lastPoolCount()));`,
    ].join('\n');
    const started = performance.now();
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      timeout: 20_000,
      encoding: 'utf8',
    });
    // The pool's idle workers would end after 30 s; the process exits as soon as the build is done.
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(run.status).toBe(0);
    // No warning: the workers started (a failed one would say so).
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toMatchObject({ blobs: 200, failed: 0 });
    // Process-wide Node flags (which Node refuses in a worker's explicit option list) start workers too.
    const flagged = spawnSync(
      process.execPath,
      ['--max-old-space-size=1024', '--title=fw-index', '--input-type=module', '-e', script],
      { timeout: 20_000, encoding: 'utf8' },
    );
    expect(flagged.status).toBe(0);
    expect(flagged.stderr).toBe('');
    expect(JSON.parse(flagged.stdout).byWorkers).toBeGreaterThan(0);
  });

  it('takes its thread count from FIXWRIGHT_INDEX_WORKERS, else the idle processors but one', () => {
    const previous = process.env.FIXWRIGHT_INDEX_WORKERS;
    try {
      for (const [set, threads] of [
        ['0', 1],
        ['1', 1],
        ['3', 3],
      ] as const) {
        process.env.FIXWRIGHT_INDEX_WORKERS = set;
        expect(indexThreads()).toBe(threads);
      }
      process.env.FIXWRIGHT_INDEX_WORKERS = 'two';
      expect(indexThreads()).toBe(1);
      // Each worker costs its own heap and JIT: a setting past MAX_INDEX_THREADS is clamped.
      process.env.FIXWRIGHT_INDEX_WORKERS = '1000';
      expect(indexThreads()).toBe(MAX_INDEX_THREADS);
      delete process.env.FIXWRIGHT_INDEX_WORKERS;
      expect(indexThreads()).toBeGreaterThanOrEqual(1);
      expect(indexThreads()).toBeLessThanOrEqual(Math.max(1, availableParallelism() - 1));
    } finally {
      if (previous === undefined) delete process.env.FIXWRIGHT_INDEX_WORKERS;
      else process.env.FIXWRIGHT_INDEX_WORKERS = previous;
    }
  });
});
