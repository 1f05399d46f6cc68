import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { assetPath, FixwrightError } from '../core/index.js';
import type { Signal } from './fusion.js';
import { createDenseRanker } from './embeddings/dense-index.js';
import type { Embedder } from './embeddings/embedder.js';
import { loadOrBuildIndex } from './index-cache.js';
import { prefetchHistory, readHistory } from './history.js';
import { type FusionModel, learnedFusion, loadFusionModel } from './learned-fusion.js';
import { symbolIndexOf } from './symbol-index.js';
import { DEFAULT_RANK_CONFIG, type DenseRanker, type RankConfig, rankFiles, type RankResult } from './rank.js';
import { BlobCache, type IndexOptions, type RepoIndex } from './repo-index.js';
import { gitKeyParts, readDirSnapshot, readGitSnapshot, type RepoSnapshot, SourceCache } from './snapshot.js';
import { ISSUE_TEXT_VERSION } from './issue-text.js';

export { gitDirOf, readDirSnapshot, readGitSnapshot } from './snapshot.js';
// What counts as a test or a documentation file, and how text splits into search terms: the agent
// and the benchmarks use localisation's own definitions, so they agree with its candidates.
export { isDocsFile, isTestFile } from './file-filter.js';
export { tokenize } from './tokenize.js';

export { baseSignals, DEFAULT_RANK_CONFIG, fuseSignals, type RankConfig, type RankResult, rankFiles } from './rank.js';
export {
  featureNames,
  fileFeatures,
  fitLogistic,
  type FusionModel,
  learnedFusion,
  loadFusionModel,
  type LogisticModel,
  parseFusionModel,
  probability,
  saveFusionModel,
} from './learned-fusion.js';
export type { Ranking } from './fusion.js';
export type { FusedFile, Signal } from './fusion.js';
export type { FileSummary, PySymbol, PyImport } from './python-parse.js';
export type { RepoIndex } from './repo-index.js';
export type { RepoSnapshot, SnapshotFile } from './snapshot.js';
export {
  changedBaseLines,
  type FileFunctions,
  goldFunctions,
  MODULE_SYMBOL,
  rankFunctions,
  type RankedSymbol,
  rankSymbols,
} from './functions.js';
export { issueEvidence } from './issue-evidence.js';
export { ISSUE_TEXT_VERSION, issueTitle, withoutEnvironmentReport } from './issue-text.js';
export {
  selectRegressionTests,
  type SelectedTest,
  type TestSelection,
  type TestSelectionOptions,
} from './test-selection.js';
export {
  firstErrorLine,
  firstSyntaxError,
  parsePythonTree,
  summarisePython,
  summarisePythonTree,
} from './python-parse.js';
// The fast scanner, beside the tree parser it must agree with (perf/python-scan-check.ts compares them).
export { scanPython } from './python-scan.js';
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
  /** A learned fusion of the signals (replaces RRF's hand-set weights); none fuses by RRF. */
  fusion?: FusionModel;
}

/** Every signal, in the fixed order a fusion model's features follow. */
export const ALL_SIGNALS = Object.keys(DEFAULT_RANK_CONFIG.weights) as Signal[];

/** Where the shipped fusion model lives, relative to the package root. */
export const SHIPPED_FUSION_MODEL = 'localisation/fusion-model.json';

/** The learned fusion shipped with fixwright, when present (RRF is used without one). */
export function shippedFusionModel(): FusionModel | undefined {
  const path = assetPath(SHIPPED_FUSION_MODEL);
  return existsSync(path) ? loadFusionModel(path, ALL_SIGNALS) : undefined;
}

/** Per query: rank as a model fitted without this repository would (for rows the fusion was trained on). */
export interface RankOptions {
  outOfFoldRepo?: string;
}

/**
 * The configuration a learned fusion ranks under: every signal it reads is computed (an RRF
 * weight of 0 would leave one out), every other switched off, so fitting and use see the same.
 */
export function fusionConfig(config: RankConfig, model: Pick<FusionModel, 'signals'>): RankConfig {
  const weights = Object.fromEntries(
    Object.keys(config.weights).map((s) => [
      s,
      model.signals.includes(s as Signal) ? (config.weights[s as Signal] > 0 ? config.weights[s as Signal] : 1) : 0,
    ]),
  ) as Record<Signal, number>;
  return { ...config, weights };
}

/** Names a ranking (fusion, signals, embedder), so a calibration is only used with the ranking it was fitted on. */
export function rankerNameOf(options: LocaliserOptions): string {
  const config = JSON.stringify(options.config ?? DEFAULT_RANK_CONFIG);
  const tuned =
    config === JSON.stringify(DEFAULT_RANK_CONFIG)
      ? ''
      : `+cfg-${createHash('sha256').update(config).digest('hex').slice(0, 8)}`;
  const candidates = `${options.includeTests ? '+tests' : ''}${options.includeDocs ? '+docs' : ''}`;
  const m = options.fusion;
  // The issue text's preparation is part of the ranking: a model fitted before a change to it is another ranker.
  const fusion = m
    ? `fixwright-learned-${createHash('sha256')
        .update(JSON.stringify([m.signals, m.weights, m.bias, m.mean, m.scale, ISSUE_TEXT_VERSION]))
        .digest('hex')
        .slice(0, 8)}`
    : 'fixwright-rrf-v2';
  return `${fusion}+${options.embedder?.name ?? 'no-embeddings'}${candidates}${tuned}`;
}

