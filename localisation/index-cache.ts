import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { assetPath } from '../core/paths.js';
import { join } from 'node:path';
import { Bm25Index } from './bm25.js';
import { buildImportGraph } from './import-graph.js';
import { symbolDefinitions } from './issue-evidence.js';
import type { FileSummary } from './python-parse.js';
import { type BlobCache, buildRepoIndex, type IndexOptions, type RepoIndex } from './repo-index.js';
import type { RepoSnapshot } from './snapshot.js';

// Bump when parsing, tokenising or filtering changes what an index holds; the package version is
// part of the key too, so a release never reads an older release's indexes.
const CACHE_VERSION = 4;

/** The cache key: the snapshot's content (every path and blob id) and the options that shape the index. */
export function indexCacheKey(snapshot: RepoSnapshot, options: IndexOptions): string {
  const hash = createHash('sha256').update(JSON.stringify({ v: CACHE_VERSION, pkg: packageVersion(), tests: !!options.includeTests, docs: !!options.includeDocs, w: options.bm25Weights ?? null }));
  for (const f of snapshot.files) hash.update(`${f.path}\0${f.blob}\n`);
  return hash.digest('hex').slice(0, 32);
}

let version: string | undefined;
function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(assetPath('package.json'), 'utf8')) as { version: string }).version;
  return version;
}

interface CachedIndex {
  version: number;
  summaries: FileSummary[];
  bm25: string;
}

/**
 * Builds a snapshot's index, or loads it from `cacheDir` when the same content was indexed
 * before: a second query on a snapshot skips parsing and BM25 construction.
 */
export function loadOrBuildIndex(snapshot: RepoSnapshot, options: IndexOptions & { cacheDir?: string; cacheMaxBytes?: number; cache?: BlobCache }): { index: RepoIndex; cached: boolean } {
  if (!options.cacheDir) return { index: buildRepoIndex(snapshot, options), cached: false };
  const file = join(options.cacheDir, `${indexCacheKey(snapshot, options)}.json`);
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as CachedIndex;
    if (data.version === CACHE_VERSION) {
      const paths = new Set(data.summaries.map((s) => s.path));
      const texts = new Map(snapshot.files.filter((f) => paths.has(f.path)).map((f) => [f.path, f.text]));
      const index: RepoIndex = {
        key: snapshot.key,
        summaries: data.summaries,
        bm25: Bm25Index.fromJSON(data.bm25, options.bm25Weights),
        graph: buildImportGraph(data.summaries),
        defs: symbolDefinitions(data.summaries),
        texts,
      };
      touch(file);
      return { index, cached: true };
    }
  } catch {
    // Missing or unreadable: build it.
  }
  const index = buildRepoIndex(snapshot, options);
  mkdirSync(options.cacheDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ version: CACHE_VERSION, summaries: index.summaries, bm25: index.bm25.toJSON() } satisfies CachedIndex));
  renameSync(tmp, file);
  if (options.cacheMaxBytes !== undefined) evictIndexes(options.cacheDir, options.cacheMaxBytes, file);
  return { index, cached: false };
}

/** A read marks an entry as recently used (its mtime), which is what eviction orders by. */
function touch(file: string): void {
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // A read-only cache or an entry evicted by another process meanwhile: the index was read, go on.
  }
}

/**
 * Least-recently-used eviction: deletes the cache's entries oldest mtime first (a read refreshes
 * it) until their total size is at most `maxBytes`, never `keep` (the entry just written, which
 * alone may exceed the bound). Temporary files of writers in flight are left alone. Returns the
 * paths deleted.
 */
export function evictIndexes(cacheDir: string, maxBytes: number, keep?: string): string[] {
  const entries: Array<{ path: string; size: number; mtimeMs: number }> = [];
  for (const name of readdirSync(cacheDir)) {
    if (!name.endsWith('.json')) continue;
    const path = join(cacheDir, name);
    try {
      const st = statSync(path);
      if (st.isFile()) entries.push({ path, size: st.size, mtimeMs: st.mtimeMs });
    } catch {
      // Gone meanwhile (another process evicted it).
    }
  }
  let total = entries.reduce((sum, e) => sum + e.size, 0);
  const deleted: string[] = [];
  entries.sort((a, b) => a.mtimeMs - b.mtimeMs || a.path.localeCompare(b.path));
  for (const e of entries) {
    if (total <= maxBytes) break;
    if (e.path === keep) continue;
    try {
      unlinkSync(e.path);
      deleted.push(e.path);
    } catch {
      // Already deleted by another process: its bytes are gone all the same.
    }
    total -= e.size;
  }
  return deleted;
}
