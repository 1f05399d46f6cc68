/**
 * A tokenizer for code and for issue text about code: identifiers are kept whole and also split
 * at camelCase, snake_case and dots, so `getResponseHeaders`, `get_response_headers` and
 * "response headers" meet; everything is lower-cased; stop words and noise are dropped.
 */

const STOP_WORDS = new Set(
  (
    'a an and are as at be but by for from has have i if in into is it its of on or that the their then there these this to was were ' +
    'will with not no can could should would we you they he she them our your my me do does did done so than too very just also ' +
    'when where which who what why how all any each few more most other some such only own same both again further once here ' +
    'about above after before below between during through under until up down out over off while been being having doing ' +
    // Python keywords and ubiquitous names carry no signal about which file an issue concerns.
    'def class self cls return import none true false pass raise try except finally lambda yield elif else assert del global ' +
    'nonlocal async await print args kwargs py'
  ).split(' '),
);

/** Splits one identifier into its lower-cased parts (camelCase, snake_case, digits). */
export function splitIdentifier(word: string): string[] {
  return word
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .map((p) => p.toLowerCase())
    .filter(Boolean);
}

function keep(token: string): boolean {
  return token.length >= 2 && token.length <= 40 && !STOP_WORDS.has(token) && !/^\d+$/.test(token);
}

function wordTokens(word: string): string[] {
  const out: string[] = [];
  for (const piece of word.split('.').filter(Boolean)) {
    const whole = piece.toLowerCase().replace(/[_-]/g, '');
    const parts = splitIdentifier(piece);
    if (parts.length > 1 && keep(whole)) out.push(whole);
    for (const part of parts) if (keep(part)) out.push(part);
  }
  return out;
}

// Source code repeats the same identifiers thousands of times; splitting each one once per process
// instead of once per occurrence made tokenising a 26 MiB repository several times faster. Cleared
// wholesale when full, which keeps it bounded without per-entry bookkeeping.
const WORD_CACHE_LIMIT = 200_000;
const wordCache = new Map<string, string[]>();

/** Tokens of a text: each identifier whole (lower-cased) and its parts. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  // Hyphenated words count as one identifier too: option and message names (`ignore-paths`,
  // `unused-import`) then meet the `ignore_paths` / `IgnorePaths` spelling of the code.
  for (const match of text.matchAll(/[A-Za-z_][A-Za-z0-9_]*(?:[.-][A-Za-z_][A-Za-z0-9_]*)*/g)) {
    const word = match[0];
    let tokens = wordCache.get(word);
    if (!tokens) {
      tokens = wordTokens(word);
      if (wordCache.size >= WORD_CACHE_LIMIT) wordCache.clear();
      wordCache.set(word, tokens);
    }
    for (const t of tokens) out.push(t);
  }
  return out;
}

/** Tokens of a file path: directories and the file name without `.py`, split like identifiers. */
export function pathTokens(path: string): string[] {
  return tokenize(path.replace(/\.py$/, '').replace(/\//g, ' '));
}
