import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { setSizeFigures, setSizesByRepoSize } from '../../benchmarks/localise-eval.js';
import { loadSettings } from '../../core/config.js';
import { Localiser } from '../../localisation/index.js';
import {
  evictIndexes,
  loadOrBuildIndex,
  packageVersion,
  serialiseIndex,
  validEntry,
} from '../../localisation/index-cache.js';
import { BlobCache, buildRepoIndex, type RepoIndex } from '../../localisation/repo-index.js';
import type { RepoSnapshot } from '../../localisation/snapshot.js';
import { type StoredChunks, storedChunks, SymbolIndex } from '../../localisation/symbol-index.js';
import { forgetChunks } from '../helpers/chunks.js';
import { z } from 'zod';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

afterAll(removeRepos);

/** Sets a file's mtime to `seconds` after the epoch (eviction orders by it). */
const age = (path: string, seconds: number) => utimesSync(path, seconds, seconds);
const entries = (dir: string) =>
  readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort();
const repoOf = (n: number) =>
  makeRepo({
    [`mod${n}.py`]: `def function_${n}(value):\n    """Module ${n}: ${'word '.repeat(40)}"""\n    return value * ${n}\n`,
  });

describe('evictIndexes', () => {
  it('deletes the least recently used entries until the folder is within the bound, never the one kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-evict-'));
    for (const [name, mtime] of [
      ['a', 400],
      ['b', 100],
      ['c', 300],
      ['d', 200],
    ] as const) {
      writeFileSync(join(dir, `${name}.json`), 'x'.repeat(100));
      age(join(dir, `${name}.json`), mtime);
    }
    writeFileSync(join(dir, 'e.json.123.tmp'), 'x'.repeat(1000)); // a writer in flight: not counted, not deleted
    expect(evictIndexes(dir, 400)).toEqual([]);
    // 400 bytes over a bound of 250: the oldest two go (b, then d).
    expect(evictIndexes(dir, 250).map((p) => p.slice(dir.length + 1))).toEqual(['b.json', 'd.json']);
    expect(entries(dir)).toEqual(['a.json', 'c.json']);
    expect(existsSync(join(dir, 'e.json.123.tmp'))).toBe(true);
    // The entry kept (the one just written) stays even when it is the oldest and alone over the bound.
    expect(evictIndexes(dir, 50, join(dir, 'c.json')).map((p) => p.slice(dir.length + 1))).toEqual(['a.json']);
    expect(entries(dir)).toEqual(['c.json']);
  });
});

describe('the Localiser index cache bound', () => {
  it('refreshes an entry on a read and evicts the least recently used one after a write', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-idx-'));
    const [r1, r2, r3] = [repoOf(1), repoOf(2), repoOf(3)];
    const unbounded = new Localiser({ cacheDir });
    await unbounded.index({ kind: 'dir', path: r1 });
    const [first] = entries(cacheDir);
    await unbounded.index({ kind: 'dir', path: r2 });
    const second = entries(cacheDir).find((n) => n !== first)!;
    age(join(cacheDir, first!), 1000);
    age(join(cacheDir, second), 2000);
    const size = statSync(join(cacheDir, first!)).size;
    // Room for about two entries: reading the first makes the second the least recently used.
    const bounded = new Localiser({ cacheDir, cacheMaxBytes: Math.floor(size * 2.5) });
    await bounded.index({ kind: 'dir', path: r1 });
    expect(bounded.lastTiming?.cached).toBe(true);
    expect(statSync(join(cacheDir, first!)).mtimeMs).toBeGreaterThan(2000 * 1000);
    await bounded.index({ kind: 'dir', path: r3 });
    expect(bounded.lastTiming?.cached).toBe(false);
    const left = entries(cacheDir);
    expect(left).toHaveLength(2);
    expect(left).toContain(first);
    expect(left).not.toContain(second);
    expect(left.reduce((sum, n) => sum + statSync(join(cacheDir, n)).size, 0)).toBeLessThanOrEqual(
      Math.floor(size * 2.5),
    );
    // A bound below one entry keeps only the entry just written.
    const tiny = new Localiser({ cacheDir, cacheMaxBytes: 1 });
    await tiny.index({ kind: 'dir', path: r2 });
    expect(entries(cacheDir)).toEqual([second]);
  });

  it('reads FIXWRIGHT_INDEX_CACHE_MB (default 2048), refusing what is not a whole number of MiB', () => {
    expect(loadSettings({}).localisation.indexCacheMb).toBe(2048);
    expect(loadSettings({ FIXWRIGHT_INDEX_CACHE_MB: '64' }).localisation.indexCacheMb).toBe(64);
    for (const bad of ['0', '-1', '1.5', 'lots']) {
      expect(() => loadSettings({ FIXWRIGHT_INDEX_CACHE_MB: bad })).toThrow(
        /invalid settings: FIXWRIGHT_INDEX_CACHE_MB: /,
      );
    }
  });
});

