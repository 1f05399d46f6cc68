import { spawnSync } from 'node:child_process';
import { pathTokens, tokenize } from '../tokenize.js';
import { type CorpusEmbedding, type Embedder, type EmbeddingCorpus, normalise } from './embedder.js';
import { changedShare, docKey, loadBasis, type LsiBasis, saveBasis, storedBases, tagOf } from './lsi-store.js';
import { symmetricEigen } from './symmetric-eigen.js';

/**
 * `count` seeded standard normal numbers (Box-Muller over a small 32-bit generator, mulberry32), so
 * the same repository always gets the same vectors: the test matrix of the randomized SVD.
 */
export function gaussians(seed: number, count: number): Float64Array {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const radius = Math.sqrt(-2 * Math.log(uniform() + 1e-12));
    out[i] = radius * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}

/** A sparse matrix by rows: row i's entries are `cols`/`vals` from `rowPtr[i]` to `rowPtr[i + 1]`. */
export interface SparseRows {
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
}

/**
 * The transpose of a `rows`-row, `cols`-column sparse matrix, by rows; each of its rows lists its
 * entries in ascending column order, the order the original's rows come in.
 */
export function transposeRows(a: SparseRows, rows: number, cols: number): SparseRows {
  const nnz = a.rowPtr[rows]!;
  const rowPtr = new Int32Array(cols + 1);
  for (let p = 0; p < nnz; p++) rowPtr[a.cols[p]! + 1]!++;
  for (let c = 0; c < cols; c++) rowPtr[c + 1]! += rowPtr[c]!;
  const next = rowPtr.slice(0, cols);
  const t: SparseRows = { rowPtr, cols: new Int32Array(nnz), vals: new Float64Array(nnz) };
  for (let i = 0; i < rows; i++) {
    for (let p = a.rowPtr[i]!; p < a.rowPtr[i + 1]!; p++) {
      const q = next[a.cols[p]!]!++;
      t.cols[q] = i;
      t.vals[q] = a.vals[p]!;
    }
  }
  return t;
}

/**
 * A·X for a sparse A of `rows` rows and a column-major X of `l` columns (as many rows as A has
 * columns), column-major out. Each output sums its row's entries in order from 0, as a loop per
 * output would, but eight output columns run per pass over a row: the eight sums are independent
 * chains of additions and share the row's loads (two to three times as fast as a row-major product
 * with the transposes it needs, and bit for bit the same).
 * Every output is written, so `out` (rows × l, not `x`) may be a buffer used before.
 */
export function sparseTimes(a: SparseRows, rows: number, x: Float64Array, l: number, out: Float64Array = new Float64Array(rows * l)): Float64Array {
  const { rowPtr, cols: idx, vals } = a;
  const xRows = x.length / l;
  let j = 0;
  for (; j + 7 < l; j += 8) {
    const x0 = j * xRows;
    const [x1, x2, x3, x4, x5, x6, x7] = [x0 + xRows, x0 + 2 * xRows, x0 + 3 * xRows, x0 + 4 * xRows, x0 + 5 * xRows, x0 + 6 * xRows, x0 + 7 * xRows];
    const o0 = j * rows;
    for (let r = 0; r < rows; r++) {
      let [d0, d1, d2, d3, d4, d5, d6, d7] = [0, 0, 0, 0, 0, 0, 0, 0];
      const end = rowPtr[r + 1]!;
      for (let p = rowPtr[r]!; p < end; p++) {
        const v = vals[p]!;
        const c = idx[p]!;
        d0 += v * x[x0 + c]!;
        d1 += v * x[x1 + c]!;
        d2 += v * x[x2 + c]!;
        d3 += v * x[x3 + c]!;
        d4 += v * x[x4 + c]!;
        d5 += v * x[x5 + c]!;
        d6 += v * x[x6 + c]!;
        d7 += v * x[x7 + c]!;
      }
      out[o0 + r] = d0;
      out[o0 + rows + r] = d1;
      out[o0 + 2 * rows + r] = d2;
      out[o0 + 3 * rows + r] = d3;
      out[o0 + 4 * rows + r] = d4;
      out[o0 + 5 * rows + r] = d5;
      out[o0 + 6 * rows + r] = d6;
      out[o0 + 7 * rows + r] = d7;
    }
  }
  for (; j < l; j++) {
    const xj = j * xRows;
    const oj = j * rows;
    for (let r = 0; r < rows; r++) {
      let d = 0;
      const end = rowPtr[r + 1]!;
      for (let p = rowPtr[r]!; p < end; p++) d += vals[p]! * x[xj + idx[p]!]!;
      out[oj + r] = d;
    }
  }
  return out;
}

