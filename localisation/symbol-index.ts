import { endianness } from 'node:os';
import { MODULE_SYMBOL } from './functions.js';
import type { Ranking } from './fusion.js';
import type { FileSummary } from './python-parse.js';
import type { RepoIndex } from './repo-index.js';
import {
  holdingWords,
  replaceTokenTable,
  type ScannedText,
  scanLines,
  TokenCounter,
  tokenId,
  tokenize,
  tokenName,
  type TokenTable,
  tokenTable,
} from './tokenize.js';

/** One function, method or class (or a file's module level) as a retrieval document. */
export interface SymbolChunk {
  path: string;
  qualname: string;
  startLine: number;
  endLine: number;
}

/** A symbol that matched the issue, with its BM25 score. */
export interface SymbolMatch extends SymbolChunk {
  score: number;
}

/** The symbols signal's answer: files best first, and per file the symbols that earned its score. */
export interface SymbolRanking {
  files: Ranking;
  matches: Map<string, SymbolMatch[]>;
}

/** How chunks are scored and aggregated to files. */
export interface SymbolSearchOptions {
  /** A file scores its best chunk plus this share of each further matching chunk (up to `extraChunks`). */
  extraWeight: number;
  extraChunks: number;
  /** Matched symbols kept per file for the agent. */
  keep: number;
}

export const DEFAULT_SYMBOL_SEARCH: SymbolSearchOptions = { extraWeight: 0.25, extraChunks: 2, keep: 5 };

const K1 = 1.2;
const B = 0.75;
// A symbol's name says what it is about more than any line of its body.
const QUALNAME_REPEAT = 3;

/**
 * BM25 over a repository's symbols: each function, method and class is a document of its
 * qualname, docstring and the identifiers of its own lines (a nested definition's lines belong to
 * it, not to its parent; the parent keeps the nested names). Lines outside every definition form
 * the file's `<module>` document. A small issue about one method then meets that method instead of
 * being diluted by the rest of a large file.
 */
export class SymbolIndex {
  private readonly chunks: SymbolChunk[] = [];
  private readonly lengths: number[] = [];
  /** The token table the chunks' statistics were counted in (query tokens are looked up in it). */
  private table: TokenTable = tokenTable();
  /**
   * Per token id t, its chunks and how often: postIds/postTfs[offsets[t], offsets[t + 1]), in
   * chunk order. Laid out in one pass of counting and one of filling (a query walks thousands).
   */
  private offsets = new Int32Array(1);
  private postIds = new Int32Array(0);
  private postTfs = new Int32Array(0);
  private avgLength = 1;
  /** Scores by chunk id, reused by every query (search is synchronous) and zeroed where it wrote. */
  private scratch: Float64Array | undefined;

  /**
   * `blobs` (path → blob id) lets a file's chunk statistics come from the per-blob cache: at the
   * next commit only changed files are tokenised again, and the index equals a fresh build (the
   * statistics are a function of the content alone).
   */
  static build(
    summaries: readonly FileSummary[],
    texts: ReadonlyMap<string, string>,
    blobs?: ReadonlyMap<string, string>,
  ): SymbolIndex {
    makeTokenRoom();
    const index = new SymbolIndex();
    index.table = tokenTable();
    const stats: ChunkStats[] = [];
    for (const summary of summaries) {
      const text = texts.get(summary.path);
      if (text === undefined) continue;
      const blob = blobs?.get(summary.path);
      let chunks = blob === undefined ? undefined : chunkCache.get(blob);
      if (chunks && blob !== undefined) {
        // A hit moves to the back, so blobs every commit shares outlive one-off ones.
        chunkCache.delete(blob);
        chunkCache.set(blob, chunks);
      } else {
        chunks = holdingWords(() => fileChunks(summary, scanLines(text)));
        if (blob !== undefined) rememberChunks(blob, chunks);
      }
      for (const c of chunks) {
        index.chunks.push({ path: summary.path, qualname: c.qualname, startLine: c.startLine, endLine: c.endLine });
        index.lengths.push(c.length);
        stats.push(c);
      }
    }
    // Sized by this index's own tokens, not the process-wide table (a small repository would hold megabytes).
    let tokens = 0;
    for (const c of stats) for (let k = 0; k < c.terms.length; k++) if (c.terms[k]! >= tokens) tokens = c.terms[k]! + 1;
    const offsets = new Int32Array(tokens + 1);
    for (const c of stats) for (let k = 0; k < c.terms.length; k++) offsets[c.terms[k]! + 1]!++;
    for (let t = 0; t < tokens; t++) offsets[t + 1]! += offsets[t]!;
    const next = offsets.slice(0, tokens);
    const postIds = new Int32Array(offsets[tokens]!);
    const postTfs = new Int32Array(offsets[tokens]!);
    stats.forEach((c, id) => {
      for (let k = 0; k < c.terms.length; k++) {
        const at = next[c.terms[k]!]!++;
        postIds[at] = id;
        postTfs[at] = c.tfs[k]!;
      }
    });
    Object.assign(index, { offsets, postIds, postTfs });
    index.avgLength = index.lengths.reduce((a, b) => a + b, 0) / Math.max(1, index.lengths.length) || 1;
    return index;
  }

