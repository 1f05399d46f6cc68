import { createHash, randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { assetPath } from '../core/index.js';
import { basename, dirname, join } from 'node:path';
import {
  BlobCache,
  type BlobEntry,
  buildRepoIndex,
  buildRepoIndexWithEntries,
  type IndexOptions,
  isCandidate,
  type RepoIndex,
} from './repo-index.js';
import type { RepoSnapshot } from './snapshot.js';
import { hasChunks, restoreChunks, type StoredChunks, storedChunks } from './symbol-index.js';

// Bump when parsing, tokenising or filtering changes what an index holds; the package version is
// part of the key too, so a release never reads an older release's indexes.
const CACHE_VERSION = 6;

/** The cache key: the snapshot's content (every path and blob id) and the options that shape the index. */
export function indexCacheKey(snapshot: RepoSnapshot, options: IndexOptions): string {
  const hash = createHash('sha256').update(
    JSON.stringify({
      v: CACHE_VERSION,
      pkg: packageVersion(),
      tests: !!options.includeTests,
      docs: !!options.includeDocs,
      w: options.bm25Weights ?? null,
    }),
  );
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

/**
 * An index on disk: the per-blob entries of its files; everything else is rebuilt from them in
 * milliseconds. A full entry holds every blob of its snapshot; a delta only those its base (a full
 * entry of the same repository in the same folder) does not hold, or holds without chunks.
 */
interface CachedIndex {
  version: number;
  /** The release that wrote it: entries seed other commits' indexes, so another release's are not read. */
  pkg: string;
  /** A delta's full entry (its file name): read after the delta, never itself a delta (chains are one deep). */
  base?: string;
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
  return (
    isObject(s) &&
    typeof s.kind === 'string' &&
    SYMBOL_KINDS.has(s.kind) &&
    isString(s.name) &&
    isString(s.qualname) &&
    isCount(s.startLine) &&
    isCount(s.endLine) &&
    optionalString(s.docstring)
  );
}

function validImport(i: unknown): boolean {
  return isObject(i) && isString(i.module) && isCount(i.level) && everyOf(i.names, isString);
}

/** Whether a read-back entry has the shape an index needs (a damaged file must not crash indexing). */
export function validEntry(e: unknown): e is BlobEntry {
  if (!isObject(e) || !isObject(e.summary) || !isObject(e.stats) || !isObject(e.body)) return false;
  const { summary, stats, body } = e;
  if (
    !optionalString(summary.docstring) ||
    typeof summary.hasErrors !== 'boolean' ||
    !everyOf(summary.symbols, validSymbol) ||
    !everyOf(summary.imports, validImport)
  )
    return false;
  if (
    !everyOf(stats.terms, isString) ||
    !everyOf(stats.freqs, isFinite) ||
    stats.terms.length !== stats.freqs.length ||
    !isFinite(stats.length) ||
    (stats.length as number) < 0
  )
    return false;
  return everyOf(body.terms, isString) && everyOf(body.counts, isCount) && body.terms.length === body.counts.length;
}

/**
 * Chunks read back (and checked) since the last write, by entry: the next entry written repeats
 * most of them, and re-encoding them cost more than the write itself. Dropped at each write and
 * whenever an index is served from its own entry without a write, so they cost one entry's size
 * at most.
 */
let seededChunks = new Map<BlobEntry, StoredChunks>();

/**
 * A delta is written only when its base holds all but a quarter of the commit's blobs at most, and
 * at most a quarter of the base's blobs are not the commit's: the write then holds a quarter of a full
 * entry's blobs at most, and a reader, who reads the delta and the base, reads at most a quarter more
 * blobs than a full entry would hold (blobs, not bytes: the files that change tend to be the larger
 * ones). Past that (the repository drifted from the base), a full entry is written
 * and becomes the base of the next commits' deltas. sympy's next commit (108 of 886 files changed,
 * 100 commits later) is a delta of 12% of the blobs, 22% of the bytes (the files that change are
 * the larger ones).
 */
const DELTA_SHARE = 1 / 4;

/** A full entry this process read or wrote: what a delta against it may leave out. */
interface Base {
  file: string;
  /** Its size when read or written: a file of another size under that name is not the entry these blobs describe. */
  size: number;
  /** Each blob it holds (valid records only), and whether its chunks came with it. */
  blobs: Map<string, boolean>;
}

/** The last full entry read or written, per cache folder and repository (a few: one per repository indexed). */
const bases = new Map<string, Base>();
const MAX_BASES = 16;

// `${tag}-${key}.json`: what a delta may name as its base (a bare name, so never a path out of the folder).
const ENTRY_NAME = /^([0-9a-f]{12})-[0-9a-f]{32}\.json$/;

const baseKey = (file: string): string => `${dirname(file)}\0${basename(file).slice(0, 12)}`;

function rememberBase(file: string, size: number, blobs: Map<string, boolean>): void {
  const key = baseKey(file);
  bases.delete(key);
  bases.set(key, { file, size, blobs });
  if (bases.size > MAX_BASES) bases.delete(bases.keys().next().value!);
}

/** The base a delta names, as a path, when it is a full entry's name of the same repository (anything else: none). */
function baseFileOf(file: string, name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined;
  const own = basename(file);
  const match = ENTRY_NAME.exec(name);
  if (!match || name === own || match[1] !== own.slice(0, 12)) return undefined;
  return join(dirname(file), name);
}

// A delta's header as `serialiseIndex` writes it: its base is found without parsing the whole file.
const DELTA_HEADER = /^\{"version":\d+,"pkg":"(?:[^"\\]|\\.)*","base":"([^"\\]*)"/;

/** The base a delta on disk names (undefined for a full entry, or a file that cannot be read). */
function deltaBaseOf(file: string): string | undefined {
  try {
    const fd = openSync(file, 'r');
    try {
      const head = Buffer.alloc(512);
      const n = readSync(fd, head, 0, head.length, 0);
      const match = DELTA_HEADER.exec(head.subarray(0, n).toString('utf8'));
      return match ? baseFileOf(file, match[1]) : undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/** An entry of this release read whole, with its size; undefined when missing, damaged or of another version. */
function readEntry(file: string): { data: CachedIndex; size: number } | undefined {
  try {
    const fd = openSync(file, 'r');
    let text: string;
    let size: number;
    try {
      size = fstatSync(fd).size;
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
    const data = JSON.parse(text) as unknown;
    if (!isObject(data) || data.version !== CACHE_VERSION || data.pkg !== packageVersion() || !isObject(data.blobs))
      return undefined;
    return { data: data as unknown as CachedIndex, size };
  } catch {
    return undefined;
  }
}

/** Puts an entry's valid blobs into the cache (and their stored chunks); returns each blob put and whether its chunks came with it. */
function seedBlobs(blobs: Record<string, unknown>, cache: BlobCache): Map<string, boolean> {
  const held = new Map<string, boolean>();
  for (const [blob, stored] of Object.entries(blobs)) {
    if (!validEntry(stored)) continue;
    // The chunks live in the symbol index's own cache, not in the entry kept in memory.
    const { chunks, ...entry } = stored as BlobEntry & { chunks?: unknown };
    cache.set(blob, entry);
    let withChunks = false;
    if (chunks !== undefined) {
      if (restoreChunks(blob, chunks, entry.stats.terms, entry.summary)) {
        withChunks = true;
        // Kept for the next write only when this very entry is the one cached (a blob cached already keeps its own).
        if (cache.peek(blob) === entry) seededChunks.set(entry, chunks as StoredChunks);
      } else {
        // Refused either as damaged (nothing remembered: a delta must carry them again once
        // counted) or unchecked because they were remembered already; trusted then, since a
        // damaged record costs a delta's reader a recount of them, never a wrong symbol index.
        withChunks = hasChunks(blob);
      }
    }
    held.set(blob, withChunks);
  }
  return held;
}

/**
 * Reads an entry's blobs into the cache, a delta's base's too; false when the file is missing,
 * damaged or of another version. A delta's base that is missing, damaged, of another version or
 * release, or a delta itself, supplies nothing: its blobs are counted again, so the index is the
 * same either way. A full entry read becomes the base of this process's next deltas.
 */
function seedFrom(file: string, cache: BlobCache): boolean {
  const read = readEntry(file);
  if (!read) return false;
  // The delta first: where it repeats a base's blob, it is to carry chunks the base lacks.
  const held = seedBlobs(read.data.blobs, cache);
  if (!('base' in read.data)) {
    rememberBase(file, read.size, held);
    return true;
  }
  const baseFile = baseFileOf(file, read.data.base);
  const base = baseFile ? readEntry(baseFile) : undefined;
  if (baseFile && base && !('base' in base.data)) rememberBase(baseFile, base.size, seedBlobs(base.data.blobs, cache));
  return true;
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

/** Whether a blob's chunks can be written now (remembered, or read back and not yet dropped). */
const chunksAtHand = (blob: string, entry: BlobEntry): boolean =>
  seededChunks.has(entry) || lastWritten.get(entry)?.chunks === true || hasChunks(blob);

/** Whether a delta against `base` must carry a blob: the base does not hold it, or holds it without the chunks now at hand. */
function deltaCarries(base: Base, blob: string, entry: BlobEntry): boolean {
  const withChunks = base.blobs.get(blob);
  return withChunks === undefined || (!withChunks && chunksAtHand(blob, entry));
}

/** The full entry the entry written to `file` may be a delta against, if any (see DELTA_SHARE). */
function deltaBaseFor(file: string, entries: ReadonlyMap<string, BlobEntry>): Base | undefined {
  const base = bases.get(baseKey(file));
  // Rewriting the base itself as a delta against itself would lose the blobs it holds.
  if (!base || base.file === file || entries.size === 0) return undefined;
  let carried = 0;
  let shared = 0;
  for (const [blob, entry] of entries) {
    if (deltaCarries(base, blob, entry)) carried++;
    if (base.blobs.has(blob)) shared++;
  }
  const limit = entries.size * DELTA_SHARE;
  if (carried > limit || base.blobs.size - shared > limit) return undefined;
  try {
    // Evicted or replaced meanwhile: a delta against it would leave its readers to count the blobs.
    if (statSync(base.file).size !== base.size) return undefined;
  } catch {
    return undefined;
  }
  return base;
}

/**
 * Builds a snapshot's index, or loads it from `cacheDir` when the same content was indexed
 * before. A commit not indexed before starts from the repository's most recently used entry:
 * its unchanged files are not parsed or tokenised again, in this process or a later one. Its entry
 * is written as a delta against the full entry this process last read or wrote for the repository
 * when that holds most of its blobs, else in full.
 */
export function loadOrBuildIndex(
  snapshot: RepoSnapshot,
  options: IndexOptions & { cacheDir?: string; cacheMaxBytes?: number; cache?: BlobCache },
): { index: RepoIndex; cached: boolean } {
  const cache = options.cache ?? new BlobCache();
  if (!options.cacheDir) return { index: buildRepoIndex(snapshot, { ...options, cache }), cached: false };
  const tag = repositoryTag(snapshot, options);
  const file = join(options.cacheDir, `${tag}-${indexCacheKey(snapshot, options)}.json`);
  const candidates = snapshot.files.filter((f) => isCandidate(f.path, options));
  const missingCount = () => candidates.filter((f) => !cache.peek(f.blob)).length;
  const missing = () => missingCount() > 0;
  if (missing() && seedFrom(file, cache) && !missing()) {
    touchEntry(file);
    seededChunks = new Map();
    return { index: buildRepoIndex(snapshot, { ...options, cache }), cached: true };
  }
  if (!missing()) {
    // Everything is in memory already; the entry on disk is only refreshed when it exists.
    if (existsSync(file)) {
      touchEntry(file);
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
  const base = deltaBaseFor(file, entries);
  const { text, chunks } = serialise(entries, base);
  // Workers on several hosts may share the data directory and have the same pid (containers): a random name cannot collide.
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(tmp, text);
  const size = statSync(tmp).size;
  renameSync(tmp, file);
  // The base is used again, and marked so with the delta (see touchEntry).
  if (base) touchEntry(file, base.file);
  else rememberBase(file, size, chunks);
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
  return serialise(entries).text;
}

/** A full entry's text (a delta's with `base`: only the blobs it must carry), and each blob written with whether its chunks were. */
function serialise(
  entries: ReadonlyMap<string, BlobEntry>,
  base?: Base,
): { text: string; chunks: Map<string, boolean> } {
  const parts: string[] = [];
  const written = new Map<BlobEntry, { json: string; chunks: boolean }>();
  const chunks = new Map<string, boolean>();
  for (const [blob, entry] of entries) {
    let kept = lastWritten.get(entry);
    if (base && !deltaCarries(base, blob, entry)) {
      // Left to the base; a JSON made earlier is kept for the next full entry.
      if (kept) written.set(entry, kept);
      continue;
    }
    // Written without chunks (none were at hand): written again once the symbol index has counted them.
    if (!kept || (!kept.chunks && hasChunks(blob))) {
      const stored = seededChunks.get(entry) ?? storedChunks(blob, entry.stats.terms);
      kept = { json: JSON.stringify(stored ? { ...entry, chunks: stored } : entry), chunks: stored !== undefined };
    }
    written.set(entry, kept);
    chunks.set(blob, kept.chunks);
    parts.push(`${JSON.stringify(blob)}:${kept.json}`);
  }
  lastWritten = written;
  seededChunks = new Map();
  const head = `"version":${JSON.stringify(CACHE_VERSION)},"pkg":${JSON.stringify(packageVersion())}`;
  return {
    text: `{${head},${base ? `"base":${JSON.stringify(basename(base.file))},` : ''}"blobs":{${parts.join(',')}}}`,
    chunks,
  };
}

/** A read marks an entry as recently used (its mtime), which is what eviction orders by. */
function touch(file: string, at = new Date()): void {
  try {
    utimesSync(file, at, at);
  } catch {
    // A read-only cache or an entry evicted by another process meanwhile: the index was read, go on.
  }
}

/**
 * Marks an entry used, and a delta's base with it: the base a millisecond the older, so the delta
 * is the repository's most recently used entry, the one a new process starts from (it reads the
 * base with it; the base alone would lack the delta's files). Both times are set here, since a
 * file's mtime from a write comes from a coarser clock and may precede a time set just before.
 */
function touchEntry(file: string, base = deltaBaseOf(file)): void {
  const now = Date.now();
  if (base) touch(base, new Date(now - 1));
  touch(file, new Date(now));
}

/**
 * Least-recently-used eviction: deletes the cache's entries (indexes and LSI bases) oldest mtime
 * first (a read refreshes it) until their total size is at most `maxBytes`, never `keep` (the
 * entry just written, which alone may exceed the bound) nor, when `keep` is a delta, its base.
 * A base is never deleted before its deltas: it counts as used when its most recently used delta
 * was (reading a delta refreshes its base, but another process's clock may differ), and goes after
 * its deltas of that same time. A delta without its base would hold only the files that changed;
 * a base without its deltas still seeds the commits near it. Temporary files of writers in flight
 * are left alone. Returns the paths deleted.
 */
export function evictIndexes(cacheDir: string, maxBytes: number, keep?: string): string[] {
  const entries: Array<{ path: string; size: number; used: number; base: boolean }> = [];
  for (const name of readdirSync(cacheDir)) {
    // Index entries (.json) and fitted LSI bases (.bin) share one bound.
    if (!name.endsWith('.json') && !name.endsWith('.bin')) continue;
    const path = join(cacheDir, name);
    try {
      const st = statSync(path);
      if (st.isFile()) entries.push({ path, size: st.size, used: st.mtimeMs, base: false });
    } catch {
      // Gone meanwhile (another process evicted it).
    }
  }
  let total = entries.reduce((sum, e) => sum + e.size, 0);
  if (total <= maxBytes) return [];
  // Headers are read only when something must go: which entries are deltas, and of which base.
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const kept = new Set(keep === undefined ? [] : [keep]);
  for (const e of entries) {
    const of = e.path.endsWith('.json') ? byPath.get(deltaBaseOf(e.path) ?? '') : undefined;
    if (!of) continue;
    of.base = true;
    of.used = Math.max(of.used, e.used);
    if (e.path === keep) kept.add(of.path);
  }
  const deleted: string[] = [];
  entries.sort((a, b) => a.used - b.used || Number(a.base) - Number(b.base) || a.path.localeCompare(b.path));
  for (const e of entries) {
    if (total <= maxBytes) break;
    if (kept.has(e.path)) continue;
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