describe('set sizes by repository size', () => {
  it('gives coverage, mean, p50 and p90 overall and per bucket', () => {
    const row = (indexed_files: number, setSize: number, covered: boolean) => ({
      gold: ['g.py'],
      set: [...(covered ? ['g.py'] : []), ...Array.from({ length: setSize - (covered ? 1 : 0) }, (_, i) => `f${i}.py`)],
      indexed_files,
    });
    const results = [
      row(50, 2, true),
      row(200, 4, true),
      row(201, 10, true),
      row(1000, 20, false),
      row(1001, 40, true),
      ...Array.from({ length: 5 }, () => row(5000, 60, true)),
    ];
    expect(setSizeFigures(results)).toEqual({
      instances: 10,
      coverage: 0.9,
      mean_set_size: (2 + 4 + 10 + 20 + 40 + 300) / 10,
      set_size_p50: 40,
      set_size_p90: 60,
    });
    expect(setSizesByRepoSize(results)).toEqual([
      {
        bucket: '<=200',
        min: 0,
        max: 200,
        instances: 2,
        coverage: 1,
        mean_set_size: 3,
        set_size_p50: 2,
        set_size_p90: 4,
      },
      {
        bucket: '201-1000',
        min: 201,
        max: 1000,
        instances: 2,
        coverage: 0.5,
        mean_set_size: 15,
        set_size_p50: 10,
        set_size_p90: 20,
      },
      {
        bucket: '>1000',
        min: 1001,
        max: null,
        instances: 6,
        coverage: 1,
        mean_set_size: 340 / 6,
        set_size_p50: 60,
        set_size_p90: 60,
      },
    ]);
    expect(setSizeFigures([])).toEqual({
      instances: 0,
      coverage: 0,
      mean_set_size: 0,
      set_size_p50: 0,
      set_size_p90: 0,
    });
  });
});