/**
 * Dot products of column `i` of `a` with the eight columns from `j` of `b`, both column-major with
 * `n` rows, into `out`. Each sum runs over the rows in order, exactly as one loop per column would,
 * but the eight run side by side: one long chain of dependent additions waits on each addition,
 * eight independent ones do not (about twice as fast, and bit for bit the same).
 */
function dots8(a: Float64Array, b: Float64Array, n: number, i: number, j: number, out: Float64Array): void {
  const ci = i * n;
  const c0 = j * n;
  const [c1, c2, c3, c4, c5, c6, c7] = [c0 + n, c0 + 2 * n, c0 + 3 * n, c0 + 4 * n, c0 + 5 * n, c0 + 6 * n, c0 + 7 * n];
  let [d0, d1, d2, d3, d4, d5, d6, d7] = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let r = 0; r < n; r++) {
    const q = a[ci + r]!;
    d0 += q * b[c0 + r]!;
    d1 += q * b[c1 + r]!;
    d2 += q * b[c2 + r]!;
    d3 += q * b[c3 + r]!;
    d4 += q * b[c4 + r]!;
    d5 += q * b[c5 + r]!;
    d6 += q * b[c6 + r]!;
    d7 += q * b[c7 + r]!;
  }
  out[0] = d0;
  out[1] = d1;
  out[2] = d2;
  out[3] = d3;
  out[4] = d4;
  out[5] = d5;
  out[6] = d6;
  out[7] = d7;
}

/**
 * Xᵀ Y for two column-major matrices of `n` rows and `l` columns, symmetrised ((XᵀY + YᵀX) / 2),
 * l × l row-major: for the Rayleigh quotient Qᵀ (A Aᵀ Q), which is symmetric but for rounding.
 */
export function symmetricCross(x: Float64Array, y: Float64Array, n: number, l: number): Float64Array {
  const full = new Float64Array(l * l);
  const d8 = new Float64Array(8);
  for (let i = 0; i < l; i++) {
    let j = 0;
    for (; j + 7 < l; j += 8) {
      dots8(x, y, n, i, j, d8);
      full.set(d8, i * l + j);
    }
    for (; j < l; j++) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += x[i * n + r]! * y[j * n + r]!;
      full[i * l + j] = dot;
    }
  }
  const c = new Float64Array(l * l);
  for (let i = 0; i < l; i++) for (let j = 0; j < l; j++) c[i * l + j] = (full[i * l + j]! + full[j * l + i]!) / 2;
  return c;
}

/**
 * Orthonormalises the columns of an n × l column-major matrix in place: modified Gram-Schmidt in
 * its right-looking order (each column, once final, is normalised and taken out of every later
 * one). Every column sees the same operations in the same order as in the left-looking order, so
 * the result is bit for bit the same, but the later columns' dot products can run eight at a time.
 * A column left with at most `tolerance` of its length once the earlier ones are out of it lies in
 * their span but for rounding: it is zeroed, not scaled up into a direction that cannot be made
 * orthogonal (with the default 0, only columns already zero stay zero). `factor`, when given
 * (l × l, row-major, zeros below the diagonal), gets R of m before = m after · R.
 */