  get size(): number {
    return this.chunks.length;
  }

  /**
   * Files ranked by their best-matching symbols (a soft maximum), with those symbols. Chunks are
   * scored by BM25 for the query's distinct tokens into a reused array; match objects are made only
   * for the files returned (sympy's 26k chunks: a query touches thousands).
   */
  search(query: string, limit: number, options: SymbolSearchOptions = DEFAULT_SYMBOL_SEARCH): SymbolRanking {
    const n = this.chunks.length;
    if (!this.scratch || this.scratch.length < n) this.scratch = new Float64Array(n);
    const scores = this.scratch;
    const touched: number[] = [];
    for (const token of new Set(tokenize(query))) {
      const t = this.table.ids.get(token);
      // A token first counted after this index was built holds none of its chunks.
      if (t === undefined || t + 1 >= this.offsets.length) continue;
      const start = this.offsets[t]!;
      const df = this.offsets[t + 1]! - start;
      if (df === 0) continue;
      const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
      for (let i = start; i < start + df; i++) {
        const id = this.postIds[i]!;
        const tf = this.postTfs[i]!;
        const norm = tf + K1 * (1 - B + (B * this.lengths[id]!) / this.avgLength);
        if (scores[id] === 0) touched.push(id);
        scores[id]! += (idf * tf * (K1 + 1)) / norm;
      }
    }
    const byFile = new Map<string, number[]>();
    for (const id of touched) {
      const path = this.chunks[id]!.path;
      let ids = byFile.get(path);
      if (!ids) byFile.set(path, (ids = []));
      ids.push(id);
    }
    const files: Array<{ path: string; score: number; ids: number[] }> = [];
    for (const [path, ids] of byFile) {
      ids.sort((a, b) => scores[b]! - scores[a]! || this.chunks[a]!.startLine - this.chunks[b]!.startLine);
      const score =
        scores[ids[0]!]! +
        options.extraWeight * ids.slice(1, 1 + options.extraChunks).reduce((sum, id) => sum + scores[id]!, 0);
      files.push({ path, score, ids });
    }
    files.sort((a, b) => b.score - a.score || a.path.localeCompare(b.path));
    const top = files.slice(0, limit);
    const matches = new Map(
      top.map((f) => [f.path, f.ids.slice(0, options.keep).map((id) => ({ ...this.chunks[id]!, score: scores[id]! }))]),
    );
    for (const id of touched) scores[id] = 0;
    return { files: top.map(({ path, score }) => ({ path, score })), matches };
  }
}

/** One chunk's statistics, without its path (a blob can sit at any path). */
export interface ChunkStats {
  qualname: string;
  startLine: number;
  endLine: number;
  length: number;
  /** Token ids (in the process-wide token table, `tokenTable()` of tokenize.ts) in first-occurrence order, and their counts. */
  terms: Int32Array;
  tfs: Int32Array;
}

