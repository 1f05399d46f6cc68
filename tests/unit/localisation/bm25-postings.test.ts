import { describe, expect, it } from 'vitest';
import { type Bm25DocStats, Bm25Index } from '../../../localisation/bm25.js';
import { replaceTokenTable, tokenize } from '../../../localisation/tokenize.js';

// BM25 as the index computed it with a Map of posting lists, written out plainly.
function reference(
  docs: ReadonlyArray<{ id: string; stats: Bm25DocStats }>,
  query: string,
): Array<{ path: string; score: number }> {
  const K1 = 1.2;
  const B = 0.75;
  const n = docs.length;
  const average = docs.reduce((sum, d) => sum + d.stats.length, 0) / n;
  const postings = new Map<string, Array<[number, number]>>();
  docs.forEach(({ stats }, i) =>
    stats.terms.forEach((t, j) => postings.set(t, [...(postings.get(t) ?? []), [i, stats.freqs[j]!]])),
  );
  const scores = new Map<number, number>();
  for (const t of new Set(tokenize(query))) {
    const p = postings.get(t);
    if (!p) continue;
    const idf = Math.log((n - p.length + 0.5) / (p.length + 0.5) + 1);
    for (const [d, f] of p) {
      const norm = K1 * (1 - B + (B * docs[d]!.stats.length) / average);
      scores.set(d, (scores.get(d) ?? 0) + Math.sign(f) * Math.abs((f * (K1 + 1)) / (norm + f)) * idf);
    }
  }
  return [...scores].map(([d, score]) => ({ path: docs[d]!.id, score })).sort((a, b) => b.score - a.score);
}

describe('BM25 postings laid out by term id', () => {
  const docs = [
    { id: 'a.py', stats: { terms: ['session', 'request', 'proxies'], freqs: [3, 1, 2], length: 6 } },
    { id: 'b.py', stats: { terms: ['adapter', 'request', 'negative'], freqs: [1, 4, -0.5], length: 5.5 } },
    // A damaged entry may repeat a term: each occurrence is its own posting, as before.
    { id: 'c.py', stats: { terms: ['proxies', 'proxies', 'url'], freqs: [1, 2, 1], length: 4 } },
    { id: 'd.py', stats: { terms: [], freqs: [], length: 0 } },
  ];
  const queries = ['session request', 'proxies url', 'negative adapter', 'unknownword', 'request request proxies', ''];

  it('scores every query as the posting lists did', () => {
    const index = Bm25Index.fromStats(docs);
    for (const q of queries) expect(index.search(q, 10)).toEqual(reference(docs, q).slice(0, q === '' ? 0 : 10));
  });

  it('answers the same when the token table is replaced between builds and after a build', () => {
    const before = Bm25Index.fromStats(docs);
    const answers = queries.map((q) => JSON.stringify(before.search(q, 10)));
    replaceTokenTable();
    // The built index keeps its own table; a new build looks the kept statistics up in the new one.
    expect(queries.map((q) => JSON.stringify(before.search(q, 10)))).toEqual(answers);
    const after = Bm25Index.fromStats(docs);
    expect(queries.map((q) => JSON.stringify(after.search(q, 10)))).toEqual(answers);
    expect(Bm25Index.fromJSON(after.toJSON()).search('proxies url', 10)).toEqual(after.search('proxies url', 10));
  });
});
