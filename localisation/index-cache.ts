import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { assetPath } from '../core/paths.js';
import { join } from 'node:path';
import { BlobCache, type BlobEntry, buildRepoIndex, buildRepoIndexWithEntries, type IndexOptions, isCandidate, type RepoIndex } from './repo-index.js';
import type { RepoSnapshot } from './snapshot.js';
import { hasChunks, restoreChunks, type StoredChunks, storedChunks } from './symbol-index.js';

// Bump when parsing, tokenising or filtering changes what an index holds; the package version is
// part of the key too, so a release never reads an older release's indexes.
const CACHE_VERSION = 6;

/** The cache key: the snapshot's content (every path and blob id) and the options that shape the index. */
export function indexCacheKey(snapshot: RepoSnapshot, options: IndexOptions): string {
  const hash = createHash('sha256').update(JSON.stringify({ v: CACHE_VERSION, pkg: packageVersion(), tests: !!options.includeTests, docs: !!options.includeDocs, w: options.bm25Weights ?? null }));
  for (const f of snapshot.files) hash.update(`${f.path}\0${f.blob}\n`);
  return hash.digest('hex').slice(0, 32);
}

/**
 * Names the repository a snapshot comes from (its git directory or folder, not the commit), so
 * the entries of one repository can be found when indexing another of its commits.
 */
export function repositoryTag(snapshot: RepoSnapshot, options: IndexOptions = {}): string {
  // Blob entries hold field-weighted statistics, so only entries built with the same weights may seed.
  const of = JSON.stringify({ repo: snapshot.key.replace(/@[0-9a-f]+$/, ''), w: options.bm25Weights ?? null });
  return createHash('sha256').update(of).digest('hex').slice(0, 12);
}

let version: string | undefined;
/** fixwright's version: cached indexes and LSI bases of another release are not read. */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(assetPath('package.json'), 'utf8')) as { version: string }).version;
  return version;
}

/** An index on disk: the per-blob entries of its files; everything else is rebuilt from them in milliseconds. */
interface CachedIndex {
  version: number;
  /** The release that wrote it: entries seed other commits' indexes, so another release's are not read. */
  pkg: string;
  /** Each blob's entry, with its symbol chunks when they were at hand when it was written. */
  blobs: Record<string, BlobEntry & { chunks?: StoredChunks }>;
}

// Everything indexing reads of an entry: a damaged record anywhere must mean a re-parse, not a
// crash. Checked by hand (the shape zod's schema for it described: finite numbers, whole
// non-negative line numbers and counts, equal-length parallel arrays) because an entry holds a
// million terms and a schema library walked them at several times the cost of reading the JSON.
const isCount = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isFinite = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);
const isString = (x: unknown): boolean => typeof x === 'string';
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const optionalString = (x: unknown): boolean => x === undefined || typeof x === 'string';
const SYMBOL_KINDS = new Set(['class', 'function', 'method']);

function everyOf(xs: unknown, ok: (x: unknown) => boolean): xs is unknown[] {
  if (!Array.isArray(xs)) return false;
  for (let i = 0; i < xs.length; i++) if (!ok(xs[i])) return false;
  return true;
}

function validSymbol(s: unknown): boolean {
  return isObject(s) && typeof s.kind === 'string' && SYMBOL_KINDS.has(s.kind) && isString(s.name) && isString(s.qualname) && isCount(s.startLine) && isCount(s.endLine) && optionalString(s.docstring);
}

function validImport(i: unknown): boolean {
  return isObject(i) && isString(i.module) && isCount(i.level) && everyOf(i.names, isString);
}

/** Whether a read-back entry has the shape an index needs (a damaged file must not crash indexing). */
export function validEntry(e: unknown): e is BlobEntry {
  if (!isObject(e) || !isObject(e.summary) || !isObject(e.stats) || !isObject(e.body)) return false;
  const { summary, stats, body } = e;
  if (!optionalString(summary.docstring) || typeof summary.hasErrors !== 'boolean' || !everyOf(summary.symbols, validSymbol) || !everyOf(summary.imports, validImport)) return false;
  if (!everyOf(stats.terms, isString) || !everyOf(stats.freqs, isFinite) || stats.terms.length !== stats.freqs.length || !isFinite(stats.length) || (stats.length as number) < 0) return false;
  return everyOf(body.terms, isString) && everyOf(body.counts, isCount) && body.terms.length === body.counts.length;
}

/**
 * Chunks read back (and checked) since the last write, by entry: the next entry written repeats
 * most of them, and re-encoding them cost more than the write itself. Dropped at each write and
 * whenever an index is served from its own entry without a write, so they cost one entry's size
 * at most.
 */
let seededChunks = new Map<BlobEntry, StoredChunks>();

/** Reads an entry's blobs into the cache (and their stored chunks); false when the file is missing, damaged or of another version. */
function seedFrom(file: string, cache: BlobCache): boolean {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as CachedIndex;
    if (data.version !== CACHE_VERSION || data.pkg !== packageVersion() || typeof data.blobs !== 'object' || data.blobs === null) return false;
    for (const [blob, stored] of Object.entries(data.blobs)) {
      if (!validEntry(stored)) continue;
      // The chunks live in the symbol index's own cache, not in the entry kept in memory.
      const { chunks, ...entry } = stored;
      cache.set(blob, entry);
      // Kept for the next write only when this very entry is the one cached (a blob cached already keeps its own).
      if (chunks !== undefined && restoreChunks(blob, chunks, entry.stats.terms, entry.summary) && cache.peek(blob) === entry) seededChunks.set(entry, chunks as StoredChunks);
    }
    return true;
  } catch {
    return false;
  }
}