export function orthonormalise(m: Float64Array, n: number, l: number, tolerance = 0, factor?: Float64Array): void {
  const d = new Float64Array(8);
  const before = new Float64Array(l);
  if (tolerance > 0) {
    for (let i = 0; i < l; i++) {
      let norm = 0;
      for (let r = i * n; r < (i + 1) * n; r++) norm += m[r]! ** 2;
      before[i] = Math.sqrt(norm);
    }
  }
  for (let i = 0; i < l; i++) {
    const ci = i * n;
    let norm = 0;
    for (let r = 0; r < n; r++) norm += m[ci + r]! ** 2;
    norm = Math.sqrt(norm);
    if (norm <= tolerance * before[i]!) {
      m.fill(0, ci, ci + n);
      continue;
    }
    if (factor) factor[i * l + i] = norm;
    for (let r = 0; r < n; r++) m[ci + r]! /= norm;
    let j = i + 1;
    for (; j + 7 < l; j += 8) {
      dots8(m, m, n, i, j, d);
      if (factor) factor.set(d, i * l + j);
      const c0 = j * n;
      const [c1, c2, c3, c4, c5, c6, c7] = [c0 + n, c0 + 2 * n, c0 + 3 * n, c0 + 4 * n, c0 + 5 * n, c0 + 6 * n, c0 + 7 * n];
      const [d0, d1, d2, d3, d4, d5, d6, d7] = [d[0]!, d[1]!, d[2]!, d[3]!, d[4]!, d[5]!, d[6]!, d[7]!];
      for (let r = 0; r < n; r++) {
        const q = m[ci + r]!;
        m[c0 + r]! -= d0 * q;
        m[c1 + r]! -= d1 * q;
        m[c2 + r]! -= d2 * q;
        m[c3 + r]! -= d3 * q;
        m[c4 + r]! -= d4 * q;
        m[c5 + r]! -= d5 * q;
        m[c6 + r]! -= d6 * q;
        m[c7 + r]! -= d7 * q;
      }
    }
    for (; j < l; j++) {
      const cj = j * n;
      let dot = 0;
      for (let r = 0; r < n; r++) dot += m[ci + r]! * m[cj + r]!;
      if (factor) factor[i * l + j] = dot;
      for (let r = 0; r < n; r++) m[cj + r]! -= dot * m[ci + r]!;
    }
  }
}

/**
 * The 1-norm condition number ‖R‖₁‖R⁻¹‖₁ of an l × l upper triangular R (row-major), Infinity when
 * a diagonal entry is 0. R⁻¹ by back substitution: l³/6 multiply-adds, nothing beside the n·l² of
 * the Gram-Schmidt pass that made R.
 */
export function triangularCondition(r: Float64Array, l: number): number {
  let norm = 0;
  for (let j = 0; j < l; j++) {
    let col = 0;
    for (let i = 0; i <= j; i++) col += Math.abs(r[i * l + j]!);
    norm = Math.max(norm, col);
  }
  let inverseNorm = 0;
  const x = new Float64Array(l);
  for (let k = 0; k < l; k++) {
    if (r[k * l + k] === 0) return Infinity;
    // Column k of R⁻¹: R x = e_k, x zero below k.
    x[k] = 1 / r[k * l + k]!;
    let col = Math.abs(x[k]!);
    for (let i = k - 1; i >= 0; i--) {
      let s = 0;
      for (let j = i + 1; j <= k; j++) s += r[i * l + j]! * x[j]!;
      x[i] = -s / r[i * l + i]!;
      col += Math.abs(x[i]!);
    }
    inverseNorm = Math.max(inverseNorm, col);
  }
  return norm * inverseNorm;
}

type Counts = { terms: readonly string[]; counts: readonly number[] };

