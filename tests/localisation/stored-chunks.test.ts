import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOrBuildIndex } from '../../localisation/index-cache.js';
import { BlobCache, buildRepoIndex } from '../../localisation/repo-index.js';
import { readDirSnapshot, type RepoSnapshot } from '../../localisation/snapshot.js';
import { makeTokenRoom, restoreChunks, setTokenLimit, type StoredChunks, storedChunks, SymbolIndex } from '../../localisation/symbol-index.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

afterAll(removeRepos);

const texts = [
  '"""Module doc."""\nimport os\n\nclass HTTPAdapter(Base):\n    """Sends requests."""\n    retries = 3\n\n    def send(self, request, proxies=None):\n        """Send it."""\n        def inner(x):\n            return x.url\n        return self.poolmanager.urlopen(request.url, proxies)\n\n@decorator\ndef get_adapter(url):\n    return HTTPAdapter()\n',
  'def f(a,\n      b):\n    return a.\\\n    b\n\nclass C: pass\nclass D:\n    def g(self): return "a.\nb"\n',
  'x = 1\n',
  '',
  // Lines past 65,535: the stored numbers are 32 bits wide.
  `${'\n'.repeat(70_000)}def far_away_function(value):\n    """Deep in a long file."""\n    return value.far_attribute\n`,
];
const QUERIES = ['send request proxies url', 'adapter', 'far away function attribute', 'inner x', 'module doc'];

/** Clears the process-wide chunk cache, as a new process starts (the table is replaced when full). */
function forgetChunks(): void {
  const previous = setTokenLimit(0);
  try {
    makeTokenRoom();
  } finally {
    setTokenLimit(previous);
  }
}

const snapshotOf = (tag: string): RepoSnapshot => ({ key: `dir:${tag}`, bytesRead: 0, skipped: [], files: texts.map((text, i) => ({ path: `pkg/m${i}.py`, blob: `${tag}-${i}`, text })) });

describe('stored symbol chunks', () => {
  it('read back in a new process give the symbol index counting gives, for 16- and 32-bit records', () => {
    const cache = new BlobCache();
    const snapshot = snapshotOf('stored-chunks');
    const index = buildRepoIndex(snapshot, { cache });
    const counted = SymbolIndex.build(index.summaries, index.texts, index.blobs);
    const before = QUERIES.map((q) => JSON.stringify(counted.search(q, 10)));
    const stored = snapshot.files.map((f) => JSON.parse(JSON.stringify(storedChunks(f.blob, cache.peek(f.blob)!.stats.terms) ?? null)) as StoredChunks | null);
    // Files without a token have no chunks (an empty record); the long file needs 32-bit numbers.
    expect(stored.map((s) => [s?.w, s?.q.length])).toEqual([[2, 5], [2, 0], [2, 0], [2, 0], [4, 1]]);

    forgetChunks();
    snapshot.files.forEach((f, i) => {
      expect(restoreChunks(f.blob, stored[i], cache.peek(f.blob)!.stats.terms)).toBe(true);
    });
    const restored = SymbolIndex.build(index.summaries, index.texts, index.blobs);
    expect(QUERIES.map((q) => JSON.stringify(restored.search(q, 10)))).toEqual(before);
    // Known chunks are not taken again (nor checked: they were counted here).
    expect(restoreChunks(snapshot.files[0]!.blob, stored[0], cache.peek(snapshot.files[0]!.blob)!.stats.terms)).toBe(false);
  });

  it('refuses damaged records, remembering nothing, so the blob is counted again', () => {
    const cache = new BlobCache();
    const snapshot = snapshotOf('damaged-chunks');
    buildRepoIndex(snapshot, { cache });
    const blob = snapshot.files[0]!.blob;
    const terms = cache.peek(blob)!.stats.terms;
    const good = storedChunks(blob, terms)!;
    const ints = new Uint16Array(Buffer.from(good.b, 'base64').buffer.slice(0));
    const encode = (xs: Uint16Array | Uint32Array) => Buffer.from(xs.buffer, xs.byteOffset, xs.byteLength).toString('base64');
    const withInt = (at: number, value: number) => {
      const copy = Uint16Array.from(ints);
      copy[at] = value;
      return encode(copy);
    };
    const chunks = good.q.length;
    const damaged: unknown[] = [
      null,
      'x',
      { ...good, q: [1, ...good.q.slice(1)] },
      { ...good, q: good.q.slice(1) },
      { ...good, w: 3 },
      { ...good, w: 4 },
      { ...good, b: 7 },
      { ...good, b: good.b.slice(0, -8) },
      { ...good, b: encode(Uint16Array.from([...ints, 5])) },
      { ...good, b: withInt(3, ints[3]! + 1) }, // a term count that does not add up
      { ...good, b: withInt(4 * chunks, terms.length) }, // a term past the blob's term list
      { ...good, b: encode(Uint32Array.from([...ints].map((x, i) => (i === 0 ? 0x80000000 : x)))), w: 4 }, // past int32
    ];
    for (const record of damaged) {
      forgetChunks();
      expect([JSON.stringify(record)?.slice(0, 60), restoreChunks(blob, record, terms)]).toEqual([JSON.stringify(record)?.slice(0, 60), false]);
      expect(storedChunks(blob, terms)).toBeUndefined();
    }
    forgetChunks();
    expect(restoreChunks(blob, good, terms)).toBe(true);
    expect(storedChunks(blob, terms)).toEqual(good);
  });

  it('are written into index entries and seed the next process, damaged ones counted again', () => {
    const repo = makeRepo(Object.fromEntries(texts.slice(0, 3).map((t, i) => [`pkg/m${i}.py`, t])));
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-stored-chunks-'));
    const snapshot = readDirSnapshot(repo);
    const first = loadOrBuildIndex(snapshot, { cacheDir, cache: new BlobCache() });
    const counted = SymbolIndex.build(first.index.summaries, first.index.texts, first.index.blobs);
    const expected = QUERIES.map((q) => JSON.stringify(counted.search(q, 10)));
    const [name] = readdirSync(cacheDir).filter((n) => n.endsWith('.json'));
    const file = join(cacheDir, name!);
    const entry = JSON.parse(readFileSync(file, 'utf8')) as { blobs: Record<string, { chunks?: StoredChunks; stats: { terms: string[] } }> };
    expect(Object.values(entry.blobs).every((b) => b.chunks !== undefined)).toBe(true);
    for (const damage of [undefined, (c: StoredChunks) => ({ ...c, b: 'AAAA' })]) {
      const data = JSON.parse(JSON.stringify(entry)) as typeof entry;
      if (damage) for (const b of Object.values(data.blobs)) b.chunks = damage(b.chunks!);
      writeFileSync(file, JSON.stringify(data));
      forgetChunks();
      const again = loadOrBuildIndex(snapshot, { cacheDir, cache: new BlobCache() });
      expect(again.cached).toBe(true);
      const symbols = SymbolIndex.build(again.index.summaries, again.index.texts, again.index.blobs);
      expect(QUERIES.map((q) => JSON.stringify(symbols.search(q, 10)))).toEqual(expected);
      // Read back or counted again, a blob's chunks store as they were written.
      for (const [blob, written] of Object.entries(entry.blobs)) expect(storedChunks(blob, written.stats.terms)).toEqual(written.chunks);
    }
  });
});
