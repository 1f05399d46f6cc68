import { createHash, randomUUID } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { evictIndexes, packageVersion } from '../index-cache.js';

// Bump when fitting or weighting changes what a basis holds (3: the term side is no longer
// orthonormalised, and a corpus of lower rank than the samples drawn is fitted exactly).
const BASIS_VERSION = 3;

/**
 * A fitted LSI model: the TF-IDF vocabulary, Bᵀ (terms × l, row-major by term) and the projection
 * W Σ⁻¹ (l × rank) that fold any document or query into the latent space, and the vectors of the
 * documents it was fitted on, by `path\0blob`.
 */
export interface LsiBasis {
  name: string;
  rank: number;
  l: number;
  vocab: Map<string, number>;
  idf: Float64Array;
  bt: Float32Array;
  projection: Float64Array;
  fitted: Map<string, Float32Array>;
  /** The commit of the snapshot it was fitted on, when that came from git. */
  commit?: string;
  /** Where it is stored, when it is. */
  file?: string;
}

interface Header {
  version: number;
  pkg: string;
  name: string;
  rank: number;
  l: number;
  vocab: string[];
  idf: number[];
  projection: number[];
  keys: string[];
  commit?: string;
}

/** Which files were candidates when a basis was fitted: a basis fitted with tests must not serve a run without. */
export interface BasisCandidates {
  includeTests?: boolean;
  includeDocs?: boolean;
}

/** The key of one document in a basis: where it sits and what it holds. */
export const docKey = (path: string, blob: string) => `${path}\0${blob}`;

export const tagOf = (repository: string, name: string, candidates: BasisCandidates = {}) =>
  createHash('sha256')
    .update(
      `${repository}\0${name}\0${candidates.includeTests ? '+tests' : ''}${candidates.includeDocs ? '+docs' : ''}`,
    )
    .digest('hex')
    .slice(0, 12);

/**
 * How far a basis's fitted documents are from a snapshot's, both ways: the larger of the share of
 * the snapshot's keys the basis lacks and the share of the basis's keys the snapshot lacks (a basis
 * fitted on many more files, tests say, is far too). Not a share of the union: a changed file is
 * missing on both sides, so that would count each change twice (108 changed files of sympy's 886,
 * 12%, read as 22%, and the next commit refitted instead of folding in).
 */
export function changedShare(
  fitted: { has(key: string): boolean; readonly size: number },
  keys: readonly string[],
): number {
  const own = new Set(keys);
  let shared = 0;
  for (const k of own) if (fitted.has(k)) shared++;
  const snapshotSide = own.size ? (own.size - shared) / own.size : 0;
  const basisSide = fitted.size ? (fitted.size - shared) / fitted.size : 0;
  return Math.max(snapshotSide, basisSide);
}

/** Writes a basis as one file (a JSON header, then the float32 arrays), replacing atomically. */
export function saveBasis(
  dir: string,
  repository: string,
  basis: LsiBasis,
  maxBytes?: number,
  candidates: BasisCandidates = {},
): string {
  const keys = [...basis.fitted.keys()];
  const header: Header = {
    version: BASIS_VERSION,
    pkg: packageVersion(),
    name: basis.name,
    rank: basis.rank,
    l: basis.l,
    vocab: [...basis.vocab.keys()],
    idf: [...basis.idf],
    projection: [...basis.projection],
    keys,
    commit: basis.commit,
  };
  const json = Buffer.from(JSON.stringify(header));
  const pad = (4 - ((4 + json.length) % 4)) % 4;
  const vectors = new Float32Array(keys.length * basis.rank);
  keys.forEach((k, i) => vectors.set(basis.fitted.get(k)!, i * basis.rank));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  // The commit too: the same content fitted at two commits differs in which snapshots may fold into it.
  const id = createHash('sha256')
    .update(`${basis.commit ?? ''}\n${[...keys].sort().join('\n')}`)
    .digest('hex')
    .slice(0, 24);
  const file = join(dir, `${tagOf(repository, basis.name, candidates)}-lsi-${id}.bin`);
  mkdirSync(dir, { recursive: true });
  // Workers in containers may share the data directory and have the same pid: a random name cannot collide.
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  writeFileSync(
    tmp,
    Buffer.concat([
      length,
      json,
      Buffer.alloc(pad),
      Buffer.from(basis.bt.buffer, basis.bt.byteOffset, basis.bt.byteLength),
      Buffer.from(vectors.buffer),
    ]),
  );
  renameSync(tmp, file);
  if (maxBytes !== undefined) evictIndexes(dir, maxBytes, file);
  return file;
}