function countTokens(tokens: readonly string[]): Counts {
  const counts = new Map<string, number>();
  for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
  return { terms: [...counts.keys()], counts: [...counts.values()] };
}

/** Sublinear TF-IDF of a document's counts over a vocabulary, unit length, as (column, weight) pairs. */
function weigh(doc: Counts, vocab: ReadonlyMap<string, number>, idf: ArrayLike<number>): Array<readonly [number, number]> {
  const tf = new Map<number, number>();
  doc.terms.forEach((t, i) => {
    const col = vocab.get(t);
    if (col !== undefined) tf.set(col, (tf.get(col) ?? 0) + doc.counts[i]!);
  });
  const entries = [...tf].map(([col, count]) => [col, (1 + Math.log(count)) * idf[col]!] as const);
  const norm = Math.sqrt(entries.reduce((s, [, v]) => s + v * v, 0)) || 1;
  return entries.map(([col, v]) => [col, v / norm] as const);
}

/**
 * The corpus as sparse sublinear TF-IDF rows, unit length, as `weigh` gives each document, with its
 * vocabulary: terms in at least 2 files (or any, for tiny repositories) and not in most of them.
 * Terms are numbered once for the whole corpus, so each document is weighed over integer ids and a
 * scratch array, not a Map per document.
 */
export function weighCorpus(docs: readonly Counts[]): { a: SparseRows; n: number; m: number; vocab: Map<string, number>; idf: Float64Array } {
  const n = docs.length;
  const ids = new Map<string, number>();
  const names: string[] = [];
  const df: number[] = [];
  // The last document each term was counted in: a term listed twice in a file counts once.
  const seenIn: number[] = [];
  const docIds = docs.map((doc, d) => {
    const out = new Int32Array(doc.terms.length);
    doc.terms.forEach((t, i) => {
      let id = ids.get(t);
      if (id === undefined) {
        id = names.length;
        ids.set(t, id);
        names.push(t);
        df.push(0);
        seenIn.push(-1);
      }
      if (seenIn[id] !== d) {
        seenIn[id] = d;
        df[id]!++;
      }
      out[i] = id;
    });
    return out;
  });
  const column = new Int32Array(names.length).fill(-1);
  const vocab = new Map<string, number>();
  const idfList: number[] = [];
  names.forEach((term, id) => {
    const count = df[id]!;
    if (n >= 20 && (count < 2 || count > 0.5 * n)) return;
    column[id] = idfList.length;
    vocab.set(term, idfList.length);
    idfList.push(Math.log((n + 1) / (count + 1)) + 1);
  });
  const idf = Float64Array.from(idfList);
  const m = idf.length;
  let nnz = 0;
  for (const row of docIds) for (const id of row) if (column[id]! >= 0) nnz++;
  const a: SparseRows = { rowPtr: new Int32Array(n + 1), cols: new Int32Array(nnz), vals: new Float64Array(nnz) };
  // Where each column's entry sits in A (this document's, when at or past its first): a repeated
  // term adds its count to its first entry.
  const at = new Int32Array(m).fill(-1);
  let k = 0;
  docIds.forEach((row, i) => {
    const first = k;
    const counts = docs[i]!.counts;
    row.forEach((id, j) => {
      const col = column[id]!;
      if (col < 0) return;
      if (at[col]! < first) {
        at[col] = k;
        a.cols[k] = col;
        a.vals[k++] = 0;
      }
      a.vals[at[col]!]! += counts[j]!;
    });
    let norm = 0;
    for (let p = first; p < k; p++) {
      const v = (1 + Math.log(a.vals[p]!)) * idf[a.cols[p]!]!;
      a.vals[p] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm) || 1;
    for (let p = first; p < k; p++) a.vals[p]! /= norm;
    a.rowPtr[i + 1] = k;
  });
  return { a: k === nnz ? a : { rowPtr: a.rowPtr, cols: a.cols.slice(0, k), vals: a.vals.slice(0, k) }, n, m, vocab, idf };
}