let tokenLimit = 1_000_000;

/** Sets how many tokens the process-wide table holds before it is replaced; returns the previous bound (tests). */
export function setTokenLimit(limit: number): number {
  const previous = tokenLimit;
  tokenLimit = limit;
  return previous;
}

/** A chunk's token counts as strings (for tests and reports; the ids are read in the current table). */
export function chunkCounts(chunk: ChunkStats): Array<[string, number]> {
  return [...chunk.terms].map((t, k) => [tokenName(t), chunk.tfs[k]!]);
}

/**
 * Replaces a full token table (and the chunks counted in it; built indexes keep theirs). Called
 * before any chunks are counted — at each build and before each new blob's chunks — and never
 * inside a build, so one index never mixes two tables' ids.
 */
export function makeTokenRoom(): void {
  if (tokenTable().names.length < tokenLimit) return;
  replaceTokenTable();
  chunkCache.clear();
}

/**
 * Chunks counted with a blob's own token numbering (`tokens[i]` is local id i), moved into the
 * process-wide table in place. Call `makeTokenRoom` first, as for `fileChunks`.
 */
export function internChunks(chunks: ChunkStats[], tokens: readonly string[]): ChunkStats[] {
  const ids = new Int32Array(tokens.length).fill(-1);
  for (const c of chunks) {
    const terms = c.terms;
    for (let k = 0; k < terms.length; k++) {
      const local = terms[k]!;
      let id = ids[local]!;
      if (id < 0) ids[local] = id = tokenId(tokens[local]!);
      terms[k] = id;
    }
  }
  return chunks;
}

/** Chunk statistics by blob id, shared by every index of the process (bounded, least recently used out). */
const chunkCache = new Map<string, ChunkStats[]>();
const CHUNK_CACHE_FILES = 50_000;

/**
 * Keeps a blob's chunk statistics computed while its entry was built (from the same scan as its
 * BM25 statistics), so the symbol index does not tokenise the blob again.
 */
export function rememberChunks(blob: string, chunks: ChunkStats[]): void {
  if (chunkCache.has(blob)) return;
  if (chunkCache.size >= CHUNK_CACHE_FILES) chunkCache.delete(chunkCache.keys().next().value!);
  chunkCache.set(blob, chunks);
}

/**
 * A blob's chunks as an on-disk index entry stores them: the qualnames (`q`), and in `b` (base64 of
 * little-endian unsigned integers, 16 bits wide when every number fits, else 32: `w` says which)
 * four numbers a chunk (start line, end line, length, term count), then every chunk's terms as
 * positions in the blob's BM25 term list, then their counts. Every token of a chunk is a token of
 * the file's symbols, docstrings or body, so the term list the entry holds anyway names them: no
 * string is stored twice, and a new process reads a blob's chunks instead of tokenising it again
 * (sympy: 1.2 s of counting). Binary, because JSON number arrays of a million terms took longer to
 * parse and check than the counting they save.
 */
export interface StoredChunks {
  q: string[];
  w: 2 | 4;
  b: string;
}

// Typed arrays are in the machine's byte order; the stored form is little-endian, so elsewhere chunks are only counted.
const LITTLE_ENDIAN = endianness() === 'LE';

/** Whether a blob's chunks are remembered (counted or read back) in this process. */
export function hasChunks(blob: string): boolean {
  return chunkCache.has(blob);
}

