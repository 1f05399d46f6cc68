import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bm25Fields, contentStats, docStats } from '../../localisation/bm25.js';
import { summarisePython } from '../../localisation/python-parse.js';
import { splitIdentifier, tokenCounts, tokenize } from '../../localisation/tokenize.js';

// The tokenizer as it was written with a regular expression: the character scanner must give
// exactly its tokens, or every cached index, BM25 score and LSI vector would move.
const STOP = new Set(
  (
    'a an and are as at be but by for from has have i if in into is it its of on or that the their then there these this to was were ' +
    'will with not no can could should would we you they he she them our your my me do does did done so than too very just also ' +
    'when where which who what why how all any each few more most other some such only own same both again further once here ' +
    'about above after before below between during through under until up down out over off while been being having doing ' +
    'def class self cls return import none true false pass raise try except finally lambda yield elif else assert del global ' +
    'nonlocal async await print args kwargs py'
  ).split(' '),
);
const keep = (t: string) => t.length >= 2 && t.length <= 40 && !STOP.has(t) && !/^\d+$/.test(t);
function referenceTokenize(text: string): string[] {
  const out: string[] = [];
  for (const match of text.matchAll(/[A-Za-z_][A-Za-z0-9_]*(?:[.-][A-Za-z_][A-Za-z0-9_]*)*/g)) {
    for (const piece of match[0].split('.').filter(Boolean)) {
      const whole = piece.toLowerCase().replace(/[_-]/g, '');
      const parts = splitIdentifier(piece);
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
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('character scanner tokenizer', () => {
  const corpus = [...TRICKY, ...Array.from({ length: 300 }, (_, i) => fuzz(i + 1, 5 + (i % 80))), ...sources('localisation').map((f) => readFileSync(f, 'utf8'))];

  it('gives exactly the regular expression tokenizer tokens', () => {
    for (const text of corpus) expect(tokenize(text)).toEqual(referenceTokenize(text));
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
    const many = Array.from({ length: 5 }, (_, part) => Array.from({ length: 45_000 }, (_, i) => `w${part}x${i}Name`).join(' '));
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
    const text = 'class HTTPAdapter:\n    """Sends requests."""\n    def send(self, request, proxies=None):\n        """Send it."""\n        return self.poolmanager.urlopen(request.url, proxies)\n\ndef get_adapter(url):\n    return HTTPAdapter()\n';
    const summary = summarisePython('requests/adapters.py', text);
    for (const weights of [undefined, { path: 3, symbols: 2, docs: 1, body: 1 }, { path: 0.3, symbols: 0.7, docs: -0.1, body: 1.1 }]) {
      const fields = bm25Fields(summary, text);
      const { stats, body } = contentStats(summary, text, weights);
      expect(stats).toEqual(docStats({ ...fields, path: '' }, weights));
      expect([...body.counts]).toEqual(referenceCounts(fields.body.split(' ')));
    }
  });
});