/**
 * Orthonormalises the columns of an n × l column-major matrix to rounding, however ill-conditioned:
 * modified Gram-Schmidt leaves Q off orthogonal by about the unit roundoff times the condition of
 * the columns (Björck 1967), and a second pass then makes it orthogonal to rounding ("twice is
 * enough", Giraud et al. 2005). The second pass runs only where the first's R says it is needed
 * (l·κ₁(R) over 1e6, a loss above about 1e-10). A column left with at most 1e-10 of its length is
 * zeroed, and then the second pass always runs: more columns than the matrix's rank (xarray's 122
 * files, one without a vocabulary term, for 122 columns) leave a column of rounding only, which
 * Gram-Schmidt would scale up to a unit column far from orthogonal to the others.
 */
export function orthonormaliseStably(m: Float64Array, n: number, l: number): void {
  const r = new Float64Array(l * l);
  orthonormalise(m, n, l, 1e-10, r);
  if (l * triangularCondition(r, l) > 1e6) orthonormalise(m, n, l, 1e-10);
}

/** What a basis needs of A's truncated SVD A ≈ Q W Σ Vₖᵀ (see truncatedSvd). */
export interface TruncatedSvd {
  /** n × l, column-major, orthonormal columns (or zero ones): the range found. */
  q: Float64Array;
  /** Bᵀ = Aᵀ Q, m × l, column-major. */
  bt: Float64Array;
  /** The eigenvectors of B Bᵀ kept, largest first, one contiguous row each: wk[d·l + j] = W[j][d]. */
  wk: Float64Array;
  /** The singular values kept, largest first (at least 1e-6). */
  sigma: number[];
}

/**
 * The top `rank` singular values and vectors of an n × m sparse A (n documents, m terms) from `l`
 * (≥ rank) random samples of its range: Halko et al.'s randomized SVD with two power iterations.
 * Q = orth((A Aᵀ)² A Ω) for an m × l Gaussian test matrix Ω, B = Qᵀ A, and B's SVD from the
 * eigenvectors W and eigenvalues σ² of the l × l matrix C = B Bᵀ: A's left singular vectors are Q W.
 */
export function truncatedSvd(a: SparseRows, n: number, m: number, rank: number, l: number, seed: number): TruncatedSvd {
  // Only the document side (n × l) is orthonormalised. Orthonormalising the term side too
  // (m × l, m ≫ n: sympy's 15,253 terms against 886 files), Z = Aᵀ Q = Z' R, only multiplied the
  // next A Z by R⁻¹, upper triangular with a positive diagonal, and Gram-Schmidt gives A Z R⁻¹ the
  // same Q as A Z: the vectors are the same but for rounding, and that pass was a third of the fit.
  // Without it each step's columns spread as σ₁²/σₗ², not σ₁/σₗ, well within float64, and the
  // document side is orthonormalised to rounding.
  // A·X (n × l) from X (m × l), or Aᵀ·Y (m × l) from Y (n × l); column-major in and out. One
  // m × l buffer holds Ω, then each Aᵀ Q, then Bᵀ (sympy: 17 MB, allocated once, not four times).
  const aT = transposeRows(a, n, m);
  const terms = gaussians(seed, m * l);
  const q = sparseTimes(a, n, terms, l);
  orthonormaliseStably(q, n, l);
  for (let it = 0; it < 2; it++) {
    sparseTimes(a, n, sparseTimes(aT, m, q, l, terms), l, q);
    orthonormaliseStably(q, n, l);
  }
  // C = B Bᵀ = Qᵀ (A Bᵀ): a product with A and an l × l × n one, instead of m·l² over the terms.
  const bt = sparseTimes(aT, m, q, l, terms);
  const { values, vectors } = symmetricEigen(symmetricCross(q, sparseTimes(a, n, bt, l), n, l), l);
  const order = Array.from(values, (v, i) => [v, i] as const).sort((p, r) => r[0] - p[0]).slice(0, rank);
  const wk = new Float64Array(rank * l);
  order.forEach(([, e], d) => wk.set(vectors.subarray(e * l, (e + 1) * l), d * l));
  return { q, bt, wk, sigma: order.map(([v]) => Math.sqrt(Math.max(v, 1e-12))) };
}

