import { FixwrightError } from '../core/errors.js';
import { loadOrBuildIndex } from './index-cache.js';
import { DEFAULT_RANK_CONFIG, type DenseRanker, type RankConfig, rankFiles, type RankResult } from './rank.js';
import { BlobCache, type IndexOptions, type RepoIndex } from './repo-index.js';
import { readDirSnapshot, readGitSnapshot, type RepoSnapshot } from './snapshot.js';

export { DEFAULT_RANK_CONFIG, type RankConfig, type RankResult } from './rank.js';
export type { FusedFile, Signal } from './fusion.js';
export type { FileSummary, PySymbol, PyImport } from './python-parse.js';
export type { RepoIndex } from './repo-index.js';
export type { RepoSnapshot, SnapshotFile } from './snapshot.js';
export { issueEvidence } from './issue-evidence.js';

/** Where a repository's sources come from. */
export type SnapshotSource = { kind: 'git'; gitDir: string; commit: string } | { kind: 'dir'; path: string };

/** Options for a localiser. */
export interface LocaliserOptions extends IndexOptions {
  /** Directory for the on-disk index cache (one entry per snapshot content); none disables it. */
  cacheDir?: string;
  config?: RankConfig;
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
  lastTiming: IndexTiming | undefined;

  constructor(options: LocaliserOptions = {}) {
    this.options = options;
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

  /** Ranks the index's files for an issue. */
  rank(index: RepoIndex, issue: string, dense?: DenseRanker): Promise<RankResult> {
    if (!issue.trim()) throw new FixwrightError('FW_ERR_BAD_INPUT', 'the issue text is empty: pass --issue TEXT or --issue @FILE', { field: 'issue' });
    return rankFiles(index, issue, this.options.config ?? DEFAULT_RANK_CONFIG, dense);
  }
}