/** The most recently used entry of the same repository, other than `except`. */
function latestOfRepository(cacheDir: string, tag: string, except: string): string | undefined {
  let best: { path: string; mtimeMs: number } | undefined;
  try {
    for (const name of readdirSync(cacheDir)) {
      if (!name.startsWith(`${tag}-`) || !name.endsWith('.json')) continue;
      const path = join(cacheDir, name);
      if (path === except) continue;
      try {
        const mtimeMs = statSync(path).mtimeMs;
        if (!best || mtimeMs > best.mtimeMs) best = { path, mtimeMs };
      } catch {
        // Evicted meanwhile.
      }
    }
  } catch {
    // No cache folder yet.
  }
  return best?.path;
}

/**
 * Builds a snapshot's index, or loads it from `cacheDir` when the same content was indexed
 * before. A commit not indexed before starts from the repository's most recently used entry:
 * its unchanged files are not parsed or tokenised again, in this process or a later one.
 */
export function loadOrBuildIndex(snapshot: RepoSnapshot, options: IndexOptions & { cacheDir?: string; cacheMaxBytes?: number; cache?: BlobCache }): { index: RepoIndex; cached: boolean } {
  const cache = options.cache ?? new BlobCache();
  if (!options.cacheDir) return { index: buildRepoIndex(snapshot, { ...options, cache }), cached: false };
  const tag = repositoryTag(snapshot, options);
  const file = join(options.cacheDir, `${tag}-${indexCacheKey(snapshot, options)}.json`);
  const candidates = snapshot.files.filter((f) => isCandidate(f.path, options));
  const missingCount = () => candidates.filter((f) => !cache.peek(f.blob)).length;
  const missing = () => missingCount() > 0;
  if (missing() && seedFrom(file, cache) && !missing()) {
    touch(file);
    seededChunks = new Map();
    return { index: buildRepoIndex(snapshot, { ...options, cache }), cached: true };
  }
  if (!missing()) {
    // Everything is in memory already; the entry on disk is only refreshed when it exists.
    if (existsSync(file)) {
      touch(file);
      seededChunks = new Map();
      return { index: buildRepoIndex(snapshot, { ...options, cache }), cached: true };
    }
  } else if (missingCount() > candidates.length / 2) {
    // Most files unknown in memory: a new process, or another repository. An entry of the same
    // repository (a 15 MiB read for 900 files) costs far less than parsing what it holds. When
    // memory already holds most files, the missing ones are what changed: no entry holds them.
    const previous = latestOfRepository(options.cacheDir, tag, file);
    if (previous) seedFrom(previous, cache);
  }
  const { index, entries } = buildRepoIndexWithEntries(snapshot, { ...options, cache });
  mkdirSync(options.cacheDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, serialiseIndex(entries));
  renameSync(tmp, file);
  if (options.cacheMaxBytes !== undefined) evictIndexes(options.cacheDir, options.cacheMaxBytes, file);
  return { index, cached: false };
}

/**
 * The blob entries' JSON of the last entry written: the next commit's entry repeats most of them.
 * Only the last write's are kept, so the strings cost one entry's size, not one per cached blob.
 */
let lastWritten = new Map<BlobEntry, { json: string; chunks: boolean }>();

/**
 * The text of an on-disk entry: `JSON.stringify` of the `CachedIndex` holding these blobs, byte
 * for byte, written from each blob entry's JSON made once per process (sympy's 15 MB entry was
 * stringified whole again at every commit).
 */
export function serialiseIndex(entries: ReadonlyMap<string, BlobEntry>): string {
  const parts: string[] = [];
  const written = new Map<BlobEntry, { json: string; chunks: boolean }>();
  for (const [blob, entry] of entries) {
    let kept = lastWritten.get(entry);
    // Written without chunks (none were at hand): written again once the symbol index has counted them.
    if (!kept || (!kept.chunks && hasChunks(blob))) {
      const chunks = seededChunks.get(entry) ?? storedChunks(blob, entry.stats.terms);
      kept = { json: JSON.stringify(chunks ? { ...entry, chunks } : entry), chunks: chunks !== undefined };
    }
    written.set(entry, kept);
    parts.push(`${JSON.stringify(blob)}:${kept.json}`);
  }
  lastWritten = written;
  seededChunks = new Map();
  return `{"version":${JSON.stringify(CACHE_VERSION)},"pkg":${JSON.stringify(packageVersion())},"blobs":{${parts.join(',')}}}`;
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
 * Least-recently-used eviction: deletes the cache's entries (indexes and LSI bases) oldest mtime first (a read refreshes
 * it) until their total size is at most `maxBytes`, never `keep` (the entry just written, which
 * alone may exceed the bound). Temporary files of writers in flight are left alone. Returns the
 * paths deleted.
 */
export function evictIndexes(cacheDir: string, maxBytes: number, keep?: string): string[] {
  const entries: Array<{ path: string; size: number; mtimeMs: number }> = [];
  for (const name of readdirSync(cacheDir)) {
    // Index entries (.json) and fitted LSI bases (.bin) share one bound.
    if (!name.endsWith('.json') && !name.endsWith('.bin')) continue;
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
