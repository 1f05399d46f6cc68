import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOrBuildIndex } from '../../localisation/index-cache.js';
import { BlobCache, buildRepoIndex } from '../../localisation/repo-index.js';
import { readDirSnapshot, type RepoSnapshot } from '../../localisation/snapshot.js';
import { restoreChunks, type StoredChunks, storedChunks, SymbolIndex } from '../../localisation/symbol-index.js';
import { forgetChunks } from '../helpers/chunks.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

afterAll(removeRepos);

const texts = [
  '"""Module doc."""\nimport os\n\nclass HTTPAdapter(Base):\n    """Sends requests."""\n    retries ' +
    '= 3\n\n    def send(self, request, proxies=None):\n        """Send it."""\n        def ' +
    'inner(x):\n            return x.url\n        return self.poolmanager.urlopen(request.url, ' +
    'proxies)\n\n@decorator\ndef get_adapter(url):\n    return HTTPAdapter()\n',
  'def f(a,\n      b):\n    return a.\\\n    b\n\nclass C: pass\nclass D:\n    def g(self): return "a.\nb"\n',
  'x = 1\n',
  '',
  // Lines past 65,535: the stored numbers are 32 bits wide.
  `${'\n'.repeat(70_000)}def far_away_function(value):\n    """Deep in a long file."""\n    return value.far_attribute\n`,
];
const QUERIES = ['send request proxies url', 'adapter', 'far away function attribute', 'inner x', 'module doc'];

const snapshotOf = (tag: string): RepoSnapshot => ({
  key: `dir:${tag}`,
  bytesRead: 0,
  skipped: [],
  files: texts.map((text, i) => ({ path: `pkg/m${i}.py`, blob: `${tag}-${i}`, text })),
});

