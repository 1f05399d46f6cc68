import { type Bm25DocStats, type Bm25Weights, Bm25Index, DEFAULT_BM25_WEIGHTS, withPath } from './bm25.js';
import { isDocsFile, isTestFile } from './file-filter.js';
import { ImportGraphBuilder } from './import-graph.js';
import { symbolDefinitions } from './issue-evidence.js';
import { pathTokens, type TermCounts } from './tokenize.js';
import { internChunks, makeTokenRoom, rememberChunks } from './symbol-index.js';
import { type BlobCount, countEntry } from './blob-count.js';
import { type BlobPool, blobPool, indexThreads, PARALLEL_FROM } from './blob-pool.js';
import type { FileSummary } from './python-parse.js';
import type { RepoSnapshot } from './snapshot.js';

/** Everything retrieval needs about one snapshot, built once and reused for every query. */
export interface RepoIndex {
  key: string;
  /** Candidate files (tests excluded unless asked for), sorted by path. */
  summaries: FileSummary[];
  bm25: Bm25Index;
  graph: Map<string, string[]>;
  defs: Map<string, Set<string>>;
  /** Source text by path, for embedders and the agent's context. */
  texts: Map<string, string>;
  /** Git blob id by path: what embedders key cached vectors by. */
  blobs: Map<string, string>;
  /** Path and body term counts by path (the tokens LSI fits on), so embedders need not tokenise again. */
  terms: Map<string, TermCounts>;
}

export type { TermCounts };

/**
 * What one blob contributes to an index, whatever path it sits at: its parse, its BM25F statistics
 * without the path field, and its body's term counts (for embedders that fit on the repository).
 */
export interface BlobEntry {
  summary: Omit<FileSummary, 'path'>;
  stats: Bm25DocStats;
  body: TermCounts;
}

/**
 * Parsed files by blob id, so indexing the next commit of a repository re-parses and re-tokenises
 * only what changed. Entries depend only on the blob's content (and the BM25 weights), so it does
 * not matter which snapshot filled them; an on-disk index entry can seed them in a new process.
 */
export class BlobCache {
  private readonly entries = new Map<string, BlobEntry>();
  constructor(private readonly maxEntries = 50_000) {}

  /**
   * The entry of a blob, parsing and tokenising it when it is not cached; `counted`, when given,
   * is its counts made by another thread (`countBlob`), which stand in for parsing it here.
   */
  entry(
    blob: string,
    path: string,
    text: string,
    weights: Bm25Weights = DEFAULT_BM25_WEIGHTS,
    counted?: BlobCount,
  ): BlobEntry {
    let entry = this.entries.get(blob);
    if (entry) {
      // Least recently used goes first: a blob every commit shares must outlive one-off blobs.
      this.entries.delete(blob);
      this.entries.set(blob, entry);
    } else if (counted) {
      makeTokenRoom();
      rememberChunks(blob, internChunks(counted.chunks, counted.tokens));
      entry = counted.entry;
      this.set(blob, entry);
    } else {
      makeTokenRoom();
      const made = countEntry(path, text, weights);
      rememberChunks(blob, made.chunks);
      entry = made.entry;
      this.set(blob, entry);
    }
    return entry;
  }

  /** A cached entry, if any. */
  peek(blob: string): BlobEntry | undefined {
    return this.entries.get(blob);
  }

  /** Adds an entry computed elsewhere (read back from the on-disk cache). */
  set(blob: string, entry: BlobEntry): void {
    if (this.entries.has(blob)) return;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(blob, entry);
  }

  /** How many blobs are cached (for tests and benchmarks). */
  get size(): number {
    return this.entries.size;
  }
}

/** Options for building an index. */
export interface IndexOptions {
  includeTests?: boolean;
  /** Keep doc/, docs/ and examples/ sources as candidates (off: they match issue words but are rarely what changes). */
  includeDocs?: boolean;
  bm25Weights?: Bm25Weights;
  cache?: BlobCache;
  /**
   * Threads that parse and count uncached blobs, this one included (default `indexThreads()`:
   * FIXWRIGHT_INDEX_WORKERS, else the idle processors but one, at most 8); 1 counts them here
   * alone. The index is the same.
   */
  threads?: number;
  /** The worker threads that count blobs (default `blobPool`; tests give one running another script). */
  pool?: BlobPool;
}

/** Parses every candidate file (cached ones are not parsed again) and builds the BM25 index, import graph and symbol table. */
export function buildRepoIndex(snapshot: RepoSnapshot, options: IndexOptions = {}): RepoIndex {
  return buildRepoIndexWithEntries(snapshot, options).index;
}

/**
 * The index and each candidate blob's entry as it was used: what an on-disk entry must hold. The
 * cache cannot be asked afterwards, since a bounded cache may have evicted some of them meanwhile.
 */
export function buildRepoIndexWithEntries(
  snapshot: RepoSnapshot,
  options: IndexOptions = {},
): { index: RepoIndex; entries: Map<string, BlobEntry> } {
  const cache = options.cache ?? new BlobCache();
  const weights = options.bm25Weights ?? DEFAULT_BM25_WEIGHTS;
  const summaries: FileSummary[] = [];
  const docs: Array<{ id: string; stats: Bm25DocStats }> = [];
  const texts = new Map<string, string>();
  const blobs = new Map<string, string>();
  const terms = new Map<string, TermCounts>();
  const entries = new Map<string, BlobEntry>();
  const counted = countElsewhere(snapshot, options, cache, weights);
  for (const file of snapshot.files) {
    if (!isCandidate(file.path, options)) continue;
    const made = counted?.get(file.blob);
    // Used once: its chunks are interned in place (a blob at a second path is a cache hit, or parsed again if evicted meanwhile).
    if (made) counted!.delete(file.blob);
    const entry = cache.entry(file.blob, file.path, file.text, weights, made);
    entries.set(file.blob, entry);
    summaries.push({ ...entry.summary, path: file.path });
    const placed = atPath(entry, file.path, weights);
    docs.push({ id: file.path, stats: placed.stats });
    texts.set(file.path, file.text);
    blobs.set(file.path, file.blob);
    terms.set(file.path, placed.terms);
  }
  const index: RepoIndex = {
    key: snapshot.key,
    summaries,
    bm25: Bm25Index.fromStats(docs),
    graph: graphBuilderOf(cache).graph(summaries),
    defs: symbolDefinitions(summaries),
    texts,
    blobs,
    terms,
  };
  return { index, entries };
}

