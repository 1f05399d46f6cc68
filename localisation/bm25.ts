import type { FileSummary } from './python-parse.js';
import {
  type IdCounts,
  pathTokens,
  type ScannedText,
  type TermCounts,
  termCounts,
  textIds,
  TokenCounter,
  tokenId,
  tokenize,
  type TokenTable,
  tokenTable,
  weightedTerms,
} from './tokenize.js';

/** Field weights of the BM25F index (path and symbol names say most about what a file is). */
export interface Bm25Weights {
  path: number;
  symbols: number;
  docs: number;
  body: number;
}

export const DEFAULT_BM25_WEIGHTS: Bm25Weights = { path: 3, symbols: 2, docs: 1, body: 1 };

// The parameters wink-bm25-text-search used here before (k1 1.2, b 0.75, idf smoothing k 1), kept
// so scores are the same BM25F up to wink's rounding of each term score to 6 decimals.
const K1 = 1.2;
const B = 0.75;
const IDF_K = 1;

/** The text of each field of a file, as tokens joined by spaces. */
export function bm25Fields(summary: FileSummary, text: string): Record<keyof Bm25Weights, string> {
  const symbols = summary.symbols.map((s) => s.qualname).join(' ');
  const docs = [summary.docstring ?? '', ...summary.symbols.map((s) => s.docstring ?? '')].join(' ');
  return {
    path: pathTokens(summary.path).join(' '),
    symbols: tokenize(symbols).join(' '),
    docs: tokenize(docs).join(' '),
    body: tokenize(text).join(' '),
  };
}

/**
 * One document's BM25F statistics: each term's field-weighted count and the weighted length.
 * Terms are in first-occurrence order (path, symbols, docs, body), which fixes the order ties
 * come out in.
 */
export interface Bm25DocStats {
  terms: string[];
  freqs: number[];
  length: number;
}

function splitField(text: string): string[] {
  return text ? text.split(' ').filter(Boolean) : [];
}

/** Weighted term counts of a document's fields (its path included). */
export function docStats(
  fields: Record<keyof Bm25Weights, string>,
  weights: Bm25Weights = DEFAULT_BM25_WEIGHTS,
): Bm25DocStats {
  const freq = new Map<string, number>();
  let length = 0;
  for (const field of ['path', 'symbols', 'docs', 'body'] as const) {
    const weight = weights[field];
    const tokens = splitField(fields[field]);
    for (const t of tokens) freq.set(t, (freq.get(t) ?? 0) + weight);
    length += tokens.length * Math.abs(weight);
  }
  return { terms: [...freq.keys()], freqs: [...freq.values()], length };
}

/**
 * `docStats` of a blob's fields without its path (what the per-blob cache holds), and the body's
 * token counts: the same terms, weighted counts, order and length, but each field is counted once
 * from its text instead of being joined into a string and split again. A weight is added once per
 * occurrence, as `docStats` adds it, so non-integer weights sum to the same floating-point value.
 */
export function contentStats(
  summary: Pick<FileSummary, 'symbols' | 'docstring'>,
  text: string,
  weights: Bm25Weights = DEFAULT_BM25_WEIGHTS,
  scanned?: ScannedText,
): { stats: Bm25DocStats; body: TermCounts & { total: number } } {
  const symbols = textIds(summary.symbols.map((s) => s.qualname).join(' '));
  const docs = textIds([summary.docstring ?? '', ...summary.symbols.map((s) => s.docstring ?? '')].join(' '));
  // The text's scan, when given, is shared with the symbol chunks (the same counts as scanning it here).
  const body = scanned ? allLines(scanned) : textIds(text);
  const stats = weightedTerms([
    { counted: symbols, weight: weights.symbols },
    { counted: docs, weight: weights.docs },
    { counted: body, weight: weights.body },
  ]);
  return { stats, body: termCounts(body) };
}

function allLines(scanned: ScannedText): IdCounts {
  const counter = new TokenCounter();
  counter.addLines(scanned, 0, scanned.lineStart.length - 1);
  return counter.finishIds();
}

/**
 * Adds the path field to statistics of the other fields: the path is where a blob sits, so the
 * content's statistics are cached by blob and the path is folded in per snapshot. Path terms come
 * first, as they would in `docStats`.
 */
export function withPath(
  content: Bm25DocStats,
  path: string,
  weights: Bm25Weights = DEFAULT_BM25_WEIGHTS,
): Bm25DocStats {
  const tokens = pathTokens(path);
  if (tokens.length === 0) return content;
  const freq = new Map<string, number>();
  for (const t of tokens) freq.set(t, (freq.get(t) ?? 0) + weights.path);
  content.terms.forEach((t, i) => freq.set(t, (freq.get(t) ?? 0) + content.freqs[i]!));
  return {
    terms: [...freq.keys()],
    freqs: [...freq.values()],
    length: content.length + tokens.length * Math.abs(weights.path),
  };
}

/**
 * A document's term ids in the current token table, kept with its statistics object: an unchanged
 * file keeps its statistics (placed at its path) from one commit to the next, so only new ones are
 * looked up. Looked up again once the table has been replaced.
 */
const termIdCache = new WeakMap<Bm25DocStats, { table: TokenTable; ids: Int32Array }>();

function termIdsOf(stats: Bm25DocStats): Int32Array {
  const table = tokenTable();
  let kept = termIdCache.get(stats);
  if (!kept || kept.table !== table) {
    kept = { table, ids: Int32Array.from(stats.terms, tokenId) };
    termIdCache.set(stats, kept);
  }
  return kept.ids;
}