function readHeader(file: string): Header | undefined {
  const fd = openSync(file, 'r');
  try {
    const len = Buffer.alloc(4);
    if (readSync(fd, len, 0, 4, 0) !== 4) return undefined;
    // A damaged length must not make us allocate gigabytes: the header lies within the file.
    if (len.readUInt32LE() > fstatSync(fd).size - 4) return undefined;
    const json = Buffer.alloc(len.readUInt32LE());
    if (readSync(fd, json, 0, json.length, 4) !== json.length) return undefined;
    const header = JSON.parse(json.toString('utf8')) as Header;
    return header.version === BASIS_VERSION && header.pkg === packageVersion() ? header : undefined;
  } finally {
    closeSync(fd);
  }
}

/** Reads a whole basis; undefined when the file is damaged, truncated or of another version. */
export function loadBasis(file: string): LsiBasis | undefined {
  try {
    const header = readHeader(file);
    if (!header) return undefined;
    const { rank, l, vocab, idf, projection, keys, commit } = header;
    if (commit !== undefined && typeof commit !== 'string') return undefined;
    const m = vocab.length;
    if (idf.length !== m || projection.length !== l * rank) return undefined;
    const bytes = readFileSync(file);
    const start = 4 + bytes.readUInt32LE(0);
    const offset = start + ((4 - (start % 4)) % 4);
    if (bytes.length !== offset + 4 * (m * l + keys.length * rank)) return undefined;
    // A copy: a Buffer's offset in its pool need not be 4-aligned.
    const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + bytes.length));
    if (floats.some((x) => !Number.isFinite(x))) return undefined;
    const fitted = new Map<string, Float32Array>();
    keys.forEach((k, i) => fitted.set(k, floats.slice(m * l + i * rank, m * l + (i + 1) * rank)));
    touch(file);
    return {
      name: header.name,
      rank,
      l,
      vocab: new Map(vocab.map((t, i) => [t, i])),
      idf: Float64Array.from(idf),
      bt: floats.slice(0, m * l),
      projection: Float64Array.from(projection),
      fitted,
      commit,
      file,
    };
  } catch {
    return undefined;
  }
}

function touch(file: string): void {
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // Read-only cache: the basis was read, go on.
  }
}

/**
 * The stored bases of this repository, embedder and candidate options at most `maxChanged` from
 * these documents (see changedShare), closest first (ties: the most recently used), with their
 * commits; `accepts` then picks. Only headers are read to choose.
 */
export function storedBases(
  dir: string,
  repository: string,
  name: string,
  candidates: BasisCandidates,
  keys: readonly string[],
  maxChanged: number,
): Array<{ file: string; changed: number; commit?: string }> {
  const prefix = `${tagOf(repository, name, candidates)}-lsi-`;
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(prefix) && n.endsWith('.bin'));
  } catch {
    return [];
  }
  const found: Array<{ file: string; changed: number; commit?: string; mtimeMs: number }> = [];
  for (const n of names) {
    const file = join(dir, n);
    try {
      const header = readHeader(file);
      if (!header || header.name !== name || !Array.isArray(header.keys)) continue;
      const changed = changedShare(new Set(header.keys), keys);
      if (changed > maxChanged) continue;
      found.push({
        file,
        changed,
        commit: typeof header.commit === 'string' ? header.commit : undefined,
        mtimeMs: statSync(file).mtimeMs,
      });
    } catch {
      // Damaged or evicted meanwhile: skip it.
    }
  }
  return found
    .sort((a, b) => a.changed - b.changed || b.mtimeMs - a.mtimeMs)
    .map(({ file, changed, commit }) => ({ file, changed, commit }));
}