describe('stored symbol chunks', () => {
  it('read back in a new process give the symbol index counting gives, for 16- and 32-bit records', () => {
    const cache = new BlobCache();
    const snapshot = snapshotOf('stored-chunks');
    const index = buildRepoIndex(snapshot, { cache });
    const counted = SymbolIndex.build(index.summaries, index.texts, index.blobs);
    const before = QUERIES.map((q) => JSON.stringify(counted.search(q, 10)));
    const stored = snapshot.files.map(
      (f) =>
        JSON.parse(
          JSON.stringify(storedChunks(f.blob, cache.peek(f.blob)!.stats.terms) ?? null),
        ) as StoredChunks | null,
    );
    // Files without a token have no chunks (an empty record); the long file needs 32-bit numbers.
    expect(stored.map((s) => [s?.w, s?.q.length])).toEqual([
      [2, 5],
      [2, 0],
      [2, 0],
      [2, 0],
      [4, 1],
    ]);

    forgetChunks();
    snapshot.files.forEach((f, i) => {
      expect(restoreChunks(f.blob, stored[i], cache.peek(f.blob)!.stats.terms, cache.peek(f.blob)!.summary)).toBe(true);
    });
    const restored = SymbolIndex.build(index.summaries, index.texts, index.blobs);
    expect(QUERIES.map((q) => JSON.stringify(restored.search(q, 10)))).toEqual(before);
    // Known chunks are not taken again (nor checked: they were counted here).
    expect(
      restoreChunks(
        snapshot.files[0]!.blob,
        stored[0],
        cache.peek(snapshot.files[0]!.blob)!.stats.terms,
        cache.peek(snapshot.files[0]!.blob)!.summary,
      ),
    ).toBe(false);
  });

  it('refuses damaged records, remembering nothing, so the blob is counted again', () => {
    const cache = new BlobCache();
    const snapshot = snapshotOf('damaged-chunks');
    buildRepoIndex(snapshot, { cache });
    const blob = snapshot.files[0]!.blob;
    const { stats, summary } = cache.peek(blob)!;
    const terms = stats.terms;
    const good = storedChunks(blob, terms)!;
    const raw = Buffer.from(good.b, 'base64');
    const ints = new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
    const encode = (xs: Uint16Array | Uint32Array) =>
      Buffer.from(xs.buffer, xs.byteOffset, xs.byteLength).toString('base64');
    const chunks = good.q.length;
    let total = 0;
    for (let c = 0; c < chunks; c++) total += ints[4 * c + 3]!;
    expect(ints.length).toBe(4 * chunks + 2 * total);
    /** The good record with some numbers changed: the same length, so only the check named refuses it. */
    const withInts = (changes: Record<number, number>) => {
      const copy = Uint16Array.from(ints);
      for (const [at, value] of Object.entries(changes)) copy[Number(at)] = value;
      return { ...good, b: encode(copy) };
    };
    const firstTerm = 4 * chunks;
    const firstCount = firstTerm + total;
    // Two chunks' term counts traded keeps the total: each chunk's counts then miss its length.
    const [n0, n1] = [ints[3]!, ints[7]!];
    const damaged: Array<[string, unknown]> = [
      ['null', null],
      ['a string', 'x'],
      ['a qualname not a string', { ...good, q: [1, ...good.q.slice(1)] }],
      ['a chunk too few', { ...good, q: good.q.slice(1) }],
      ['an unknown width', { ...good, w: 3 }],
      ['the wrong width', { ...good, w: 4 }],
      ['no block', { ...good, b: 7 }],
      ['a block cut short', { ...good, b: good.b.slice(0, -8) }],
      ['a number too many', { ...good, b: encode(Uint16Array.from([...ints, 5])) }],
      ['a term count that does not add up', withInts({ 3: ints[3]! + 1 })],
      ['a term past the term list', withInts({ [firstTerm]: terms.length })],
      ['a term twice in a chunk', withInts({ [firstTerm + 1]: ints[firstTerm]! })],
      ['a count of 0', withInts({ [firstCount]: 0 })],
      ['counts that miss the length', withInts({ 2: ints[2]! + 1 })],
      ['term counts traded between chunks', n0 === n1 ? withInts({ 2: ints[2]! + 1 }) : withInts({ 3: n1, 7: n0 })],
      ["a line that is not the symbol's", withInts({ 0: ints[0]! + 1 })],
      ['qualnames out of order', { ...good, q: [good.q[1], good.q[0], ...good.q.slice(2)] }],
      ['a qualname the file does not define', { ...good, q: ['Nowhere', ...good.q.slice(1)] }],
      // A count past int32 with a length to match: it would wrap to a negative count in the chunk's array.
      [
        'a number past int32',
        {
          ...good,
          w: 4,
          b: encode(
            Uint32Array.from(
              [...ints].map((x, i) =>
                i === firstCount ? 0x80000000 : i === 2 ? x - ints[firstCount]! + 0x80000000 : x,
              ),
            ),
          ),
        },
      ],
    ];
    for (const [why, record] of damaged) {
      forgetChunks();
      expect([why, restoreChunks(blob, record, terms, summary)]).toEqual([why, false]);
      expect(storedChunks(blob, terms)).toBeUndefined();
    }
    forgetChunks();
    expect(restoreChunks(blob, good, terms, summary)).toBe(true);
    expect(storedChunks(blob, terms)).toEqual(good);
    // The 32-bit form of the same numbers is read as they are.
    forgetChunks();
    expect(restoreChunks(blob, { ...good, w: 4, b: encode(Uint32Array.from(ints)) }, terms, summary)).toBe(true);
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
    const entry = JSON.parse(readFileSync(file, 'utf8')) as {
      blobs: Record<string, { chunks?: StoredChunks; stats: { terms: string[] } }>;
    };
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
      for (const [blob, written] of Object.entries(entry.blobs))
        expect(storedChunks(blob, written.stats.terms)).toEqual(written.chunks);
    }
  });

  it('are written at the next commit once counted again, when the entry read had none for a blob', () => {
    const repo = makeRepo({ 'pkg/m0.py': texts[0]!, 'pkg/extra.py': 'def extra_one():\n    return 1\n' });
    const cacheDir = mkdtempSync(join(tmpdir(), 'fw-heal-chunks-'));
    const jsonFiles = () => new Set(readdirSync(cacheDir).filter((n) => n.endsWith('.json')));
    const read = (name: string) =>
      JSON.parse(readFileSync(join(cacheDir, name), 'utf8')) as { blobs: Record<string, { chunks?: StoredChunks }> };
    const a = loadOrBuildIndex(readDirSnapshot(repo), { cacheDir, cache: new BlobCache() });
    const blob = a.index.blobs.get('pkg/m0.py')!;
    const [entryA] = [...jsonFiles()];
    const damaged = read(entryA!);
    delete damaged.blobs[blob]!.chunks;
    writeFileSync(join(cacheDir, entryA!), JSON.stringify(damaged));
    // A new process at the next commit: seeded from A's entry, m0 without chunks, written so.
    forgetChunks();
    const cache = new BlobCache();
    writeFileSync(join(repo, 'pkg/extra.py'), 'def extra_two():\n    return 2\n');
    const before = jsonFiles();
    const b = loadOrBuildIndex(readDirSnapshot(repo), { cacheDir, cache });
    const entryB = [...jsonFiles()].find((n) => !before.has(n))!;
    expect(read(entryB).blobs[blob]!.chunks).toBeUndefined();
    // Ranking counts m0's chunks again; the commit after writes them.
    SymbolIndex.build(b.index.summaries, b.index.texts, b.index.blobs);
    writeFileSync(join(repo, 'pkg/extra.py'), 'def extra_three():\n    return 3\n');
    const beforeC = jsonFiles();
    loadOrBuildIndex(readDirSnapshot(repo), { cacheDir, cache });
    const entryC = [...jsonFiles()].find((n) => !beforeC.has(n))!;
    const healed = read(entryC).blobs[blob]!.chunks;
    expect(healed).toBeDefined();
    expect(healed).toEqual(storedChunks(blob, cache.peek(blob)!.stats.terms));
  });
});