/** A blob's remembered chunks in their stored form; undefined when none are remembered (or a token is not among `terms`). */
export function storedChunks(blob: string, terms: readonly string[]): StoredChunks | undefined {
  const chunks = chunkCache.get(blob);
  if (!chunks || !LITTLE_ENDIAN) return undefined;
  // Remembered chunks always hold ids of the current table: replacing it clears them.
  const position = new Map<string, number>();
  terms.forEach((t, i) => position.set(t, i));
  let total = 0;
  for (const c of chunks) total += c.terms.length;
  const ints = new Uint32Array(4 * chunks.length + 2 * total);
  chunks.forEach((c, i) => ints.set([c.startLine, c.endLine, c.length, c.terms.length], 4 * i));
  let at = 4 * chunks.length;
  for (const c of chunks) {
    for (let k = 0; k < c.terms.length; k++) {
      const p = position.get(tokenName(c.terms[k]!));
      if (p === undefined) return undefined;
      ints[at + k] = p;
      ints[at + total + k] = c.tfs[k]!;
    }
    at += c.terms.length;
  }
  let max = 0;
  for (let i = 0; i < ints.length; i++) if (ints[i]! > max) max = ints[i]!;
  const packed = max < 0x10000 ? Uint16Array.from(ints) : ints;
  return {
    q: chunks.map((c) => c.qualname),
    w: packed.BYTES_PER_ELEMENT as 2 | 4,
    b: Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength).toString('base64'),
  };
}

/**
 * Remembers a blob's chunks read back from disk, after checking them whole, so a damaged record
 * costs the blob a recount, never a wrong symbol index: as many numbers as the chunks' term counts
 * say; every term a position in `terms`, at most once a chunk, counted at least once, the counts
 * adding up to the chunk's length; the chunks the summary's symbols in order (qualname, first and
 * last line; a symbol without a token has none) and then at most one `<module>` from line 1.
 * Positions become ids of the process-wide table. Returns whether they were checked and taken (not when
 * the blob's chunks were known already).
 */
export function restoreChunks(
  blob: string,
  stored: unknown,
  terms: readonly string[],
  summary: Pick<FileSummary, 'symbols'>,
): boolean {
  if (chunkCache.has(blob)) return false;
  if (!LITTLE_ENDIAN || typeof stored !== 'object' || stored === null) return false;
  const { q, w, b } = stored as Partial<StoredChunks>;
  if (!Array.isArray(q) || !q.every((x) => typeof x === 'string') || (w !== 2 && w !== 4) || typeof b !== 'string')
    return false;
  const bytes = Buffer.from(b, 'base64');
  if (bytes.length % w !== 0 || bytes.length < 4 * w * q.length) return false;
  // Copied into an array of its own: a decoded buffer may sit at any offset of a shared pool.
  const ints = w === 2 ? new Uint16Array(bytes.length / 2) : new Uint32Array(bytes.length / 4);
  new Uint8Array(ints.buffer).set(bytes);
  let total = 0;
  for (let c = 0; c < q.length; c++) total += ints[4 * c + 3]!;
  if (ints.length !== 4 * q.length + 2 * total) return false;
  // Lines, lengths and counts past int32 would wrap in a chunk's typed arrays: not written here.
  for (let i = 0; i < ints.length; i++) if (ints[i]! > 0x7fffffff) return false;
  let symbol = 0;
  for (let c = 0; c < q.length; c++) {
    const [start, end] = [ints[4 * c]!, ints[4 * c + 1]!];
    if (q[c] === MODULE_SYMBOL && c === q.length - 1) {
      if (start !== 1 || end < 1) return false;
      continue;
    }
    while (symbol < summary.symbols.length && summary.symbols[symbol]!.qualname !== q[c]) symbol++;
    const s = summary.symbols[symbol++];
    if (!s || s.startLine !== start || s.endLine !== end) return false;
  }
  const start = 4 * q.length;
  const seen = new Int32Array(terms.length).fill(-1);
  for (let c = 0, p = start; c < q.length; c++) {
    const count = ints[4 * c + 3]!;
    let sum = 0;
    for (let k = p; k < p + count; k++) {
      const at = ints[k]!;
      const tf = ints[k + total]!;
      if (at >= terms.length || seen[at] === c || tf < 1) return false;
      seen[at] = c;
      sum += tf;
    }
    if (sum !== ints[4 * c + 2]) return false;
    p += count;
  }
  makeTokenRoom();
  const ids = new Int32Array(terms.length).fill(-1);
  const chunks: ChunkStats[] = [];
  let p = start;
  for (let c = 0; c < q.length; c++) {
    const count = ints[4 * c + 3]!;
    const chunkTerms = new Int32Array(count);
    for (let k = 0; k < count; k++) {
      const at = ints[p + k]!;
      let id = ids[at]!;
      if (id < 0) ids[at] = id = tokenId(terms[at]!);
      chunkTerms[k] = id;
    }
    const tfs = Int32Array.from(ints.subarray(p + total, p + total + count));
    chunks.push({
      qualname: q[c]!,
      startLine: ints[4 * c]!,
      endLine: ints[4 * c + 1]!,
      length: ints[4 * c + 2]!,
      terms: chunkTerms,
      tfs,
    });
    p += count;
  }
  rememberChunks(blob, chunks);
  return true;
}