/** Folds a document or query into a basis: q Vₖ = (q Bᵀ) W Σ⁻¹, unit length. */
function fold(basis: LsiBasis, doc: Counts): Float32Array {
  const { l, rank, bt, projection } = basis;
  const qb = new Float64Array(l);
  for (const [col, v] of weigh(doc, basis.vocab, basis.idf)) {
    const row = col * l;
    for (let j = 0; j < l; j++) qb[j]! += v * bt[row + j]!;
  }
  const vec = new Float32Array(rank);
  for (let j = 0; j < l; j++) {
    const x = qb[j]!;
    if (x === 0) continue;
    for (let d = 0; d < rank; d++) vec[d]! += x * projection[j * rank + d]!;
  }
  return normalise(vec);
}

const ancestry = new Map<string, boolean>();
/** Whether `ancestor` is `commit` or one of its ancestors; asked of git once per pair per process. */
function isAncestor(gitDir: string, ancestor: string, commit: string): boolean {
  if (ancestor === commit) return true;
  const key = `${gitDir}\0${ancestor}\0${commit}`;
  let answer = ancestry.get(key);
  if (answer === undefined) {
    answer = spawnSync('git', ['--git-dir', gitDir, 'merge-base', '--is-ancestor', ancestor, commit], { stdio: 'ignore' }).status === 0;
    ancestry.set(key, answer);
  }
  return answer;
}

/** Bases in memory are kept apart by repository and candidate options, like the stored ones. */
const groupOf = (corpus: EmbeddingCorpus) => `${corpus.repository ?? ''}\0${tagOf('', '', corpus.candidates)}`;

/** Options of the LSI embedder. */
export interface LsiOptions {
  dimensions?: number;
  seed?: number;
  /**
   * The largest share of a snapshot's files the basis lacks, and of the basis's files the snapshot
   * lacks, for the snapshot to be folded into the basis instead of refitted (default 0.2).
   */
  maxChangedShare?: number;
}

/**
 * Latent semantic indexing fitted on the repository itself: sublinear TF-IDF over code tokens, then a
 * randomized truncated SVD (Halko et al.) to `dimensions` latent topics. Needs no download and no
 * network; queries are folded into the same space.
 *
 * Another commit of a repository is folded into a basis fitted before (in this process, or stored
 * in the corpus's cache folder) when the basis was fitted at that commit or one of its ancestors,
 * over the same candidate options, and at most 20% of either's files are missing from the other: those
 * shared keep their fitted vectors, the others are folded in like queries, and terms new since the
 * fit are not in the vocabulary. Never into a basis from a later commit: its vocabulary, IDF and
 * latent space could hold the very fix the snapshot is asked about. Without a commit (a directory)
 * only a basis of exactly the same files serves. Otherwise the snapshot gets its own fit. A folded snapshot's
 * vectors therefore depend on which basis was at hand; the README gives the measured difference.
 */
export class LsiEmbedder implements Embedder {
  readonly name: string;
  private readonly dimensions: number;
  private readonly seed: number;
  private readonly maxChangedShare: number;
  /** Bases fitted or loaded in this process, by repository, most recent last. */
  private readonly bases = new Map<string, LsiBasis[]>();
  /** How the last corpus was embedded, for benchmarks and tests. */
  lastFit: { kind: 'fitted' | 'folded' | 'degenerate'; folded: number; share: number } | undefined;

