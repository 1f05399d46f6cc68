import { type Bm25Weights, contentStats } from './bm25.js';
import { type FileSummary, summarisePython } from './python-parse.js';
import type { BlobEntry } from './repo-index.js';
import { type ChunkStats, fileChunks, internChunks } from './symbol-index.js';
import { holdingWords, scanLines } from './tokenize.js';

/**
 * What one blob's entry and symbol chunks are, as plain data a worker thread can send back: every
 * token once in `tokens`, and the statistics, body counts and chunks as indexes into it in typed
 * arrays (one structured-clone string per distinct token, and buffers that are moved, not copied).
 */
export interface CountedBlob {
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

/**
 * Parses and counts a blob as `BlobCache.entry` does (the same calls in the same order), with its
 * tokens numbered by the blob alone: safe in any thread, since nothing process-wide is written.
 */
export function countBlob(path: string, text: string, weights: Bm25Weights): CountedBlob {
  const summary = summarisePython(path, text);
  const local = new Map<string, number>();
  const tokens: string[] = [];
  const idOf = (t: string): number => {
    let id = local.get(t);
    if (id === undefined) {
      local.set(t, (id = tokens.length));
      tokens.push(t);
    }
    return id;
  };
  const { content, chunks } = holdingWords(() => {
    const scanned = scanLines(text);
    return { content: contentStats(summary, text, weights, scanned), chunks: fileChunks(summary, scanned, idOf) };
  });
  const { stats, body } = content;
  const statTerms = Int32Array.from(stats.terms, idOf);
  const bodyTerms = new Int32Array(body.counts.size);
  const bodyCounts = new Int32Array(body.counts.size);
  let k = 0;
  for (const [t, n] of body.counts) {
    bodyTerms[k] = idOf(t);
    bodyCounts[k++] = n;
  }
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
    chunkLines.set([c.startLine, c.endLine, c.length], i * 3);
  });
  const { path: _omit, ...rest } = summary;
  return {
    summary: rest,
    tokens,
    statTerms,
    statFreqs: Float64Array.from(stats.freqs),
    length: stats.length,
    bodyTerms,
    bodyCounts,
    chunkTerms,
    chunkTfs,
    chunkEnds,
    chunkQualnames: chunks.map((c) => c.qualname),
    chunkLines,
  };
}

/** The buffers of a counted blob, to move it to another thread without copying them. */
export function countedBuffers(counted: CountedBlob): ArrayBuffer[] {
  const arrays = [counted.statTerms, counted.statFreqs, counted.bodyTerms, counted.bodyCounts, counted.chunkTerms, counted.chunkTfs, counted.chunkEnds, counted.chunkLines];
  return arrays.map((a) => a.buffer as ArrayBuffer);
}

/**
 * A blob's entry and chunks from its counts, the chunks' tokens added to the process-wide table
 * (call `makeTokenRoom` first). Equal to what `BlobCache.entry` computes from the text.
 */
export function entryOfCounted(counted: CountedBlob): { entry: BlobEntry; chunks: ChunkStats[] } {
  const { tokens } = counted;
  const entry: BlobEntry = {
    summary: counted.summary,
    stats: { terms: Array.from(counted.statTerms, (i) => tokens[i]!), freqs: Array.from(counted.statFreqs), length: counted.length },
    body: { terms: Array.from(counted.bodyTerms, (i) => tokens[i]!), counts: Array.from(counted.bodyCounts) },
  };
  const chunks: ChunkStats[] = counted.chunkQualnames.map((qualname, i) => {
    const from = i === 0 ? 0 : counted.chunkEnds[i - 1]!;
    const to = counted.chunkEnds[i]!;
    const [startLine, endLine, length] = counted.chunkLines.subarray(i * 3, i * 3 + 3);
    return { qualname, startLine: startLine!, endLine: endLine!, length: length!, terms: counted.chunkTerms.subarray(from, to), tfs: counted.chunkTfs.subarray(from, to) };
  });
  return { entry, chunks: internChunks(chunks, tokens) };
}