/**
 * A file's chunks: each symbol's own lines (the innermost definition owns each line; symbols come
 * parents first, so children overwrite), its qualname repeated, its docstring and its children's
 * names; the lines outside every definition as `<module>`. Chunks without a token are dropped.
 * Each chunk is counted as its parts joined by newlines would be (a word never spans a line), from
 * one scan of the file (`scanned`, made within `holdingWords`). Token ids are the process-wide
 * table's (a worker thread's own table in a worker: `countBlob` renumbers them for the move).
 */
export function fileChunks(summary: Pick<FileSummary, 'symbols' | 'docstring'>, scanned: ScannedText): ChunkStats[] {
  const lineCount = scanned.lineStart.length - 1;
  const owner = new Int32Array(lineCount).fill(-1);
  summary.symbols.forEach((s, i) => owner.fill(i, Math.max(0, s.startLine - 1), Math.min(lineCount, s.endLine)));
  // Runs of consecutive lines per owner (the module is owner -1, kept last), in line order.
  const runs: number[][] = summary.symbols.map(() => []);
  const moduleRuns: number[] = [];
  for (let l = 0; l < lineCount;) {
    const o = owner[l]!;
    let end = l + 1;
    while (end < lineCount && owner[end] === o) end++;
    (o >= 0 ? runs[o]! : moduleRuns).push(l, end);
    l = end;
  }
  const children: string[][] = summary.symbols.map(() => []);
  const byQualname = new Map(summary.symbols.map((s, i) => [s.qualname, i]));
  for (const s of summary.symbols) {
    const parent = byQualname.get(s.qualname.slice(0, Math.max(0, s.qualname.lastIndexOf('.'))));
    if (parent !== undefined) children[parent]!.push(s.name);
  }
  const stats = (
    qualname: string,
    startLine: number,
    endLine: number,
    counter: TokenCounter,
  ): ChunkStats | undefined => {
    const { ids, counts, total } = counter.finishIds();
    return total === 0
      ? undefined
      : { qualname, startLine, endLine, length: total, terms: Int32Array.from(ids), tfs: Int32Array.from(counts) };
  };
  const chunks = summary.symbols.map((s, i) => {
    const counter = new TokenCounter();
    for (let k = 0; k < QUALNAME_REPEAT; k++) counter.addText(s.qualname);
    counter.addText(s.docstring ?? '');
    const own = runs[i]!;
    for (let k = 0; k < own.length; k += 2) counter.addLines(scanned, own[k]!, own[k + 1]!);
    for (const name of children[i]!) counter.addText(name);
    return stats(s.qualname, s.startLine, s.endLine, counter);
  });
  const counter = new TokenCounter();
  counter.addText(summary.docstring ?? '');
  for (let k = 0; k < moduleRuns.length; k += 2) counter.addLines(scanned, moduleRuns[k]!, moduleRuns[k + 1]!);
  chunks.push(stats(MODULE_SYMBOL, 1, lineCount, counter));
  return chunks.filter((c): c is ChunkStats => c !== undefined);
}

const built = new WeakMap<RepoIndex, SymbolIndex>();

/** The symbol index of a repository index, built on first use and kept as long as the index lives. */
export function symbolIndexOf(index: RepoIndex): SymbolIndex {
  let symbols = built.get(index);
  if (!symbols) built.set(index, (symbols = SymbolIndex.build(index.summaries, index.texts, index.blobs)));
  return symbols;
}