  constructor(options: LsiOptions | number = {}, seed?: number) {
    // A bare number is the dimensions (the constructor's earlier form).
    const o: LsiOptions = typeof options === 'number' ? { dimensions: options, seed } : options;
    this.dimensions = o.dimensions ?? 128;
    this.seed = o.seed ?? 7;
    this.maxChangedShare = o.maxChangedShare ?? 0.2;
    this.name = `lsi-${this.dimensions}`;
  }

  async embedCorpus(corpus: EmbeddingCorpus): Promise<CorpusEmbedding> {
    const docs: Counts[] = corpus.paths.map((p) => corpus.terms?.get(p) ?? countTokens([...pathTokens(p), ...tokenize(corpus.texts.get(p) ?? '')]));
    const keys = corpus.blobs && corpus.repository ? corpus.paths.map((p) => docKey(p, corpus.blobs!.get(p) ?? '')) : undefined;
    const basis = keys && this.reusableBasis(corpus, keys);
    if (basis) {
      let folded = 0;
      const vectors = docs.map((doc, i) => {
        const fitted = basis.fitted.get(keys![i]!);
        if (fitted) return fitted;
        folded++;
        return fold(basis, doc);
      });
      this.lastFit = { kind: 'folded', folded, share: folded / Math.max(1, docs.length) };
      return { dimensions: basis.rank, vectors, embedQuery: async (text) => fold(basis, countTokens(tokenize(text))) };
    }
    const fit = this.fit(docs, keys ?? corpus.paths.map((p) => docKey(p, '')));
    if ('basis' in fit && keys) fit.basis.commit = corpus.commit;
    if ('degenerate' in fit) {
      this.lastFit = { kind: 'degenerate', folded: 0, share: 0 };
      return fit.degenerate;
    }
    this.lastFit = { kind: 'fitted', folded: 0, share: 0 };
    if (keys && corpus.repository) {
      this.remember(groupOf(corpus), fit.basis);
      if (corpus.cache) {
        try {
          fit.basis.file = saveBasis(corpus.cache.dir, corpus.repository, fit.basis, corpus.cache.maxBytes, corpus.candidates);
        } catch {
          // A full or read-only disk only costs the next process a refit.
        }
      }
    }
    const basis_ = fit.basis;
    return { dimensions: basis_.rank, vectors: keys ? keys.map((k) => basis_.fitted.get(k)!) : [...basis_.fitted.values()], embedQuery: async (text) => fold(basis_, countTokens(tokenize(text))) };
  }

  private remember(group: string, basis: LsiBasis): void {
    const list = this.bases.get(group) ?? [];
    list.push(basis);
    // A few per repository: enough for a dataset that moves back and forth between its commits.
    if (list.length > 4) list.shift();
    this.bases.set(group, list);
  }

  /** Whether a snapshot may be folded into a basis this far from it (see the class comment). */
  private mayFold(corpus: EmbeddingCorpus, basisCommit: string | undefined, changed: number): boolean {
    if (changed > this.maxChangedShare) return false;
    if (corpus.commit && basisCommit && corpus.gitDir) return isAncestor(corpus.gitDir, basisCommit, corpus.commit);
    return changed === 0;
  }

  /** A basis this snapshot may be folded into, the closest first: in memory, else stored. */
  private reusableBasis(corpus: EmbeddingCorpus, keys: readonly string[]): LsiBasis | undefined {
    const group = groupOf(corpus);
    let best: { basis: LsiBasis; changed: number } | undefined;
    for (const b of this.bases.get(group) ?? []) {
      const changed = changedShare(b.fitted, keys);
      if ((!best || changed <= best.changed) && this.mayFold(corpus, b.commit, changed)) best = { basis: b, changed };
    }
    if (best) return best.basis;
    if (!corpus.cache) return undefined;
    for (const stored of storedBases(corpus.cache.dir, corpus.repository!, this.name, corpus.candidates ?? {}, keys, this.maxChangedShare)) {
      if (!this.mayFold(corpus, stored.commit, stored.changed)) continue;
      const basis = loadBasis(stored.file);
      if (!basis || basis.name !== this.name) continue;
      this.remember(group, basis);
      return basis;
    }
    return undefined;
  }