interface SavedIndex {
  ids: string[];
  docs: Array<[string[], number[], number]>;
}

/**
 * A BM25F index over a repository's files. Statistics are kept per document, and the corpus-wide
 * ones (document frequency, average length) are summed from them when the index is assembled, so
 * an index built from cached per-file statistics equals one built from the texts: the next commit
 * of a repository tokenises only the files that changed. Term scores are computed at query time
 * from postings, so no per-(document, term) score table is built per snapshot.
 */
export class Bm25Index {
  private readonly ids: string[];
  /** The token table the postings' term ids are in (query tokens are looked up in it). */
  private readonly table: TokenTable;
  /**
   * Per term id t, its documents and weighted counts: postDocs/postFreqs[offsets[t], offsets[t + 1]),
   * in document order. Laid out by counting from each document's term ids, which are kept with its
   * statistics, so the next commit's index looks up only the changed files' terms.
   */
  private readonly offsets: Int32Array;
  private readonly postDocs: Int32Array;
  private readonly postFreqs: Float64Array;
  /** k1 · (1 − b + b · length / average length), per document. */
  private readonly norms: Float64Array;
  private readonly stats: Bm25DocStats[];

  private constructor(docs: ReadonlyArray<{ id: string; stats: Bm25DocStats }>) {
    this.ids = docs.map((d) => d.id);
    this.stats = docs.map((d) => d.stats);
    this.table = tokenTable();
    const termIds = docs.map(({ stats }) => termIdsOf(stats));
    let terms = 0;
    let total = 0;
    for (const ids of termIds) for (let k = 0; k < ids.length; k++) if (ids[k]! >= terms) terms = ids[k]! + 1;
    const offsets = new Int32Array(terms + 1);
    for (const ids of termIds) for (let k = 0; k < ids.length; k++) offsets[ids[k]! + 1]!++;
    for (let t = 0; t < terms; t++) offsets[t + 1]! += offsets[t]!;
    const next = offsets.slice(0, terms);
    this.postDocs = new Int32Array(offsets[terms]!);
    this.postFreqs = new Float64Array(offsets[terms]!);
    docs.forEach(({ stats }, i) => {
      total += stats.length;
      const ids = termIds[i]!;
      for (let k = 0; k < ids.length; k++) {
        const at = next[ids[k]!]!++;
        this.postDocs[at] = i;
        this.postFreqs[at] = stats.freqs[k]!;
      }
    });
    this.offsets = offsets;
    const average = docs.length ? total / docs.length : 0;
    this.norms = Float64Array.from(
      docs,
      ({ stats }) => K1 * (1 - B + (average > 0 ? (B * stats.length) / average : 0)),
    );
  }

  /** Indexes documents from their statistics, in the given order (the order ties keep). */
  static fromStats(docs: ReadonlyArray<{ id: string; stats: Bm25DocStats }>): Bm25Index {
    return new Bm25Index(docs);
  }

  /** Indexes the given documents (id → field texts). */
  static build(
    docs: ReadonlyMap<string, Record<keyof Bm25Weights, string>>,
    weights: Bm25Weights = DEFAULT_BM25_WEIGHTS,
  ): Bm25Index {
    return new Bm25Index([...docs].map(([id, fields]) => ({ id, stats: docStats(fields, weights) })));
  }

  /** Restores an index saved with `toJSON`. */
  static fromJSON(json: string): Bm25Index {
    const saved = JSON.parse(json) as SavedIndex;
    if (!Array.isArray(saved.ids) || !Array.isArray(saved.docs) || saved.ids.length !== saved.docs.length)
      throw new Error('not a saved BM25 index');
    return new Bm25Index(
      saved.ids.map((id, i) => ({
        id,
        stats: { terms: saved.docs[i]![0], freqs: saved.docs[i]![1], length: saved.docs[i]![2] },
      })),
    );
  }

  toJSON(): string {
    return JSON.stringify({
      ids: this.ids,
      docs: this.stats.map((s) => [s.terms, s.freqs, s.length]),
    } satisfies SavedIndex);
  }

  /** Files ranked for a query, best first (each query token counted once). */
  search(query: string, limit: number): Array<{ path: string; score: number }> {
    const tokens = [...new Set(tokenize(query))];
    const n = this.ids.length;
    if (tokens.length === 0 || n === 0) return [];
    const scores = new Float64Array(n);
    // Documents in the order a query token first reached them: equal scores keep this order.
    const touched: number[] = [];
    const seen = new Uint8Array(n);
    for (const token of tokens) {
      const t = this.table.ids.get(token);
      // A token first seen after this index was built is in none of its documents.
      if (t === undefined || t + 1 >= this.offsets.length) continue;
      const start = this.offsets[t]!;
      const end = this.offsets[t + 1]!;
      if (start === end) continue;
      const df = end - start;
      // Robertson-Sparck Jones idf with +k smoothing, so a term in most files still scores above 0.
      const idf = Math.log((n - df + 0.5) / (df + 0.5) + IDF_K);
      for (let i = start; i < end; i++) {
        const d = this.postDocs[i]!;
        const f = this.postFreqs[i]!;
        scores[d]! += Math.sign(f) * Math.abs((f * (K1 + 1)) / (this.norms[d]! + f)) * idf;
        if (!seen[d]) {
          seen[d] = 1;
          touched.push(d);
        }
      }
    }
    return touched
      .map((d) => ({ path: this.ids[d]!, score: scores[d]! }))
      .sort((a, b) => b.score - a.score)
      .slice(0, Math.max(1, limit));
  }
}
