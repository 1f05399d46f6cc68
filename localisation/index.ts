import { createHash } from 'node:crypto';
import { FixwrightError } from '../core/errors.js';
import { createDenseRanker } from './embeddings/dense-index.js';
import type { Embedder } from './embeddings/embedder.js';
import { loadOrBuildIndex } from './index-cache.js';
import { DEFAULT_RANK_CONFIG, type DenseRanker, type RankConfig, rankFiles, type RankResult } from './rank.js';
import { BlobCache, type IndexOptions, type RepoIndex } from './repo-index.js';
import { readDirSnapshot, readGitSnapshot, type RepoSnapshot } from './snapshot.js';

export { gitDirOf } from './snapshot.js';

export { DEFAULT_RANK_CONFIG, type RankConfig, type RankResult } from './rank.js';
export type { FusedFile, Signal } from './fusion.js';
export type { FileSummary, PySymbol, PyImport } from './python-parse.js';
export type { RepoIndex } from './repo-index.js';
export type { RepoSnapshot, SnapshotFile } from './snapshot.js';
export { changedBaseLines, type FileFunctions, goldFunctions, MODULE_SYMBOL, rankFunctions, type RankedSymbol, rankSymbols, symbolRelevance } from './functions.js';
export { issueEvidence } from './issue-evidence.js';
export { selectRegressionTests, type SelectedTest, type TestSelection, type TestSelectionOptions } from './test-selection.js';
export { firstErrorLine, firstSyntaxError, parsePythonTree, summarisePython } from './python-parse.js';
export type { Embedder, EmbeddingCorpus, CorpusEmbedding } from './embeddings/embedder.js';
export { LsiEmbedder } from './embeddings/lsi.js';
export { ApiEmbedder, type ApiEmbedderOptions } from './embeddings/openai-embedder.js';

/** Where a repository's sources come from. */
export type SnapshotSource = { kind: 'git'; gitDir: string; commit: string } | { kind: 'dir'; path: string };

/** Options for a localiser. */
export interface LocaliserOptions extends IndexOptions {
  /** Directory for the on-disk index cache (one entry per snapshot content); none disables it. */
  cacheDir?: string;
  /** The bound of `cacheDir` in bytes: after a write, the least recently used entries are deleted until it holds; none means unbounded. */
  cacheMaxBytes?: number;
  config?: RankConfig;
  /** The dense signal: an embedder whose vectors go into a faiss index; none leaves it out. */
  embedder?: Embedder;
}

/** Timings of the last `index` call, for reports and benchmarks. */
export interface IndexTiming {
  readMs: number;
  indexMs: number;
  cached: boolean;
  files: number;
  bytesRead: number;
}

/**
 * The localisation stage: reads a snapshot, indexes it (cached per content on disk and per blob in
 * memory), and ranks its files for an issue.
 */
export class Localiser {
  private readonly options: LocaliserOptions;
  private readonly blobs = new BlobCache();
  private readonly dense = new WeakMap<RepoIndex, Promise<DenseRanker>>();
  lastTiming: IndexTiming | undefined;

  constructor(options: LocaliserOptions = {}) {
    this.options = options;
  }

  /** Names the ranking (signals and embedder), so a calibration is only used with the ranking it was fitted on. */
  get rankerName(): string {
    const config = JSON.stringify(this.options.config ?? DEFAULT_RANK_CONFIG);
    const tuned = config === JSON.stringify(DEFAULT_RANK_CONFIG) ? '' : `+cfg-${createHash('sha256').update(config).digest('hex').slice(0, 8)}`;
    const candidates = `${this.options.includeTests ? '+tests' : ''}${this.options.includeDocs ? '+docs' : ''}`;
    return `fixwright-rrf-v1+${this.options.embedder?.name ?? 'no-embeddings'}${candidates}${tuned}`;
  }

  /** Reads the sources of a repository at a commit (git) or in a directory. */
  snapshot(source: SnapshotSource): Promise<RepoSnapshot> {
    return source.kind === 'git' ? readGitSnapshot(source.gitDir, source.commit) : Promise.resolve(readDirSnapshot(source.path));
  }

  /** Reads and indexes a repository. */
  async index(source: SnapshotSource): Promise<RepoIndex> {
    const t0 = performance.now();
    const snapshot = await this.snapshot(source);
    const t1 = performance.now();
    const { index, cached } = loadOrBuildIndex(snapshot, { ...this.options, cache: this.blobs });
    this.lastTiming = { readMs: t1 - t0, indexMs: performance.now() - t1, cached, files: index.summaries.length, bytesRead: snapshot.bytesRead };
    return index;
  }

  /** The dense ranker of an index, embedding its files once (none without an embedder). */
  denseRanker(index: RepoIndex): Promise<DenseRanker> | undefined {
    const embedder = this.options.embedder;
    if (!embedder) return undefined;
    let ranker = this.dense.get(index);
    if (!ranker) {
      const paths = index.summaries.map((s) => s.path);
      ranker = embedder.embedCorpus({ paths, texts: index.texts }).then((embedding) => createDenseRanker(paths, embedding));
      this.dense.set(index, ranker);
    }
    return ranker;
  }

  /** Ranks the index's files for an issue. */
  async rank(index: RepoIndex, issue: string): Promise<RankResult> {
    if (!issue.trim()) throw new FixwrightError('FW_ERR_BAD_INPUT', 'the issue text is empty: pass --issue TEXT or --issue @FILE', { field: 'issue' });
    return rankFiles(index, issue, this.options.config ?? DEFAULT_RANK_CONFIG, await this.denseRanker(index));
  }
}