describe('validEntry', () => {
  // The schema entries were checked with before (zod over every field): the hand-written check
  // must accept and refuse exactly what it did.
  const line = z.number().int().nonnegative();
  const schema = z.object({
    summary: z.object({
      docstring: z.string().optional(),
      symbols: z.array(
        z.object({
          kind: z.enum(['class', 'function', 'method']),
          name: z.string(),
          qualname: z.string(),
          startLine: line,
          endLine: line,
          docstring: z.string().optional(),
        }),
      ),
      imports: z.array(z.object({ module: z.string(), level: line, names: z.array(z.string()) })),
      hasErrors: z.boolean(),
    }),
    stats: z
      .object({ terms: z.array(z.string()), freqs: z.array(z.number()), length: z.number().nonnegative() })
      .refine((s) => s.terms.length === s.freqs.length),
    body: z
      .object({ terms: z.array(z.string()), counts: z.array(line) })
      .refine((b) => b.terms.length === b.counts.length),
  });

  /** A parsed entry, or any object or array inside it, walked by key. */
  type JsonObject = Record<string, unknown>;

  it('accepts and refuses what the schema did', () => {
    const cache = new BlobCache();
    const text =
      '"""Doc."""\nimport os\nfrom . import a, b\nclass C:\n    """C doc."""\n    def m(self):\n        return os.path\n';
    const good = JSON.parse(JSON.stringify(cache.entry('v1', 'p.py', text))) as JsonObject;
    const values: unknown[] = [undefined, null, 0, -1, 1.5, 2 ** 60, 'x', '', true, [], {}, [1], ['x'], { a: 1 }];
    const paths: string[][] = [
      ['summary'],
      ['summary', 'docstring'],
      ['summary', 'symbols'],
      ['summary', 'symbols', '0'],
      ['summary', 'symbols', '0', 'kind'],
      ['summary', 'symbols', '0', 'name'],
      ['summary', 'symbols', '0', 'startLine'],
      ['summary', 'symbols', '0', 'endLine'],
      ['summary', 'symbols', '0', 'docstring'],
      ['summary', 'imports'],
      ['summary', 'imports', '0'],
      ['summary', 'imports', '0', 'module'],
      ['summary', 'imports', '0', 'level'],
      ['summary', 'imports', '1', 'names'],
      ['summary', 'imports', '1', 'names', '0'],
      ['summary', 'hasErrors'],
      ['stats'],
      ['stats', 'terms'],
      ['stats', 'terms', '0'],
      ['stats', 'freqs'],
      ['stats', 'freqs', '0'],
      ['stats', 'length'],
      ['body'],
      ['body', 'terms'],
      ['body', 'terms', '1'],
      ['body', 'counts'],
      ['body', 'counts', '1'],
      ['extra'],
    ];
    expect(validEntry(good)).toBe(true);
    let refused = 0;
    for (const path of paths)
      for (const value of values) {
        const e = JSON.parse(JSON.stringify(good)) as JsonObject;
        let at = e;
        // The paths only go through objects and arrays of the entry; an array's index is its key.
        for (const k of path.slice(0, -1)) at = at[k] as JsonObject;
        if (value === undefined) delete at[path.at(-1)!];
        else at[path.at(-1)!] = value;
        const expected = schema.safeParse(e).success;
        if (!expected) refused++;
        expect([path.join('.'), value, validEntry(e)]).toEqual([path.join('.'), value, expected]);
      }
    for (const e of [null, 1, 'x', [], { summary: good.summary }]) expect(validEntry(e)).toBe(false);
    expect(refused).toBeGreaterThan(300);
  });
});

describe('serialiseIndex', () => {
  it("writes what JSON.stringify of the whole entry wrote, byte for byte, with each blob's JSON made once", () => {
    const cache = new BlobCache();
    const texts = [
      '"""Doc."""\nimport os\nclass C:\n    def m(self):\n        return os.path\n',
      'x = 1\n',
      'def f(a, b):\n    """Say \\"hi\\" \u00e9 \\u2028."""\n    return a\n',
      '',
    ];
    const entries = new Map(texts.map((t, i) => [`${i}abc${'0'.repeat(36)}`, cache.entry(`ser-${i}`, `p${i}.py`, t)]));
    const version = (JSON.parse(serialiseIndex(new Map())) as { version: number }).version;
    const whole = (m: Map<string, unknown>) =>
      JSON.stringify({ version, pkg: packageVersion(), blobs: Object.fromEntries(m) });
    expect(serialiseIndex(entries)).toBe(whole(entries));
    // The next commit: one blob gone, one new, the others in another order; their JSON is reused.
    const next = new Map([...entries].reverse().slice(1));
    next.set('new', cache.entry('ser-new', 'q.py', 'class D:\n    pass\n'));
    const spy = JSON.stringify;
    let calls = 0;
    JSON.stringify = ((...args: Parameters<typeof spy>) => (calls++, spy(...args))) as typeof spy;
    let text: string;
    try {
      text = serialiseIndex(next);
    } finally {
      JSON.stringify = spy;
    }
    expect(text).toBe(whole(next));
    // The new blob's entry, each of the four keys, the version and the release.
    expect(calls).toBe(1 + next.size + 2);
  });
});

