import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bm25Fields, contentStats, docStats } from '../../localisation/bm25.js';
import { summarisePython } from '../../localisation/python-parse.js';
import { MODULE_SYMBOL } from '../../localisation/functions.js';
import type { FileSummary } from '../../localisation/python-parse.js';
import { buildRepoIndex } from '../../localisation/repo-index.js';
import type { RepoSnapshot } from '../../localisation/snapshot.js';
import { chunkCounts, fileChunks, setTokenLimit, SymbolIndex } from '../../localisation/symbol-index.js';
import {
  holdingWords,
  replaceTokenTable,
  scanLines,
  splitIdentifier,
  STOP_WORDS,
  TokenCounter,
  tokenCounts,
  tokenize,
} from '../../localisation/tokenize.js';

// The tokenizer as it was written with a regular expression (its stop words are the module's): the
// character scanner must give exactly its tokens, or every cached index, BM25 score and LSI vector would move.
const keep = (t: string) => t.length >= 2 && t.length <= 40 && !STOP_WORDS.has(t) && !/^\d+$/.test(t);
function referenceSplit(word: string): string[] {
  return word
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .map((p) => p.toLowerCase())
    .filter(Boolean);
}
function referenceTokenize(text: string): string[] {
  const out: string[] = [];
  for (const match of text.matchAll(/[A-Za-z_][A-Za-z0-9_]*(?:[.-][A-Za-z_][A-Za-z0-9_]*)*/g)) {
    for (const piece of match[0].split('.').filter(Boolean)) {
      const whole = piece.toLowerCase().replace(/[_-]/g, '');
      const parts = referenceSplit(piece);
      if (parts.length > 1 && keep(whole)) out.push(whole);
      for (const part of parts) if (keep(part)) out.push(part);
    }
  }
  return out;
}

