import { type Bm25Weights, contentStats } from './bm25.js';
import { type FileSummary, summarisePython } from './python-parse.js';
import type { BlobEntry } from './repo-index.js';
import { type ChunkStats, fileChunks, makeTokenRoom } from './symbol-index.js';
import { holdingWords, scanLines, tokenName } from './tokenize.js';

/**
 * A blob's entry and symbol chunks made away from the process-wide token table: the chunks' token
 * ids number `tokens` (the blob's own table), and `internChunks` moves them into the shared one.
 */
export interface BlobCount {
  entry: BlobEntry;
  chunks: ChunkStats[];
  tokens: string[];
}

/**
 * Parses and counts a blob as `BlobCache.entry` does (`countEntry`, as it does), with the
 * chunks' tokens renumbered by the blob alone: the count can move to another thread, whose table
 * numbers tokens otherwise.
 */
export function countBlob(path: string, text: string, weights: Bm25Weights): BlobCount {
  makeTokenRoom();
  const { entry, chunks } = countEntry(path, text, weights);
  return { entry, chunks, tokens: ownNumbering(chunks) };
}

/** Renumbers chunks' token ids (the process-wide table's) in place, in the order the chunks first hold them; returns the tokens by new id. */
function ownNumbering(chunks: ChunkStats[]): string[] {
  const local = new Map<number, number>();
  const tokens: string[] = [];
  for (const c of chunks) {
    const terms = c.terms;
    for (let k = 0; k < terms.length; k++) {
      const id = terms[k]!;
      let own = local.get(id);
      if (own === undefined) {
        local.set(id, (own = tokens.length));
        tokens.push(tokenName(id));
      }
      terms[k] = own;
    }
  }
  return tokens;
}

/** A blob's own token table, starting from the chunks' tokens: further tokens get the next ids. */
class LocalTokens {
  private readonly ids = new Map<string, number>();

  constructor(readonly tokens: string[]) {
    tokens.forEach((t, i) => this.ids.set(t, i));
  }

  readonly idOf = (t: string): number => {
    let id = this.ids.get(t);
    if (id === undefined) {
      this.ids.set(t, (id = this.tokens.length));
      this.tokens.push(t);
    }
    return id;
  };
}

/**
 * A blob's entry and symbol chunks from one parse and one scan of its text (the scan serves the
 * BM25F statistics and the chunks). Chunk token ids are the process-wide table's (call
 * `makeTokenRoom` first, as for `fileChunks`).
 */
export function countEntry(
  path: string,
  text: string,
  weights: Bm25Weights,
): { entry: BlobEntry; chunks: ChunkStats[] } {
  const summary = summarisePython(path, text);
  const { content, chunks } = holdingWords(() => {
    const scanned = scanLines(text);
    return { content: contentStats(summary, text, weights, scanned), chunks: fileChunks(summary, scanned) };
  });
  const { stats, body } = content;
  const { path: _omit, ...rest } = summary;
  return { entry: { summary: rest, stats, body: { terms: body.terms, counts: body.counts } }, chunks };
}

/**
 * A blob's count as a worker sends it: every token once in `tokens`, and the statistics, body
 * counts and chunks as indexes into it in typed arrays (one string to clone per distinct token,
 * and buffers that are moved, not copied).
 */
export interface PackedCount {
  summary: Omit<FileSummary, 'path'>;
  tokens: string[];
  statTerms: Int32Array;
  statFreqs: Float64Array;
  length: number;
  bodyTerms: Int32Array;
  bodyCounts: Int32Array;
  /** Chunk c's terms and counts are [chunkEnds[c - 1], chunkEnds[c]) of `chunkTerms` and `chunkTfs`. */
  chunkTerms: Int32Array;
  chunkTfs: Int32Array;
  chunkEnds: Int32Array;
  chunkQualnames: string[];
  /** startLine, endLine and length of each chunk in turn. */
  chunkLines: Int32Array;
}

/** `countBlob` packed for another thread: its statistics' and body's terms join the chunks' tokens in the blob's table. */
export function countBlobPacked(path: string, text: string, weights: Bm25Weights): PackedCount {
  const { entry, chunks, tokens } = countBlob(path, text, weights);
  const local = new LocalTokens(tokens);
  const idOf = local.idOf;
  let size = 0;
  for (const c of chunks) size += c.terms.length;
  const chunkTerms = new Int32Array(size);
  const chunkTfs = new Int32Array(size);
  const chunkEnds = new Int32Array(chunks.length);
  const chunkLines = new Int32Array(chunks.length * 3);
  let at = 0;
  chunks.forEach((c, i) => {
    chunkTerms.set(c.terms, at);
    chunkTfs.set(c.tfs, at);
    chunkEnds[i] = at += c.terms.length;
    chunkLines[i * 3] = c.startLine;
    chunkLines[i * 3 + 1] = c.endLine;
    chunkLines[i * 3 + 2] = c.length;
  });
  return {
    summary: entry.summary,
    statTerms: Int32Array.from(entry.stats.terms, idOf),
    statFreqs: Float64Array.from(entry.stats.freqs),
    length: entry.stats.length,
    bodyTerms: Int32Array.from(entry.body.terms, idOf),
    bodyCounts: Int32Array.from(entry.body.counts),
    tokens,
    chunkTerms,
    chunkTfs,
    chunkEnds,
    chunkQualnames: chunks.map((c) => c.qualname),
    chunkLines,
  };
}

/** The buffers of a packed count, to move it to another thread without copying them. */
export function packedBuffers(packed: PackedCount): ArrayBuffer[] {
  const arrays = [
    packed.statTerms,
    packed.statFreqs,
    packed.bodyTerms,
    packed.bodyCounts,
    packed.chunkTerms,
    packed.chunkTfs,
    packed.chunkEnds,
    packed.chunkLines,
  ];
  return arrays.map((a) => a.buffer as ArrayBuffer);
}

/** The count a worker packed, as `countBlob` made it. */
export function unpackCount(packed: PackedCount): BlobCount {
  const { tokens } = packed;
  const entry: BlobEntry = {
    summary: packed.summary,
    stats: {
      terms: Array.from(packed.statTerms, (i) => tokens[i]!),
      freqs: Array.from(packed.statFreqs),
      length: packed.length,
    },
    body: { terms: Array.from(packed.bodyTerms, (i) => tokens[i]!), counts: Array.from(packed.bodyCounts) },
  };
  const chunks: ChunkStats[] = packed.chunkQualnames.map((qualname, i) => {
    const from = i === 0 ? 0 : packed.chunkEnds[i - 1]!;
    const to = packed.chunkEnds[i]!;
    const lines = packed.chunkLines;
    return {
      qualname,
      startLine: lines[i * 3]!,
      endLine: lines[i * 3 + 1]!,
      length: lines[i * 3 + 2]!,
      terms: packed.chunkTerms.subarray(from, to),
      tfs: packed.chunkTfs.subarray(from, to),
    };
  });
  return { entry, chunks, tokens };
}