describe('delta entries', () => {
  const TOPICS = ['invoice', 'coupon', 'shipping', 'customer', 'warehouse', 'refund', 'catalog', 'payment'];
  const moduleText = (i: number, edit = 0) =>
    [
      `"""The ${TOPICS[i % 8]} module ${i}, edit ${edit}."""`,
      i > 0 ? `from pkg.mod${i - 1} import compute_${TOPICS[(i - 1) % 8]}` : 'import os',
      `class Keeper${i}:`,
      `    def compute_${TOPICS[i % 8]}(self, ${TOPICS[(i + 3) % 8]}_total):`,
      `        return ${TOPICS[(i + 3) % 8]}_total * ${i + edit}`,
      `def compute_${TOPICS[i % 8]}(value):`,
      `    return value + ${edit}`,
      '',
    ].join('\n');
  /** A snapshot of one repository: module i at its edit (absent when the edit is null). */
  const snapshotOf = (edits: Array<number | null>): RepoSnapshot => ({
    key: 'dir:/delta-fixture',
    bytesRead: 0,
    skipped: [],
    files: edits.flatMap((edit, i) => {
      if (edit === null) return [];
      const text = moduleText(i, edit);
      return [{ path: `pkg/mod${i}.py`, blob: createHash('sha1').update(text).digest('hex'), text }];
    }),
  });
  const QUERIES = ['compute invoice total', 'coupon keeper', 'refund the warehouse', 'Keeper7 payment', 'import os'];
  const expectSameIndex = (a: RepoIndex, b: RepoIndex) => {
    expect(a.summaries).toEqual(b.summaries);
    expect([...a.blobs]).toEqual([...b.blobs]);
    expect([...a.graph]).toEqual([...b.graph]);
    expect([...a.defs].map(([k, v]) => [k, [...v]])).toEqual([...b.defs].map(([k, v]) => [k, [...v]]));
    for (const q of QUERIES) expect(a.bm25.search(q, 50)).toEqual(b.bm25.search(q, 50));
    const [sa, sb] = [a, b].map((i) => SymbolIndex.build(i.summaries, i.texts, i.blobs));
    for (const q of QUERIES) expect(JSON.stringify(sa!.search(q, 10))).toBe(JSON.stringify(sb!.search(q, 10)));
  };
  type Entry = {
    version: number;
    pkg: string;
    base?: string;
    blobs: Record<string, { chunks?: StoredChunks; stats: { terms: string[] } }>;
  };
  const read = (dir: string, name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as Entry;
  /** Loads a snapshot as a new process would: nothing in memory, no chunks remembered. */
  const fresh = (snapshot: RepoSnapshot, cacheDir: string) => {
    forgetChunks();
    const cache = new BlobCache();
    return { ...loadOrBuildIndex(snapshot, { cacheDir, cache, threads: 1 }), cache };
  };
  /** Indexes a snapshot, returning the name of the entry it wrote. */
  const write = (snapshot: RepoSnapshot, cacheDir: string, cache: BlobCache) => {
    const before = new Set(entries(cacheDir));
    const result = loadOrBuildIndex(snapshot, { cacheDir, cache, threads: 1 });
    return { ...result, name: entries(cacheDir).find((n) => !before.has(n)) };
  };
  const edits = (n: number, changed: Record<number, number | null>) =>
    Array.from({ length: n }, (_, i) => (i in changed ? changed[i]! : 0));
  const cold = (snapshot: RepoSnapshot) => buildRepoIndex(snapshot, { threads: 1 });

  it('hold only what the base does not, and load the same index as a full entry, a cold build and a base gone', () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-delta-'));
    const cache = new BlobCache();
    const a = snapshotOf(edits(20, {}));
    const b = snapshotOf(edits(21, { 3: 1, 8: 1, 11: null }));
    const { name: nameA } = write(a, cacheDir, cache);
    expect(read(cacheDir, nameA!).base).toBeUndefined();
    const { name: nameB, index: atB } = write(b, cacheDir, cache);
    const delta = read(cacheDir, nameB!);
    // The two changed files and the added one, their chunks with them.
    expect(delta.base).toBe(nameA);
    const changed = b.files
      .filter((f) => ['pkg/mod3.py', 'pkg/mod8.py', 'pkg/mod20.py'].includes(f.path))
      .map((f) => f.blob);
    expect(Object.keys(delta.blobs).sort()).toEqual(changed.sort());
    expect(Object.values(delta.blobs).every((e) => e.chunks !== undefined)).toBe(true);
    expect(Object.keys(delta).sort()).toEqual(['base', 'blobs', 'pkg', 'version']);
    expect([delta.version, delta.pkg]).toEqual([read(cacheDir, nameA!).version, packageVersion()]);

    const expected = cold(b);
    expectSameIndex(atB, expected);
    // Read back by a new process: the delta and its base, nothing parsed.
    const viaDelta = fresh(b, cacheDir);
    expect(viaDelta.cached).toBe(true);
    expectSameIndex(viaDelta.index, expected);
    expect(viaDelta.cache.size).toBe(20 + 3);
    // A full entry of the same snapshot (as an earlier release of this format wrote) gives the same.
    const full = JSON.parse(readFileSync(join(cacheDir, nameA!), 'utf8')) as Entry;
    const whole = {
      version: delta.version,
      pkg: delta.pkg,
      blobs: Object.fromEntries(b.files.map((f) => [f.blob, delta.blobs[f.blob] ?? full.blobs[f.blob]!])),
    };
    const fullDir = mkdtempSync(join(tmpdir(), 'fw-delta-full-'));
    writeFileSync(join(fullDir, nameB!), JSON.stringify(whole));
    const viaFull = fresh(b, fullDir);
    expect(viaFull.cached).toBe(true);
    expectSameIndex(viaFull.index, expected);

    // The base gone: its blobs are counted again, and the entry rewritten in full.
    unlinkSync(join(cacheDir, nameA!));
    const baseGone = fresh(b, cacheDir);
    expect(baseGone.cached).toBe(false);
    expectSameIndex(baseGone.index, expected);
    expect(read(cacheDir, nameB!).base).toBeUndefined();
    expect(Object.keys(read(cacheDir, nameB!).blobs)).toHaveLength(b.files.length);
    expect(fresh(b, cacheDir).cached).toBe(true);
  });

  it('never give a wrong index when the base or the delta is damaged, of another release or a delta itself', () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-delta-damage-'));
    const cache = new BlobCache();
    const a = snapshotOf(edits(16, {}));
    const b = snapshotOf(edits(16, { 5: 2 }));
    const { name: nameA } = write(a, cacheDir, cache);
    const { name: nameB } = write(b, cacheDir, cache);
    const [textA, textB] = [nameA!, nameB!].map((n) => readFileSync(join(cacheDir, n), 'utf8'));
    const entryA = JSON.parse(textA!) as Entry;
    const entryB = JSON.parse(textB!) as Entry;
    expect(entryB.base).toBe(nameA);
    const damagedRecords = {
      ...entryA,
      blobs: Object.fromEntries(
        Object.entries(entryA.blobs).map(([k, v], i) => [k, i % 3 ? v : { ...v, stats: { terms: 'x' } }]),
      ),
    };
    const otherName = `${nameA!.slice(0, 13)}${'0'.repeat(32)}.json`;
    const cases: Array<[string, string, string]> = [
      ['base truncated', textA!.slice(0, 1000), textB!],
      ['base not JSON', 'null', textB!],
      ['base of another release', JSON.stringify({ ...entryA, pkg: '0.0.0-another-release' }), textB!],
      ['base of another version', JSON.stringify({ ...entryA, version: entryA.version - 1 }), textB!],
      ['base with damaged records', JSON.stringify(damagedRecords), textB!],
      ['base itself a delta', JSON.stringify({ ...entryA, base: otherName }), textB!],
      ['delta truncated', textA!, textB!.slice(0, 500)],
      ['delta naming a path out of the folder', textA!, JSON.stringify({ ...entryB, base: `../${nameA}` })],
      ['delta naming itself', textA!, JSON.stringify({ ...entryB, base: nameB })],
      [
        'delta naming another repository',
        textA!,
        JSON.stringify({ ...entryB, base: `ffffffffffff${nameA!.slice(12)}` }),
      ],
      ['delta naming a number', textA!, JSON.stringify({ ...entryB, base: 7 })],
    ];
    const expected = cold(b);
    for (const [what, base, delta] of cases) {
      writeFileSync(join(cacheDir, nameA!), base);
      writeFileSync(join(cacheDir, nameB!), delta);
      const loaded = fresh(b, cacheDir);
      expect([what, loaded.cached]).toEqual([what, false]);
      expectSameIndex(loaded.index, expected);
      // Rewritten in full, or as a delta against a base that is whole.
      const rewritten = read(cacheDir, nameB!);
      if (rewritten.base !== undefined) {
        expect([what, rewritten.base]).toEqual([what, nameA]);
        expect(readFileSync(join(cacheDir, nameA!), 'utf8')).toBe(textA);
      } else expect(Object.keys(rewritten.blobs)).toHaveLength(b.files.length);
      const again = fresh(b, cacheDir);
      expect([what, again.cached]).toEqual([what, true]);
      expectSameIndex(again.index, expected);
    }
  });

  it('are written only while the base holds all but a quarter of the blobs, and never replace their base', () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-delta-share-'));
    const cache = new BlobCache();
    const { name: nameA } = write(snapshotOf(edits(20, {})), cacheDir, cache);
    // 5 of 20 changed: a delta; 6 of 20: full, and the base of the next deltas.
    expect(
      read(cacheDir, write(snapshotOf(edits(20, { 0: 1, 1: 1, 2: 1, 3: 1, 4: 1 })), cacheDir, cache).name!).base,
    ).toBe(nameA);
    const { name: nameC } = write(snapshotOf(edits(20, { 0: 2, 1: 2, 2: 2, 3: 2, 4: 2, 5: 2 })), cacheDir, cache);
    expect(read(cacheDir, nameC!).base).toBeUndefined();
    expect(
      read(cacheDir, write(snapshotOf(edits(20, { 0: 2, 1: 2, 2: 2, 3: 2, 4: 2, 5: 2, 6: 3 })), cacheDir, cache).name!)
        .base,
    ).toBe(nameC);
    // 6 of C's 20 files gone (none changed): the base holds more than a quarter the commit does not.
    expect(
      read(cacheDir, write(snapshotOf([...edits(14, { 0: 2, 1: 2, 2: 2, 3: 2, 4: 2, 5: 2 })]), cacheDir, cache).name!)
        .base,
    ).toBeUndefined();
    // The base's own snapshot read with records missing: rewritten in full, never as a delta against itself.
    const a = snapshotOf(edits(20, {}));
    const damaged = read(cacheDir, nameA!);
    delete damaged.blobs[a.files[0]!.blob];
    writeFileSync(join(cacheDir, nameA!), JSON.stringify(damaged));
    expect(fresh(a, cacheDir).cached).toBe(false);
    expect(Object.keys(read(cacheDir, nameA!).blobs)).toHaveLength(20);
    expect(read(cacheDir, nameA!).base).toBeUndefined();
  });

  it('seed a new process at another commit with the base and the delta, and carry chunks the base lacked once counted', () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-delta-seed-'));
    const a = snapshotOf(edits(20, {}));
    const { name: nameA } = write(a, cacheDir, new BlobCache());
    // A's record of mod0 without its chunks, as when they were not at hand when it was written.
    const lacking = a.files[0]!.blob;
    const entryA = read(cacheDir, nameA!);
    delete entryA.blobs[lacking]!.chunks;
    writeFileSync(join(cacheDir, nameA!), JSON.stringify(entryA));
    forgetChunks();
    const cache = new BlobCache();
    // A new process at B seeds from A: mod0 is written without chunks (none at hand), so not in B's delta.
    const b = snapshotOf(edits(20, { 9: 1 }));
    const { name: nameB, cached } = write(b, cacheDir, cache);
    expect(cached).toBe(false);
    expect(read(cacheDir, nameB!).base).toBe(nameA);
    expect(Object.keys(read(cacheDir, nameB!).blobs)).toEqual([b.files[9]!.blob]);
    // Ranking counts mod0's chunks; the next commit's delta carries them.
    const atB = loadOrBuildIndex(b, { cacheDir, cache, threads: 1 }).index;
    SymbolIndex.build(atB.summaries, atB.texts, atB.blobs);
    const c = snapshotOf(edits(20, { 9: 1, 12: 1 }));
    const { name: nameC } = write(c, cacheDir, cache);
    const deltaC = read(cacheDir, nameC!);
    expect(deltaC.base).toBe(nameA);
    expect(Object.keys(deltaC.blobs).sort()).toEqual([lacking, c.files[9]!.blob, c.files[12]!.blob].sort());
    expect(deltaC.blobs[lacking]!.chunks).toEqual(storedChunks(lacking, cache.peek(lacking)!.stats.terms));
    // A new process at D starts from C's delta (the most recently used) with its base: only mod15 parsed.
    age(join(cacheDir, nameB!), 1000);
    const d = snapshotOf(edits(20, { 9: 1, 12: 1, 15: 1 }));
    forgetChunks();
    const seeded = new BlobCache();
    const atD = write(d, cacheDir, seeded);
    expect(seeded.size).toBe(20 + 2 + 1);
    expectSameIndex(atD.index, cold(d));
    // Against A still, mod0 with the chunks C's delta supplied.
    const deltaD = read(cacheDir, atD.name!);
    expect(deltaD.base).toBe(nameA);
    expect(Object.keys(deltaD.blobs).sort()).toEqual(
      [lacking, d.files[9]!.blob, d.files[12]!.blob, d.files[15]!.blob].sort(),
    );
    expect(deltaD.blobs[lacking]!.chunks).toEqual(deltaC.blobs[lacking]!.chunks);
  });

  it('refresh their base when read, keep it while kept, and go before it when evicted', () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-delta-evict-'));
    const cache = new BlobCache();
    const b = snapshotOf(edits(20, { 1: 1 }));
    const { name: nameA } = write(snapshotOf(edits(20, {})), cacheDir, cache);
    const { name: nameB } = write(b, cacheDir, cache);
    const { name: nameC } = write(snapshotOf(edits(20, { 2: 1 })), cacheDir, cache);
    const { name: nameX } = write(snapshotOf(edits(20, { 0: 5, 1: 5, 2: 5, 3: 5, 4: 5, 5: 5, 6: 5 })), cacheDir, cache);
    expect([nameB, nameC].map((n) => read(cacheDir, n!).base)).toEqual([nameA, nameA]);
    expect(read(cacheDir, nameX!).base).toBeUndefined();
    for (const [n, t] of [
      [nameA, 1000],
      [nameB, 2000],
      [nameC, 3000],
      [nameX, 4000],
    ] as const)
      age(join(cacheDir, n!), t);
    // An exact hit on B refreshes A, then B.
    expect(fresh(b, cacheDir).cached).toBe(true);
    const [mA, mB] = [nameA, nameB].map((n) => statSync(join(cacheDir, n!)).mtimeMs);
    expect(mA).toBeGreaterThan(4000 * 1000);
    expect(mB).toBeGreaterThanOrEqual(mA!);
    const sizes = new Map([nameA, nameB, nameC, nameX].map((n) => [n!, statSync(join(cacheDir, n!)).size]));
    const size = (n: string) => sizes.get(n)!;
    const total = [...sizes.values()].reduce((s, n) => s + n, 0);
    const evict = (bound: number, keep?: string) =>
      evictIndexes(cacheDir, bound, keep && join(cacheDir, keep)).map((p) => p.slice(cacheDir.length + 1));
    // C, the oldest, goes first; then X, though A's own mtime is older: A is used when B was.
    for (const [n, t] of [
      [nameA, 1000],
      [nameB, 5000],
      [nameC, 2000],
      [nameX, 3000],
    ] as const)
      age(join(cacheDir, n!), t);
    expect(evict(total - size(nameC!))).toEqual([nameC]);
    expect(evict(total - size(nameC!) - 1)).toEqual([nameX]);
    // Kept, B keeps its base; otherwise B goes before A, its base, used at the same time.
    expect(evict(size(nameA!) + size(nameB!) - 1, nameB)).toEqual([]);
    expect(evict(size(nameA!), nameB)).toEqual([]);
    expect(evict(size(nameA!) + size(nameB!) - 1)).toEqual([nameB]);
    expect(evict(size(nameA!) - 1)).toEqual([nameA]);
    expect(entries(cacheDir)).toEqual([]);
    // Used at the same time, a delta goes first even when its name sorts after its base's.
    const [base, delta] = [`${'a'.repeat(12)}-${'0'.repeat(32)}.json`, `${'a'.repeat(12)}-${'f'.repeat(32)}.json`];
    writeFileSync(join(cacheDir, base), JSON.stringify({ version: 1, pkg: packageVersion(), blobs: {} }));
    writeFileSync(join(cacheDir, delta), JSON.stringify({ version: 1, pkg: packageVersion(), base, blobs: {} }));
    for (const n of [base, delta]) age(join(cacheDir, n), 1000);
    expect(evict(statSync(join(cacheDir, base)).size)).toEqual([delta]);
  });
});