function referenceCounts(tokens: string[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
  return [...counts];
}

const TRICKY = [
  '',
  'x',
  '9abc 1_2 _ __init__ a.b.c a..b a.-b -a- a-1b ab-cd- .x x. x.. x.9',
  'getHTTPResponseCode XMLHttpRequest2 parse_URL_v2 ABC ABCdef aBC a1B2c3',
  'ignore-paths --collect-only foo.bar-baz.qux sympy.core.basic.Basic.__new__',
  'é café naïve ünïcode_x x\u00e9y 日本語 emoji 😀abc 😀 a\u200bb',
  'tabs\tand\nnewlines\r\nx_y\u0000z',
  'very_long_identifier_that_goes_on_and_on_and_on_beyond_forty_characters_for_sure',
  '123 0x1F 1e10 3.14 a1 1a _1 ___',
  'the def return self.cls None True import py',
  `Traceback (most recent call last):\n  File "x/models.py", line 10, in prepare\nTypeError: unhashable type: 'dict'`,
];

function fuzz(seed: number, length: number): string {
  const alphabet = 'aZ_9.-  \n\tb.Y-_0(xQ)é.';
  let s = seed;
  let out = '';
  for (let i = 0; i < length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out += alphabet[s % alphabet.length];
  }
  return out;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('character scanner tokenizer', () => {
  const corpus = [
    ...TRICKY,
    ...Array.from({ length: 300 }, (_, i) => fuzz(i + 1, 5 + (i % 80))),
    ...sources('localisation').map((f) => readFileSync(f, 'utf8')),
  ];

  it('gives exactly the regular expression tokenizer tokens', () => {
    for (const text of corpus) expect(tokenize(text)).toEqual(referenceTokenize(text));
  });

  it('splits identifiers as the regular expressions did', () => {
    const shapes = [
      'aB',
      'AB',
      'ABc',
      'AbC',
      'ABCDeFGh',
      'a1B2c3',
      'HTTPAdapter',
      'getHTTPResponse',
      'XMLHttpRequest2',
      'x_Y-z',
      'A',
      '_',
      '9Z',
      'ZZz9zZZ',
    ];
    const words = [...shapes, ...corpus.flatMap((t) => t.split(/[^A-Za-z0-9_.-]+/))];
    // Every two- to four-letter word over the letters that decide a cut.
    const letters = ['a', 'B', '1', '_', '-'];
    for (const a of letters)
      for (const b of letters)
        for (const c of ['', ...letters]) for (const d of ['', ...letters]) words.push(a + b + c + d);
    for (const w of words) expect(splitIdentifier(w)).toEqual(referenceSplit(w));
  });

  it('counts tokens in first-occurrence order with their total', () => {
    for (const text of corpus) {
      const tokens = referenceTokenize(text);
      const { counts, total } = tokenCounts(text);
      expect([...counts]).toEqual(referenceCounts(tokens));
      expect(total).toBe(tokens.length);
    }
  });

  it('stays exact through the word table growing and being cleared (over 200,000 distinct words)', () => {
    const many = Array.from({ length: 5 }, (_, part) =>
      Array.from({ length: 45_000 }, (_, i) => `w${part}x${i}Name`).join(' '),
    );
    // The first four fill the table (growing it past 131,072 words), the fifth takes it past the
    // limit, the next call clears it; the reference splits every word anew, so only these are checked.
    for (const text of many.slice(0, 3)) tokenize(text);
    for (const text of [many[3]!, TRICKY[2]!, many[4]!, many[0]!]) {
      // Compared as strings: element-wise equality of 100,000-token arrays is what would be slow.
      const reference = referenceTokenize(text);
      expect(tokenize(text).join(' ')).toBe(reference.join(' '));
      expect(JSON.stringify([...tokenCounts(text).counts])).toBe(JSON.stringify(referenceCounts(reference)));
    }
  });

  it('gives the per-blob BM25 statistics docStats gives from the joined fields', () => {
    const text =
      'class HTTPAdapter:\n    """Sends requests."""\n    def send(self, request, proxies=None):\n   ' +
      '     """Send it."""\n        return self.poolmanager.urlopen(request.url, proxies)\n\ndef get_adapter(url):\n    return HTTPAdapter()\n';
    const summary = summarisePython('requests/adapters.py', text);
    for (const weights of [
      undefined,
      { path: 3, symbols: 2, docs: 1, body: 1 },
      { path: 0.3, symbols: 0.7, docs: -0.1, body: 1.1 },
    ]) {
      const fields = bm25Fields(summary, text);
      const { stats, body } = contentStats(summary, text, weights);
      expect(stats).toEqual(docStats({ ...fields, path: '' }, weights));
      expect(body.terms.map((t, k) => [t, body.counts[k]])).toEqual(referenceCounts(fields.body.split(' ')));
      expect(body.total).toBe(fields.body.split(' ').length);
    }
  });
});

describe('one scan for BM25F statistics and symbol chunks', () => {
  // The chunks as they were counted before: each chunk's parts joined by newlines and counted anew.
  function referenceChunks(summary: FileSummary, text: string): unknown[] {
    const lines = text.split('\n');
    const owner = new Int32Array(lines.length).fill(-1);
    summary.symbols.forEach((s, i) => owner.fill(i, Math.max(0, s.startLine - 1), Math.min(lines.length, s.endLine)));
    const own = summary.symbols.map((s) => [s.qualname, s.qualname, s.qualname, s.docstring ?? '']);
    const moduleLines = [summary.docstring ?? ''];
    for (let l = 0; l < lines.length; l++) (owner[l]! >= 0 ? own[owner[l]!]! : moduleLines).push(lines[l]!);
    const byQualname = new Map(summary.symbols.map((s, i) => [s.qualname, i]));
    for (const s of summary.symbols) {
      const parent = byQualname.get(s.qualname.slice(0, Math.max(0, s.qualname.lastIndexOf('.'))));
      if (parent !== undefined) own[parent]!.push(s.name);
    }
    const stats = (qualname: string, startLine: number, endLine: number, body: string) => {
      const tokens = referenceTokenize(body);
      return tokens.length === 0
        ? undefined
        : { qualname, startLine, endLine, length: tokens.length, tf: referenceCounts(tokens) };
    };
    const chunks = summary.symbols.map((s, i) => stats(s.qualname, s.startLine, s.endLine, own[i]!.join('\n')));
    chunks.push(stats(MODULE_SYMBOL, 1, lines.length, moduleLines.join('\n')));
    return chunks.filter((c) => c !== undefined);
  }

  const python = [
    '',
    'x = 1',
    '"""Module doc."""\nimport os\n\nclass HTTPAdapter(Base):\n    """Sends requests."""\n    ' +
      'retries = 3\n\n    def send(self, request, proxies=None):\n        """Send it."""\n        ' +
      'def inner(x):\n            return x.url\n        return self.poolmanager.urlopen(request.url, ' +
      'proxies)\n\n@decorator\ndef get_adapter(url):\n    return HTTPAdapter()\n\nTAIL_NAME = get_adapter\n',
    'def f(a,\n      b):\n    return a.\\\n    b\n\nclass C: pass\nclass D:\n    def g(self): return "a.\nb"\n',
    'def empty():\n    pass\n\r\ndef crlf_name():\r\n    return ignore-paths\r\n',
  ];

  it('counts each chunk as its parts joined by newlines, and the body as tokenCounts does', () => {
    const files = [
      ...python,
      ...Array.from(
        { length: 40 },
        (_, i) => `def f${i}():\n    """${fuzz(i + 7, 60)}"""\n    ${fuzz(i + 3, 120)}\n${fuzz(i + 11, 90)}\n`,
      ),
    ];
    for (const text of files) {
      const summary = summarisePython('pkg/mod.py', text);
      const [chunks, content] = holdingWords(() => {
        const scanned = scanLines(text);
        return [fileChunks(summary, scanned), contentStats(summary, text, undefined, scanned)] as const;
      });
      const counted = chunks.map(({ terms: _t, tfs: _f, ...c }, i) => ({ ...c, tf: chunkCounts(chunks[i]!) }));
      expect(JSON.stringify(counted)).toBe(JSON.stringify(referenceChunks(summary, text)));
      const alone = contentStats(summary, text);
      expect(content.stats).toEqual(alone.stats);
      expect(content.body).toEqual(alone.body);
      expect(content.body.terms.map((t, k) => [t, content.body.counts[k]])).toEqual([...tokenCounts(text).counts]);
      expect(content.body.total).toBe(alone.body.total);
    }
  });

  it('keeps word ids valid while held, clearing a full table only before', () => {
    expect(() => scanLines('x')).toThrow(/holdingWords/);
    const many = Array.from({ length: 5 }, (_, part) =>
      Array.from({ length: 45_000 }, (_, i) => `h${part}y${i}Word`).join('\n'),
    );
    const text = 'alpha_beta\ngammaDelta alpha_beta\n';
    holdingWords(() => {
      const scanned = scanLines(text);
      // Over 200,000 new words inside the hold: the table must not be cleared under `scanned`.
      for (const t of many) tokenCounts(t);
      const counter = new TokenCounter();
      counter.addLines(scanned, 0, scanned.lineStart.length - 1);
      expect([...counter.finish().counts]).toEqual(referenceCounts(referenceTokenize(text)));
    });
    // Outside it the next call may clear the table, and counts stay exact.
    expect([...tokenCounts(text).counts]).toEqual(referenceCounts(referenceTokenize(text)));
  });

  it('gives the symbol index a fresh build gives when chunks come from the entries', () => {
    // Blob ids no other test uses: the chunks must come from these entries, not an earlier build.
    const snapshot: RepoSnapshot = {
      key: 'dir:t',
      bytesRead: 0,
      skipped: [],
      files: python.map((text, i) => ({ path: `pkg/m${i}.py`, blob: `one-scan-test-${i}`, text })),
    };
    const index = buildRepoIndex(snapshot);
    const fromEntries = SymbolIndex.build(index.summaries, index.texts, index.blobs);
    const fresh = SymbolIndex.build(index.summaries, index.texts);
    for (const q of ['send request proxies url', 'adapter', 'crlf ignore paths', 'empty tail name', 'inner x'])
      expect(JSON.stringify(fromEntries.search(q, 10))).toBe(JSON.stringify(fresh.search(q, 10)));
    expect(fromEntries.size).toBe(fresh.size);
  });

  it('replaces a full token table between blobs and builds, and a built index keeps answering as before', () => {
    const previous = setTokenLimit(50);
    try {
      const files = (tag: string) => python.map((text, i) => ({ path: `pkg/m${i}.py`, blob: `${tag}-${i}`, text }));
      const first = buildRepoIndex({ key: 'dir:a', bytesRead: 0, skipped: [], files: files('limit-a') });
      const built = SymbolIndex.build(first.summaries, first.texts, first.blobs);
      const queries = ['send request proxies url', 'adapter', 'crlf ignore paths', 'empty tail name', 'inner x'];
      const before = queries.map((q) => JSON.stringify(built.search(q, 10)));
      // Other blobs with new words fill the table past its bound while entries are made (no build in between).
      const words = Array.from({ length: 200 }, (_, i) => `def limitword${i}(): pass`).join('\n');
      const second = buildRepoIndex({
        key: 'dir:b',
        bytesRead: 0,
        skipped: [],
        files: [...files('limit-b'), { path: 'pkg/extra.py', blob: 'limit-extra', text: words }],
      });
      expect(queries.map((q) => JSON.stringify(built.search(q, 10)))).toEqual(before);
      // A new build reads chunks counted in the current table only, and answers as a fresh build does.
      const again = SymbolIndex.build(second.summaries, second.texts, second.blobs);
      const fresh = SymbolIndex.build(second.summaries, second.texts);
      for (const q of [...queries, 'limitword7'])
        expect(JSON.stringify(again.search(q, 10))).toBe(JSON.stringify(fresh.search(q, 10)));
      expect(again.search('limitword7', 1).files[0]?.path).toBe('pkg/extra.py');
    } finally {
      setTokenLimit(previous);
    }
  });

  it('refuses a token counter outside a hold on the word table', () => {
    expect(() => new TokenCounter()).toThrow(/holdingWords/);
  });

  it('numbers tokens in one table that outlives the word table, and refuses to replace it under counts in flight', () => {
    const text = 'class HTTPAdapter:\n    def send(self, request):\n        return request.url\n';
    const summary = summarisePython('pkg/a.py', text);
    const first = holdingWords(() => fileChunks(summary, scanLines(text)));
    // Over 200,000 new words: the word table is cleared, the token ids stay.
    for (let part = 0; part < 5; part++)
      tokenCounts(Array.from({ length: 45_000 }, (_, i) => `t${part}z${i}Tok`).join(' '));
    const again = holdingWords(() => fileChunks(summary, scanLines(text)));
    expect(again.map((c) => [...c.terms])).toEqual(first.map((c) => [...c.terms]));
    expect(again.map(chunkCounts)).toEqual(first.map(chunkCounts));
    expect(() => holdingWords(() => replaceTokenTable())).toThrow(/holdingWords/);
  });
});