  /** Fits a basis on the documents (keys name them), or says the corpus is too small for an SVD. */
  private fit(docs: readonly Counts[], keys: readonly string[]): { basis: LsiBasis } | { degenerate: CorpusEmbedding } {
    const { a, n, m, vocab, idf } = weighCorpus(docs);
    const rank = Math.max(1, Math.min(this.dimensions, n - 1, m - 1));
    const l = Math.min(rank + 10, n, m);
    if (n < 2 || m < 2 || l < 1) return { degenerate: this.degenerate(a, n, vocab, idf) };

    const { q, bt, wk, sigma } = truncatedSvd(a, n, m, rank, l, this.seed);
    // Documents: U Σ = Q W Σ (n × rank). Queries and folded documents: q Vₖ = (q Bᵀ) W Σ⁻¹.
    const fitted = new Map<string, Float32Array>();
    const qi = new Float64Array(l);
    const dims = new Float64Array(rank);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < l; j++) qi[j] = q[j * n + i]!;
      // Four dimensions per pass over the row: four independent sums, each over j in order.
      let d = 0;
      for (; d + 3 < rank; d += 4) {
        const [w0, w1, w2, w3] = [d * l, (d + 1) * l, (d + 2) * l, (d + 3) * l];
        let [s0, s1, s2, s3] = [0, 0, 0, 0];
        for (let j = 0; j < l; j++) {
          const x = qi[j]!;
          s0 += x * wk[w0 + j]!;
          s1 += x * wk[w1 + j]!;
          s2 += x * wk[w2 + j]!;
          s3 += x * wk[w3 + j]!;
        }
        dims[d] = s0;
        dims[d + 1] = s1;
        dims[d + 2] = s2;
        dims[d + 3] = s3;
      }
      for (; d < rank; d++) {
        let s = 0;
        for (let j = 0; j < l; j++) s += qi[j]! * wk[d * l + j]!;
        dims[d] = s;
      }
      const vec = new Float32Array(rank);
      for (let e = 0; e < rank; e++) vec[e] = dims[e]! * sigma[e]!;
      fitted.set(keys[i]!, normalise(vec));
    }
    const projection = new Float64Array(l * rank);
    for (let j = 0; j < l; j++) for (let d = 0; d < rank; d++) projection[j * rank + d] = wk[d * l + j]! / sigma[d]!;
    // Bᵀ row-major by term, in float32: what is stored on disk is exactly what a fresh fit uses.
    const btRows = new Float32Array(m * l);
    for (let j = 0; j < l; j++) {
      const bj = j * m;
      for (let t = 0; t < m; t++) btRows[t * l + j] = bt[bj + t]!;
    }
    return { basis: { name: this.name, rank, l, vocab, idf, bt: btRows, projection, fitted } };
  }

  /** Too few files or terms for an SVD: plain normalised TF-IDF over the (tiny) vocabulary. */
  private degenerate(a: SparseRows, n: number, vocab: ReadonlyMap<string, number>, idf: Float64Array): CorpusEmbedding {
    const dims = Math.max(1, idf.length);
    const vectors: Float32Array[] = [];
    for (let i = 0; i < n; i++) {
      const v = new Float32Array(dims);
      for (let p = a.rowPtr[i]!; p < a.rowPtr[i + 1]!; p++) v[a.cols[p]!] = a.vals[p]!;
      vectors.push(normalise(v));
    }
    return {
      dimensions: dims,
      vectors,
      embedQuery: async (text) => {
        const v = new Float32Array(dims);
        for (const t of tokenize(text)) {
          const col = vocab.get(t);
          if (col !== undefined) v[col]! += idf[col]!;
        }
        return normalise(v);
      },
    };
  }
}