/** Timings of the last `index` call, for reports and benchmarks. */
export interface IndexTiming {
  readMs: number;
  indexMs: number;
  cached: boolean;
  files: number;
  bytesRead: number;
  /** Python files left out of the snapshot, and why (binary, undecodable, unreadable, …); vendored and too-large ones included. */
  skipped: RepoSnapshot['skipped'];
}

/**
 * The localisation stage: reads a snapshot, indexes it (cached per content on disk and per blob in
 * memory), and ranks its files for an issue.
 */
export class Localiser {
  private readonly options: LocaliserOptions;
  private readonly blobs = new BlobCache();
  private readonly sources = new SourceCache();
  private readonly dense = new WeakMap<RepoIndex, Promise<DenseRanker>>();
  lastTiming: IndexTiming | undefined;

  constructor(options: LocaliserOptions = {}) {
    this.options = options;
  }

  /** Names the ranking (signals and embedder), so a calibration is only used with the ranking it was fitted on. */
  get rankerName(): string {
    return rankerNameOf(this.options);
  }

  /** The learned fusion this localiser ranks with, if any. */
  get fusion(): FusionModel | undefined {
    return this.options.fusion;
  }

  /** Reads the sources of a repository at a commit (git) or in a directory. */
  snapshot(source: SnapshotSource): Promise<RepoSnapshot> {
    return source.kind === 'git'
      ? readGitSnapshot(source.gitDir, source.commit, this.sources)
      : Promise.resolve(readDirSnapshot(source.path));
  }

  /** Reads and indexes a repository. */
  async index(source: SnapshotSource): Promise<RepoIndex> {
    const t0 = performance.now();
    const snapshot = await this.snapshot(source);
    const t1 = performance.now();
    // git walks the log while this process parses; ranking waits for it (see `history`).
    if (source.kind === 'git') void this.history(snapshot.key);
    const { index, cached } = loadOrBuildIndex(snapshot, { ...this.options, cache: this.blobs });
    this.lastTiming = {
      readMs: t1 - t0,
      indexMs: performance.now() - t1,
      cached,
      files: index.summaries.length,
      bytesRead: snapshot.bytesRead,
      skipped: snapshot.skipped,
    };
    return index;
  }

  /** The dense ranker of an index, embedding its files once (none without an embedder). */
  denseRanker(index: RepoIndex): Promise<DenseRanker> | undefined {
    const embedder = this.options.embedder;
    if (!embedder) return undefined;
    let ranker = this.dense.get(index);
    if (!ranker) {
      const paths = index.summaries.map((s) => s.path);
      // The repository (the key without its commit) and blob ids let an embedder reuse a fit from another commit.
      const cache = this.options.cacheDir
        ? { dir: this.options.cacheDir, maxBytes: this.options.cacheMaxBytes }
        : undefined;
      const git = gitKeyParts(index.key);
      const candidates = { includeTests: !!this.options.includeTests, includeDocs: !!this.options.includeDocs };
      const corpus = {
        paths,
        texts: index.texts,
        terms: index.terms,
        blobs: index.blobs,
        repository: index.key.replace(/@[0-9a-f]+$/, ''),
        commit: git?.commit,
        gitDir: git?.gitDir,
        candidates,
        cache,
      };
      ranker = embedder.embedCorpus(corpus).then((embedding) => createDenseRanker(paths, embedding));
      this.dense.set(index, ranker);
    }
    return ranker;
  }

  /**
   * Builds what ranking an index needs once (the embedding, the symbol index, the commit history)
   * ahead of the first query, so a benchmark counts it as indexing and queries are timed warm.
   */
  async prepare(index: RepoIndex): Promise<void> {
    await this.denseRanker(index);
    symbolIndexOf(index);
    await this.history(index.key);
  }

  /** Reads a snapshot's history in the background (once per commit); ranking reads it from the cache after this resolves. */
  private async history(key: string): Promise<void> {
    // A directory's history is read by ranking itself (finding its checkout's HEAD costs a git call).
    const source = gitKeyParts(key);
    if (!source) return;
    await prefetchHistory(source.gitDir, source.commit);
    readHistory(source.gitDir, source.commit);
  }

  /** Ranks the index's files for an issue. */
  async rank(index: RepoIndex, issue: string, options: RankOptions = {}): Promise<RankResult> {
    if (!issue.trim())
      throw new FixwrightError('FW_ERR_BAD_INPUT', 'the issue text is empty: pass --issue TEXT or --issue @FILE', {
        field: 'issue',
      });
    await this.history(index.key);
    const config = this.options.config ?? DEFAULT_RANK_CONFIG;
    const model = this.options.fusion;
    if (!model) return rankFiles(index, issue, config, await this.denseRanker(index));
    // A model reads the signals as they were computed when it was fitted (the default config), whatever RRF weights are set.
    const result = await rankFiles(
      index,
      issue,
      fusionConfig(DEFAULT_RANK_CONFIG, model),
      await this.denseRanker(index),
    );
    const fold = options.outOfFoldRepo !== undefined ? model.folds[options.outOfFoldRepo] : undefined;
    // Never fall back to the full model silently: that would rank a training row in-sample.
    if (options.outOfFoldRepo !== undefined && !fold)
      throw new FixwrightError(
        'FW_ERR_BAD_INPUT',
        `the fusion model has no model without repository ${options.outOfFoldRepo}`,
        { field: 'fusion' },
      );
    return { ...result, files: learnedFusion(fold ?? model, model.signals, result.signals) };
  }
}
