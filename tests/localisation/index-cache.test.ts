import { existsSync, mkdtempSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { setSizeFigures, setSizesByRepoSize } from '../../benchmarks/localise-eval.js';
import { loadSettings } from '../../core/config.js';
import { Localiser } from '../../localisation/index.js';
import { evictIndexes, packageVersion, serialiseIndex, validEntry } from '../../localisation/index-cache.js';
import { BlobCache } from '../../localisation/repo-index.js';
import { z } from 'zod';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

afterAll(removeRepos);

/** Sets a file's mtime to `seconds` after the epoch (eviction orders by it). */
const age = (path: string, seconds: number) => utimesSync(path, seconds, seconds);
const entries = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
const repoOf = (n: number) => makeRepo({ [`mod${n}.py`]: `def function_${n}(value):\n    """Module ${n}: ${'word '.repeat(40)}"""\n    return value * ${n}\n` });

describe('evictIndexes', () => {
  it('deletes the least recently used entries until the folder is within the bound, never the one kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-evict-'));
    for (const [name, mtime] of [['a', 400], ['b', 100], ['c', 300], ['d', 200]] as const) {
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
    expect(left.reduce((sum, n) => sum + statSync(join(cacheDir, n)).size, 0)).toBeLessThanOrEqual(Math.floor(size * 2.5));
    // A bound below one entry keeps only the entry just written.
    const tiny = new Localiser({ cacheDir, cacheMaxBytes: 1 });
    await tiny.index({ kind: 'dir', path: r2 });
    expect(entries(cacheDir)).toEqual([second]);
  });

  it('reads FIXWRIGHT_INDEX_CACHE_MB (default 2048), refusing what is not a whole number of MiB', () => {
    expect(loadSettings({}).localisation.indexCacheMb).toBe(2048);
    expect(loadSettings({ FIXWRIGHT_INDEX_CACHE_MB: '64' }).localisation.indexCacheMb).toBe(64);
    for (const bad of ['0', '-1', '1.5', 'lots']) {
      expect(() => loadSettings({ FIXWRIGHT_INDEX_CACHE_MB: bad })).toThrow(/invalid settings: FIXWRIGHT_INDEX_CACHE_MB: /);
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
    const results = [row(50, 2, true), row(200, 4, true), row(201, 10, true), row(1000, 20, false), row(1001, 40, true), ...Array.from({ length: 5 }, () => row(5000, 60, true))];
    expect(setSizeFigures(results)).toEqual({ instances: 10, coverage: 0.9, mean_set_size: (2 + 4 + 10 + 20 + 40 + 300) / 10, set_size_p50: 40, set_size_p90: 60 });
    expect(setSizesByRepoSize(results)).toEqual([
      { bucket: '<=200', min: 0, max: 200, instances: 2, coverage: 1, mean_set_size: 3, set_size_p50: 2, set_size_p90: 4 },
      { bucket: '201-1000', min: 201, max: 1000, instances: 2, coverage: 0.5, mean_set_size: 15, set_size_p50: 10, set_size_p90: 20 },
      { bucket: '>1000', min: 1001, max: null, instances: 6, coverage: 1, mean_set_size: 340 / 6, set_size_p50: 60, set_size_p90: 60 },
    ]);
    expect(setSizeFigures([])).toEqual({ instances: 0, coverage: 0, mean_set_size: 0, set_size_p50: 0, set_size_p90: 0 });
  });
});

describe('validEntry', () => {
  // The schema entries were checked with before (zod over every field): the hand-written check
  // must accept and refuse exactly what it did.
  const line = z.number().int().nonnegative();
  const schema = z.object({
    summary: z.object({
      docstring: z.string().optional(),
      symbols: z.array(z.object({ kind: z.enum(['class', 'function', 'method']), name: z.string(), qualname: z.string(), startLine: line, endLine: line, docstring: z.string().optional() })),
      imports: z.array(z.object({ module: z.string(), level: line, names: z.array(z.string()) })),
      hasErrors: z.boolean(),
    }),
    stats: z.object({ terms: z.array(z.string()), freqs: z.array(z.number()), length: z.number().nonnegative() }).refine((s) => s.terms.length === s.freqs.length),
    body: z.object({ terms: z.array(z.string()), counts: z.array(line) }).refine((b) => b.terms.length === b.counts.length),
  });

  it('accepts and refuses what the schema did', () => {
    const cache = new BlobCache();
    const text = '"""Doc."""\nimport os\nfrom . import a, b\nclass C:\n    """C doc."""\n    def m(self):\n        return os.path\n';
    const good = JSON.parse(JSON.stringify(cache.entry('v1', 'p.py', text))) as Record<string, any>;
    const values: unknown[] = [undefined, null, 0, -1, 1.5, 2 ** 60, 'x', '', true, [], {}, [1], ['x'], { a: 1 }];
    const paths: string[][] = [['summary'], ['summary', 'docstring'], ['summary', 'symbols'], ['summary', 'symbols', '0'], ['summary', 'symbols', '0', 'kind'], ['summary', 'symbols', '0', 'name'], ['summary', 'symbols', '0', 'startLine'], ['summary', 'symbols', '0', 'endLine'], ['summary', 'symbols', '0', 'docstring'], ['summary', 'imports'], ['summary', 'imports', '0'], ['summary', 'imports', '0', 'module'], ['summary', 'imports', '0', 'level'], ['summary', 'imports', '1', 'names'], ['summary', 'imports', '1', 'names', '0'], ['summary', 'hasErrors'], ['stats'], ['stats', 'terms'], ['stats', 'terms', '0'], ['stats', 'freqs'], ['stats', 'freqs', '0'], ['stats', 'length'], ['body'], ['body', 'terms'], ['body', 'terms', '1'], ['body', 'counts'], ['body', 'counts', '1'], ['extra']];
    expect(validEntry(good)).toBe(true);
    let refused = 0;
    for (const path of paths)
      for (const value of values) {
        const e = JSON.parse(JSON.stringify(good)) as Record<string, any>;
        let at = e;
        for (const k of path.slice(0, -1)) at = at[k];
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
  it('writes what JSON.stringify of the whole entry wrote, byte for byte, with each blob\'s JSON made once', () => {
    const cache = new BlobCache();
    const texts = ['"""Doc."""\nimport os\nclass C:\n    def m(self):\n        return os.path\n', 'x = 1\n', 'def f(a, b):\n    """Say \\"hi\\" \u00e9 \\u2028."""\n    return a\n', ''];
    const entries = new Map(texts.map((t, i) => [`${i}abc${'0'.repeat(36)}`, cache.entry(`ser-${i}`, `p${i}.py`, t)]));
    const version = (JSON.parse(serialiseIndex(new Map())) as { version: number }).version;
    const whole = (m: Map<string, unknown>) => JSON.stringify({ version, pkg: packageVersion(), blobs: Object.fromEntries(m) });
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