/**
 * The import graph builder of a blob cache's indexes: a cache serves one localiser, whose next
 * index is most often the next commit of the same repository, so it resolves only what changed.
 */
const graphBuilders = new WeakMap<BlobCache, ImportGraphBuilder>();

function graphBuilderOf(cache: BlobCache): ImportGraphBuilder {
  let builder = graphBuilders.get(cache);
  if (!builder) graphBuilders.set(cache, (builder = new ImportGraphBuilder()));
  return builder;
}

/**
 * The uncached blobs of a snapshot counted by a pool of threads, when there are enough of them to
 * be worth it. The entries are still made in the snapshot's order by `BlobCache.entry`, so tokens
 * enter the process-wide table as they would in a serial build and the index is the same; a blob
 * a worker threw on is missing here and is parsed in this thread, where it throws as it would.
 */
function countElsewhere(
  snapshot: RepoSnapshot,
  options: IndexOptions,
  cache: BlobCache,
  weights: Bm25Weights,
): Map<string, BlobCount> | undefined {
  const threads = options.threads ?? indexThreads();
  if (threads < 2) return undefined;
  // A blob at several paths is parsed at its first, as the serial loop would.
  const uncached = new Map<string, { path: string; text: string }>();
  for (const file of snapshot.files)
    if (isCandidate(file.path, options) && !cache.peek(file.blob) && !uncached.has(file.blob))
      uncached.set(file.blob, file);
  if (uncached.size < PARALLEL_FROM) return undefined;
  const blobs = [...uncached.keys()];
  const result = (options.pool ?? blobPool).count([...uncached.values()], weights, threads);
  if (!result) return undefined;
  const counted = new Map<string, BlobCount>();
  result.counted.forEach((c, i) => c && counted.set(blobs[i]!, c));
  poolCount = { blobs: blobs.length, byWorkers: result.byWorkers, failed: blobs.length - counted.size };
  return counted;
}

/** How a build shared its uncached blobs out: how many, how many other threads counted, how many a thread failed on (parsed again here). */
export interface PoolCountSummary {
  blobs: number;
  byWorkers: number;
  failed: number;
}

let poolCount: PoolCountSummary | undefined;

/** How the last build that used the pool shared its blobs out (tests and benchmarks). */
export function lastPoolCount(): PoolCountSummary | undefined {
  return poolCount;
}

/** Whether a file is ranked at all under these options (tests and docs are left out unless asked for). */
export function isCandidate(path: string, options: IndexOptions): boolean {
  return (options.includeTests || !isTestFile(path)) && (options.includeDocs || !isDocsFile(path));
}

/**
 * An entry's statistics with its path folded in, kept for the path it was last placed at: a blob
 * usually stays where it is from one commit to the next, so the next commit's index merges only the
 * changed files' paths in. Held beside the entry, not in it, so the on-disk cache stays as it was.
 */
const placements = new WeakMap<
  BlobEntry,
  { path: string; weights: Bm25Weights; stats: Bm25DocStats; terms: TermCounts }
>();

function atPath(entry: BlobEntry, path: string, weights: Bm25Weights): { stats: Bm25DocStats; terms: TermCounts } {
  let placed = placements.get(entry);
  if (!placed || placed.path !== path || placed.weights !== weights) {
    placed = { path, weights, stats: withPath(entry.stats, path, weights), terms: withPathTerms(entry.body, path) };
    placements.set(entry, placed);
  }
  return placed;
}

/**
 * Path tokens first, then the body's: the order LSI always read a file's tokens in. A counted
 * body's terms are distinct, so only the few path tokens are looked for among them (a map of every
 * term per file cost twice as much when a new process placed all of sympy's files). Every
 * occurrence of a path token is folded into its entry, so a body that repeats a term (only a damaged
 * cache entry could) still gives each path token once; a repeated other term is kept as it comes,
 * which the readers take as one (LSI's `weigh` adds it to its first entry, `weighCorpus` counts a
 * file once): the same as merging every term.
 * @internal exported for tests
 */
export function withPathTerms(body: TermCounts, path: string): TermCounts {
  const head = new Map<string, number>();
  for (const t of pathTokens(path)) head.set(t, (head.get(t) ?? 0) + 1);
  const terms = [...head.keys()];
  const counts = [...head.values()];
  let inBody: Set<number> | undefined;
  terms.forEach((t, j) => {
    for (let i = body.terms.indexOf(t); i >= 0; i = body.terms.indexOf(t, i + 1)) {
      counts[j]! += body.counts[i]!;
      (inBody ??= new Set()).add(i);
    }
  });
  if (!inBody) return { terms: terms.concat(body.terms), counts: counts.concat(body.counts) };
  body.terms.forEach((t, i) => {
    if (inBody!.has(i)) return;
    terms.push(t);
    counts.push(body.counts[i]!);
  });
  return { terms, counts };
}
