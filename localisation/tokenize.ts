/**
 * A tokenizer for code and for issue text about code: identifiers are kept whole and also split
 * at camelCase, snake_case and dots, so `getResponseHeaders`, `get_response_headers` and
 * "response headers" meet; everything is lower-cased; stop words and noise are dropped.
 */

export const STOP_WORDS: ReadonlySet<string> = new Set(
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

const isUpper = (c: number) => c >= 65 && c <= 90;
const isLower = (c: number) => c >= 97 && c <= 122;
const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * Splits one identifier into its lower-cased parts (camelCase, snake_case, digits): parts are the
 * runs of ASCII letters and digits, cut before an upper-case letter that follows a lower-case
 * letter or a digit (`getHTTP` → get, http) and before the last capital of a capital run followed by
 * a lower-case letter (`HTTPAdapter` → http, adapter). Scanned by character codes: the regular
 * expressions it replaces (the tests keep them as the reference) cost more than all the rest of
 * tokenising a new word.
 */
export function splitIdentifier(word: string): string[] {
  const parts: string[] = [];
  let start = -1;
  const n = word.length;
  for (let i = 0; i < n; i++) {
    const c = word.charCodeAt(i);
    if (!(isLower(c) || isUpper(c) || isDigit(c))) {
      if (start >= 0) parts.push(word.slice(start, i).toLowerCase());
      start = -1;
      continue;
    }
    if (start < 0) {
      start = i;
      continue;
    }
    if (!isUpper(c)) continue;
    const p = word.charCodeAt(i - 1);
    if (isLower(p) || isDigit(p) || (isUpper(p) && i + 1 < n && isLower(word.charCodeAt(i + 1)))) {
      parts.push(word.slice(start, i).toLowerCase());
      start = i;
    }
  }
  if (start >= 0) parts.push(word.slice(start).toLowerCase());
  return parts;
}

function allDigits(token: string): boolean {
  for (let i = 0; i < token.length; i++) if (!isDigit(token.charCodeAt(i))) return false;
  return true;
}

function keep(token: string): boolean {
  return token.length >= 2 && token.length <= 40 && !STOP_WORDS.has(token) && !allDigits(token);
}

function wordTokens(word: string): string[] {
  const out: string[] = [];
  for (const piece of word.split('.')) {
    if (!piece) continue;
    const parts = splitIdentifier(piece);
    if (parts.length > 1) {
      const whole = piece.toLowerCase().replace(/[_-]/g, '');
      if (keep(whole)) out.push(whole);
    }
    for (const part of parts) if (keep(part)) out.push(part);
  }
  return out;
}

const isStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
const isPart = (c: number) => isStart(c) || (c >= 48 && c <= 57);

// Source code repeats the same identifiers thousands of times, so words are interned: each distinct
// word is sliced out of the text and split once per process, and found again by a hash computed
// while scanning (no string is made for a word seen before). Cleared wholesale when full (only
// between calls), which keeps it bounded without per-entry bookkeeping.
const WORD_LIMIT = 200_000;
let slots = new Int32Array(1 << 16); // word id + 1, 0 for empty (open addressing, linear probing)
let words: string[] = [];
let hashes = new Int32Array(1 << 15);
let tokensOfId: Array<string[] | undefined> = [];
/** Occurrences per word id in the text being counted; zeroed again before a call returns. */
let occurrences = new Int32Array(1 << 15);

// Tokens are numbered too, in one process-wide table, and each word holds its tokens' ids: counting
// adds into typed arrays indexed by token id instead of a Map keyed by token strings, and the
// symbol chunks keep those ids as they are. The table outlives the word table (chunk statistics
// cached by blob hold its ids); `replaceTokenTable` starts a new one when it is full.
/** Tokens by id and back. */
export interface TokenTable {
  ids: Map<string, number>;
  names: string[];
}
let table: TokenTable = { ids: new Map(), names: [] };
/**
 * Per word id, its tokens' ids in `table`: pool[wordStart[w], wordStart[w] + wordLength[w]), or
 * wordStart[w] = -1 when not looked up yet (all forgotten with the words and with the table). One
 * pool, not an array per word: 200,000 small typed arrays cost tens of megabytes and their making.
 */
let wordStart = new Int32Array(1 << 15).fill(-1);
let wordLength = new Int32Array(1 << 15);
let pool = new Int32Array(1 << 16);
let poolSize = 0;
/** Per token id: its count in the counts being finished, and its weight in a weighted sum (zero between calls). */
let tokenCount = new Int32Array(1 << 14);
let tokenWeight = new Float64Array(1 << 14);

function clearWords(): void {
  slots = new Int32Array(1 << 16);
  words = [];
  tokensOfId = [];
  forgetWordTokenIds();
}

function forgetWordTokenIds(): void {
  wordStart.fill(-1);
  poolSize = 0;
}

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function sameWord(word: string, text: string, start: number): boolean {
  for (let k = 0; k < word.length; k++) if (word.charCodeAt(k) !== text.charCodeAt(start + k)) return false;
  return true;
}

/** The id of `text[start, end)` (hash `h` of its characters), interning it when new. */
function intern(text: string, start: number, end: number, h: number): number {
  const mask = slots.length - 1;
  let slot = h & mask;
  for (;;) {
    const entry = slots[slot]!;
    if (entry === 0) break;
    const id = entry - 1;
    if (hashes[id] === h) {
      const word = words[id]!;
      if (word.length === end - start && sameWord(word, text, start)) return id;
    }
    slot = (slot + 1) & mask;
  }
  const id = words.length;
  // A copy, not a slice: V8 keeps a long slice's whole source text alive, so the table would hold
  // every file it saw a new word in.
  words.push(end - start > 12 ? (' ' + text.slice(start, end)).slice(1) : text.slice(start, end));
  if (id >= hashes.length) {
    const grown = new Int32Array(hashes.length * 2);
    grown.set(hashes);
    hashes = grown;
    const counts = new Int32Array(hashes.length);
    counts.set(occurrences);
    occurrences = counts;
  }
  hashes[id] = h;
  slots[slot] = id + 1;
  if (words.length * 2 > slots.length) {
    const table = new Int32Array(slots.length * 2);
    const tableMask = table.length - 1;
    for (let w = 0; w < words.length; w++) {
      let t = hashes[w]! & tableMask;
      while (table[t] !== 0) t = (t + 1) & tableMask;
      table[t] = w + 1;
    }
    slots = table;
  }
  return id;
}

function tokensOf(id: number): string[] {
  let tokens = tokensOfId[id];
  if (!tokens) tokensOfId[id] = tokens = wordTokens(words[id]!);
  return tokens;
}

/** The id of a token in the current table, adding it when new. */
export function tokenId(token: string): number {
  let id = table.ids.get(token);
  if (id === undefined) {
    id = table.names.length;
    table.ids.set(token, id);
    table.names.push(token);
    if (id >= tokenCount.length) {
      const counts = new Int32Array(tokenCount.length * 2);
      counts.set(tokenCount);
      tokenCount = counts;
      const weights = new Float64Array(tokenWeight.length * 2);
      weights.set(tokenWeight);
      tokenWeight = weights;
    }
  }
  return id;
}

/** The current token table (a built index keeps the one its ids are in). */
export function tokenTable(): TokenTable {
  return table;
}

/** A token's name in the current table. */
export function tokenName(id: number): string {
  return table.names[id]!;
}

/**
 * Starts a new, empty token table: ids counted before are read in the table they were counted in
 * (`tokenTable()` at the time). Never within `holdingWords`, whose counts may hold ids of the old one.
 */
export function replaceTokenTable(): void {
  if (held > 0)
    throw new Error('replaceTokenTable within holdingWords: counts in flight hold ids of the current table');
  table = { ids: new Map(), names: [] };
  forgetWordTokenIds();
}

/** Where word `id`'s token ids start in `pool` (their number is `wordLength[id]`), looked up on first use. */
function tokenIdsAt(id: number): number {
  if (id >= wordStart.length) {
    let size = wordStart.length;
    while (size <= id) size *= 2;
    const starts = new Int32Array(size).fill(-1);
    starts.set(wordStart);
    wordStart = starts;
    const lengths = new Int32Array(size);
    lengths.set(wordLength);
    wordLength = lengths;
  }
  let start = wordStart[id]!;
  if (start < 0) {
    const tokens = tokensOf(id);
    if (poolSize + tokens.length > pool.length) {
      const grown = new Int32Array(Math.max(pool.length * 2, poolSize + tokens.length));
      grown.set(pool.subarray(0, poolSize));
      pool = grown;
    }
    start = poolSize;
    for (const t of tokens) pool[poolSize++] = tokenId(t);
    wordStart[id] = start;
    wordLength[id] = tokens.length;
  }
  return start;
}

/**
 * Calls `visit` with the id of each word of `text` in order. A word is the regular expression
 * `[A-Za-z_][A-Za-z0-9_]*(?:[.-][A-Za-z_][A-Za-z0-9_]*)*` scanned by character codes: identifiers,
 * and further identifiers joined by `.` or `-` (hyphenated words count as one identifier too:
 * option and message names such as `ignore-paths` then meet the `ignore_paths` / `IgnorePaths`
 * spelling of the code).
 */
function scanWords(text: string, visit: (id: number) => void, newline?: () => void): void {
  if (words.length >= WORD_LIMIT && held === 0) clearWords();
  const len = text.length;
  for (let i = 0; i < len;) {
    let c = text.charCodeAt(i);
    if (!isStart(c)) {
      // A word never holds a newline, so lines are seen here only.
      if (c === 10 && newline) newline();
      i++;
      continue;
    }
    let h = c;
    let j = i + 1;
    for (;;) {
      while (j < len) {
        c = text.charCodeAt(j);
        if (!isPart(c)) break;
        h = (Math.imul(h, 31) + c) | 0;
        j++;
      }
      if (j + 1 < len && (c === 46 || c === 45)) {
        const d = text.charCodeAt(j + 1);
        if (isStart(d)) {
          h = (Math.imul(Math.imul(h, 31) + c, 31) + d) | 0;
          j += 2;
          continue;
        }
      }
      break;
    }
    visit(intern(text, i, j, mix(h)));
    i = j;
  }
}

/** Tokens of a text: each identifier whole (lower-cased) and its parts. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  scanWords(text, (id) => {
    for (const t of tokensOf(id)) out.push(t);
  });
  return out;
}

/** A text's distinct tokens with their counts, in first-occurrence order, and how many tokens it has in all. */
export interface TokenCounts {
  counts: Map<string, number>;
  total: number;
}

/**
 * What counting `tokenize(text)` gives (the same terms, counts, first-occurrence order and total),
 * with each distinct word split once: words are counted first, then each distinct word adds its
 * tokens times its count. A token first occurs in the earliest word holding it, so walking the
 * distinct words in first-occurrence order keeps the tokens' order.
 */
export function tokenCounts(text: string): TokenCounts {
  return countedTokens(countWords(text));
}

/** Counts a text's words into `occurrences`; returns the distinct ones in first-occurrence order (for `countedIds`, which zeroes them). */
function countWords(text: string): number[] {
  const order: number[] = [];
  scanWords(text, (id) => {
    if (occurrences[id] === 0) order.push(id);
    occurrences[id]!++;
  });
  return order;
}

/** Distinct tokens (ids in the current table) in first-occurrence order, their counts, and the number of tokens in all. */
export interface IdCounts {
  ids: number[];
  counts: number[];
  total: number;
}

/** The token counts of words counted into `occurrences` (distinct ids in first-occurrence order), which it zeroes again. */
function countedIds(order: readonly number[]): IdCounts {
  // Zeroed first, so a throw below cannot leave counts behind for the next counter.
  const seen = order.map((id) => {
    const n = occurrences[id]!;
    occurrences[id] = 0;
    return n;
  });
  const ids: number[] = [];
  let total = 0;
  try {
    for (let k = 0; k < order.length; k++) {
      const n = seen[k]!;
      const word = order[k]!;
      const start = tokenIdsAt(word);
      const end = start + wordLength[word]!;
      total += (end - start) * n;
      for (let j = start; j < end; j++) {
        const t = pool[j]!;
        if (tokenCount[t] === 0) ids.push(t);
        tokenCount[t]! += n;
      }
    }
    return { ids, counts: ids.map((t) => tokenCount[t]!), total };
  } finally {
    for (const t of ids) tokenCount[t] = 0;
  }
}

function countedTokens(order: readonly number[]): TokenCounts {
  const { ids, counts, total } = countedIds(order);
  return { counts: new Map(ids.map((t, k) => [table.names[t]!, counts[k]!])), total };
}

/** `tokenCounts` as token ids (in the current table). */
export function textIds(text: string): IdCounts {
  return countedIds(countWords(text));
}

/** A document's distinct terms and how often each occurs, in first-occurrence order. */
export interface TermCounts {
  terms: string[];
  counts: number[];
}

/** Id counts with the tokens named, and how many tokens there are in all. */
export function termCounts(counted: IdCounts): TermCounts & { total: number } {
  return { terms: counted.ids.map((t) => table.names[t]!), counts: counted.counts, total: counted.total };
}

/**
 * Sums several counts, each token adding its field's weight once per occurrence, fields in order
 * (so non-integer weights sum to the same floating-point value as adding them one by one), with
 * the tokens in first-occurrence order across the fields and the length Σ total · |weight|.
 */
export function weightedTerms(fields: ReadonlyArray<{ counted: IdCounts; weight: number }>): {
  terms: string[];
  freqs: number[];
  length: number;
} {
  const ids: number[] = [];
  let length = 0;
  try {
    for (const { counted, weight } of fields) {
      for (let k = 0; k < counted.ids.length; k++) {
        const t = counted.ids[k]!;
        if (tokenCount[t] === 0) {
          ids.push(t);
          tokenCount[t] = 1;
          tokenWeight[t] = 0;
        }
        let f = tokenWeight[t]!;
        for (let n = counted.counts[k]!; n > 0; n--) f += weight;
        tokenWeight[t] = f;
      }
      length += counted.total * Math.abs(weight);
    }
    return { terms: ids.map((t) => table.names[t]!), freqs: ids.map((t) => tokenWeight[t]!), length };
  } finally {
    for (const t of ids) tokenCount[t] = 0;
  }
}

// Word ids stay valid while this is above zero: the table is not cleared (it may overshoot its
// bound by what one call interns), so one scan of a file can serve several counts.
let held = 0;

/**
 * Runs `fn` with the word table held: ids from `scanLines` inside it stay valid until it returns.
 * A full table is cleared before, never during.
 */
export function holdingWords<T>(fn: () => T): T {
  if (held === 0 && words.length >= WORD_LIMIT) clearWords();
  held++;
  try {
    return fn();
  } finally {
    held--;
  }
}

/** A text's word ids in order and where each line's begin: line l holds ids[lineStart[l], lineStart[l + 1]). */
export interface ScannedText {
  ids: Int32Array;
  lineStart: Int32Array;
}

/**
 * Scans a text once for counts of the whole and of any set of its lines (a word never spans a
 * line, so a line's words are the words `tokenCounts` of that line alone would see). Only within
 * `holdingWords`, which keeps the ids valid.
 */
export function scanLines(text: string): ScannedText {
  if (held === 0) throw new Error('scanLines outside holdingWords: its word ids could be cleared before use');
  let ids = new Int32Array(1024);
  let n = 0;
  const lineStart: number[] = [0];
  scanWords(
    text,
    (id) => {
      if (n === ids.length) {
        const grown = new Int32Array(ids.length * 2);
        grown.set(ids);
        ids = grown;
      }
      ids[n++] = id;
    },
    () => lineStart.push(n),
  );
  lineStart.push(n);
  return { ids: ids.subarray(0, n), lineStart: Int32Array.from(lineStart) };
}

/**
 * Counts the tokens of a sequence of texts and scanned lines as `tokenCounts` counts them joined
 * by newlines (the same terms, counts, first-occurrence order and total). One counter at a time,
 * within `holdingWords`: all counters share the occurrence table until `finish`.
 */
export class TokenCounter {
  private readonly order: number[] = [];

  constructor() {
    // Outside a hold, the table could be cleared between two texts and the ids counted so far read as other words.
    if (held === 0) throw new Error('TokenCounter outside holdingWords: its word ids could be cleared before finish');
  }

  private see(id: number): void {
    if (occurrences[id] === 0) this.order.push(id);
    occurrences[id]!++;
  }

  addText(text: string): void {
    scanWords(text, (id) => this.see(id));
  }

  /** The words of lines [from, to) of a scanned text. */
  addLines(scanned: ScannedText, from: number, to: number): void {
    const end = scanned.lineStart[to]!;
    for (let k = scanned.lineStart[from]!; k < end; k++) this.see(scanned.ids[k]!);
  }

  finish(): TokenCounts {
    return countedTokens(this.order);
  }

  finishIds(): IdCounts {
    return countedIds(this.order);
  }
}

/** Tokens of a file path: directories and the file name without `.py`, split like identifiers. */
export function pathTokens(path: string): string[] {
  return tokenize(path.replace(/\.py$/, '').replace(/\//g, ' '));
}
