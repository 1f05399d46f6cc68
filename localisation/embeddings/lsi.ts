import { spawnSync } from 'node:child_process';
import { pathTokens, tokenize } from '../tokenize.js';
import { type CorpusEmbedding, type Embedder, type EmbeddingCorpus, normalise } from './embedder.js';
import { changedShare, docKey, loadBasis, type LsiBasis, saveBasis, storedBases, tagOf } from './lsi-store.js';
import { PanelArena } from './panel-kernel.js';
import { symmetricEigen } from './symmetric-eigen.js';

const TWO_PI = 2 * Math.PI;

/** How many columns the panel holding column j of an l-column matrix has: 8, or fewer in the last. */
const panelWidth = (j: number, l: number) => Math.min(8, l - (j - (j & 7)));

/** mulberry32's output for a state (its 32 bits as an int32): uniform in [0, 1). */
function mulberry32(state: number): number {
  let t = Math.imul(state ^ (state >>> 15), state | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/**
 * `count` seeded standard normal numbers (Box-Muller over a small 32-bit generator, mulberry32), so
 * the same repository always gets the same vectors: the test matrix of the randomized SVD.
 */
export function gaussians(seed: number, count: number): Float64Array {
  return gaussianPanels(seed, count, 1);
}

/**
 * gaussians(seed, rows · l) as a rows × l matrix, column j holding the numbers from j · rows on,
 * laid out in panels (see `panelsFromColumns`): the product reads it there without a copy. The
 * generator's state is kept as an int32 (the same 32 bits as the unsigned form, without the
 * doubles an unsigned state over 2³¹ becomes).
 */
export function gaussianPanels(
  seed: number,
  rows: number,
  l: number,
  out: Float64Array = new Float64Array(rows * l),
): Float64Array {
  let state = seed | 0;
  for (let j = 0; j < l; j++) {
    const w = panelWidth(j, l);
    const base = (j - (j & 7)) * rows + (j & 7);
    for (let r = 0; r < rows; r++) {
      state = (state + 0x6d2b79f5) | 0;
      const radius = Math.sqrt(-2 * Math.log(mulberry32(state) + 1e-12));
      state = (state + 0x6d2b79f5) | 0;
      out[base + r * w] = radius * Math.cos(TWO_PI * mulberry32(state));
    }
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
 * A column-major rows × l matrix in panels: columns in groups of eight (the last group l mod 8
 * wide), each group stored row by row, so entry (r, j) sits at 8⌊j/8⌋ · rows + r · w + j mod 8 for
 * its group's width w. A product that takes eight columns per pass over A finds a row's eight
 * entries side by side (one or two cache lines, not eight) and writes its eight sums together.
 */
export function panelsFromColumns(
  c: Float64Array,
  rows: number,
  l: number,
  out: Float64Array = new Float64Array(rows * l),
): Float64Array {
  for (let j = 0; j < l; j++) {
    const w = panelWidth(j, l);
    const base = (j - (j & 7)) * rows + (j & 7);
    const cj = j * rows;
    for (let r = 0; r < rows; r++) out[base + r * w] = c[cj + r]!;
  }
  return out;
}

/** The column-major form of a rows × l matrix in panels (see `panelsFromColumns`). */
export function columnsFromPanels(
  p: Float64Array,
  rows: number,
  l: number,
  out: Float64Array = new Float64Array(rows * l),
): Float64Array {
  for (let j = 0; j < l; j++) {
    const w = panelWidth(j, l);
    const base = (j - (j & 7)) * rows + (j & 7);
    const cj = j * rows;
    for (let r = 0; r < rows; r++) out[cj + r] = p[base + r * w]!;
  }
  return out;
}

/** The row-major form (row r's l entries from r · l) of a rows × l matrix in panels, into `out` (float32 rounds each). */
export function rowsFromPanels<T extends Float64Array | Float32Array>(
  p: Float64Array,
  rows: number,
  l: number,
  out: T,
): T {
  for (let j0 = 0; j0 < l; j0 += 8) {
    const w = panelWidth(j0, l);
    const base = j0 * rows;
    for (let r = 0; r < rows; r++) for (let k = 0; k < w; k++) out[r * l + j0 + k] = p[base + r * w + k]!;
  }
  return out;
}

/**
 * A·X for a sparse A of `rows` rows and X of `l` columns (as many rows as A has columns), both in
 * panels (see `panelsFromColumns`), out in panels. Each output sums its row's entries in order
 * from 0, as a loop per output would, but a panel's eight output columns run per pass over a row:
 * the eight sums are independent chains of additions and share the row's loads, and the row's
 * eight entries of X lie side by side (bit for bit the same as one sum per output).
 * Every output is written, so `out` (rows × l, not `x`) may be a buffer used before. With an
 * arena holding A, X and out, the full panels run there in SIMD (the same numbers; see
 * panel-kernel.ts).
 */
export function sparseTimes(
  a: SparseRows,
  rows: number,
  x: Float64Array,
  l: number,
  out: Float64Array = new Float64Array(rows * l),
  arena?: PanelArena,
): Float64Array {
  const { rowPtr, cols: idx, vals } = a;
  const xRows = x.length / l;
  let j = 0;
  if (arena?.holds(rowPtr, idx, vals, x, out)) {
    j = l - (l & 7);
    arena.panels(a, rows, x, xRows, j / 8, out);
  }
  for (; j + 7 < l; j += 8) {
    const xb = j * xRows;
    const ob = j * rows;
    for (let r = 0; r < rows; r++) {
      let [d0, d1, d2, d3, d4, d5, d6, d7] = [0, 0, 0, 0, 0, 0, 0, 0];
      const end = rowPtr[r + 1]!;
      for (let p = rowPtr[r]!; p < end; p++) {
        const v = vals[p]!;
        const c = xb + idx[p]! * 8;
        d0 += v * x[c]!;
        d1 += v * x[c + 1]!;
        d2 += v * x[c + 2]!;
        d3 += v * x[c + 3]!;
        d4 += v * x[c + 4]!;
        d5 += v * x[c + 5]!;
        d6 += v * x[c + 6]!;
        d7 += v * x[c + 7]!;
      }
      const o = ob + r * 8;
      out[o] = d0;
      out[o + 1] = d1;
      out[o + 2] = d2;
      out[o + 3] = d3;
      out[o + 4] = d4;
      out[o + 5] = d5;
      out[o + 6] = d6;
      out[o + 7] = d7;
    }
  }
  // The last, narrower panel: one column per pass.
  const w = l - j;
  const xb = j * xRows;
  const ob = j * rows;
  for (let k = 0; k < w; k++) {
    for (let r = 0; r < rows; r++) {
      let d = 0;
      const end = rowPtr[r + 1]!;
      for (let p = rowPtr[r]!; p < end; p++) d += vals[p]! * x[xb + idx[p]! * w + k]!;
      out[ob + r * w + k] = d;
    }
  }
  return out;
}

/** A dense row-major `rows` × `cols` matrix (its entries `vals`) as a sparse one with every entry present, in the arena when there is one. */
function everyEntry(vals: Float64Array, rows: number, cols: number, arena?: PanelArena): SparseRows {
  const rowPtr = arena ? arena.i32(rows + 1) : new Int32Array(rows + 1);
  const col = arena ? arena.i32(rows * cols) : new Int32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    rowPtr[i + 1] = (i + 1) * cols;
    for (let c = 0; c < cols; c++) col[i * cols + c] = c;
  }
  return { rowPtr, cols: col, vals };
}

/**
 * Xᵀ Y for X column-major and Y in panels, both `n` rows and `l` columns, symmetrised ((XᵀY + YᵀX)
 * / 2), l × l row-major: for the Rayleigh quotient Qᵀ (A Aᵀ Q), which is symmetric but for rounding.
 * Xᵀ's rows are X's columns as they lie, so XᵀY is the sparse product with Xᵀ taken as a matrix with
 * every entry present: each dot product sums over the rows in order from 0, and with an arena
 * holding X runs in SIMD (the same numbers).
 */
export function symmetricCross(
  x: Float64Array,
  y: Float64Array,
  n: number,
  l: number,
  arena?: PanelArena,
): Float64Array {
  const full = rowsFromPanels(
    sparseTimes(everyEntry(x, l, n, arena), l, y, l, arena?.f64(l * l), arena),
    l,
    l,
    new Float64Array(l * l),
  );
  const c = new Float64Array(l * l);
  for (let i = 0; i < l; i++) for (let j = 0; j < l; j++) c[i * l + j] = (full[i * l + j]! + full[j * l + i]!) / 2;
  return c;
}

/** Normalises column k of an n-row column-major m, or zeroes it (false) when it is rounding only. */
function finishColumn(
  m: Float64Array,
  n: number,
  l: number,
  k: number,
  tolerance: number,
  before: Float64Array,
  factor: Float64Array | undefined,
): boolean {
  const ck = k * n;
  let norm = 0;
  for (let r = 0; r < n; r++) norm += m[ck + r]! ** 2;
  norm = Math.sqrt(norm);
  if (norm <= tolerance * before[k]!) {
    m.fill(0, ck, ck + n);
    return false;
  }
  if (factor) factor[k * l + k] = norm;
  for (let r = 0; r < n; r++) m[ck + r]! /= norm;
  return true;
}

/** dots[j] = column i · column j for every later column j, each summed over the rows in order. */
function dotsAfter(m: Float64Array, n: number, l: number, i: number, dots: Float64Array): void {
  const ci = i * n;
  for (let j = i + 1; j < l; j++) {
    const cj = j * n;
    let dot = 0;
    for (let r = 0; r < n; r++) dot += m[ci + r]! * m[cj + r]!;
    dots[j] = dot;
  }
}

/**
 * Takes column i (from `ci`) out of the four columns from j, dots[j..j+3] times it, and puts
 * their dot products with column `next` (its offset, final) into dots[j..j+3]: summed over the
 * rows in order, of the very values stored.
 */
function takeOutAndDot4(m: Float64Array, n: number, ci: number, next: number, j: number, dots: Float64Array): void {
  const c0 = j * n;
  const c1 = c0 + n;
  const c2 = c1 + n;
  const c3 = c2 + n;
  const d0 = dots[j]!;
  const d1 = dots[j + 1]!;
  const d2 = dots[j + 2]!;
  const d3 = dots[j + 3]!;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let r = 0; r < n; r++) {
    const q = m[ci + r]!;
    const p = m[next + r]!;
    const x0 = (m[c0 + r]! -= d0 * q);
    const x1 = (m[c1 + r]! -= d1 * q);
    const x2 = (m[c2 + r]! -= d2 * q);
    const x3 = (m[c3 + r]! -= d3 * q);
    s0 += p * x0;
    s1 += p * x1;
    s2 += p * x2;
    s3 += p * x3;
  }
  dots[j] = s0;
  dots[j + 1] = s1;
  dots[j + 2] = s2;
  dots[j + 3] = s3;
}

/** takeOutAndDot4 for one column; next < 0: the update alone (no column to take dot products with). */
function takeOutAndDot(m: Float64Array, n: number, ci: number, next: number, j: number, dots: Float64Array): void {
  const cj = j * n;
  const d = dots[j]!;
  let s = 0;
  if (next < 0) {
    for (let r = 0; r < n; r++) m[cj + r]! -= d * m[ci + r]!;
    return;
  }
  for (let r = 0; r < n; r++) {
    const x = (m[cj + r]! -= d * m[ci + r]!);
    s += m[next + r]! * x;
  }
  dots[j] = s;
}

/**
 * Orthonormalises the columns of an n × l column-major matrix in place: modified Gram-Schmidt in
 * its right-looking order (each column, once final, is normalised and taken out of every later
 * one). Every column sees the same operations in the same order as in the left-looking order, so
 * the result is bit for bit the same, but the later columns run four at a time, and one pass over
 * them both takes column i out and takes their dot products with column i + 1, made final first:
 * a dot product summing, in order, the very values the update stores (half the passes over memory).
 * The passes are small functions of their own, each compiled once, hot from its first calls (one
 * long function was compiled again and again in a new process as each loop in turn got hot).
 * A column left with at most `tolerance` of its length once the earlier ones are out of it lies in
 * their span but for rounding: it is zeroed, not scaled up into a direction that cannot be made
 * orthogonal (with the default 0, only columns already zero stay zero). `factor`, when given
 * (l × l, row-major, zeros below the diagonal), gets R of m before = m after · R.
 */
export function orthonormalise(m: Float64Array, n: number, l: number, tolerance = 0, factor?: Float64Array): void {
  const before = new Float64Array(l);
  if (tolerance > 0) {
    for (let i = 0; i < l; i++) {
      let norm = 0;
      for (let r = i * n; r < (i + 1) * n; r++) norm += m[r]! ** 2;
      before[i] = Math.sqrt(norm);
    }
  }
  // dots[j]: column `dotsOf`'s dot product with column j (> dotsOf), taken in the pass before.
  const dots = new Float64Array(l);
  let dotsOf = -1;
  let kept = l > 0 && finishColumn(m, n, l, 0, tolerance, before, factor);
  for (let i = 0; i < l; i++) {
    // Column i is final here: kept (normalised) or zeroed.
    if (!kept) {
      if (i + 1 < l) kept = finishColumn(m, n, l, i + 1, tolerance, before, factor);
      continue;
    }
    const ci = i * n;
    if (dotsOf !== i) dotsAfter(m, n, l, i, dots);
    if (factor) for (let j = i + 1; j < l; j++) factor[i * l + j] = dots[j]!;
    if (i + 1 === l) break;
    takeOutAndDot(m, n, ci, -1, i + 1, dots);
    kept = finishColumn(m, n, l, i + 1, tolerance, before, factor);
    // Without column i + 1 (zeroed) there is nothing to take dot products with: updates only.
    const next = kept ? ci + n : -1;
    let j = i + 2;
    if (kept) for (; j + 3 < l; j += 4) takeOutAndDot4(m, n, ci, next, j, dots);
    for (; j < l; j++) takeOutAndDot(m, n, ci, next, j, dots);
    dotsOf = kept ? i + 1 : -1;
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

/**
 * Sublinear TF-IDF of a document's counts over a vocabulary, unit length: its columns in the order
 * their terms first come in the document (a repeated term adds its count to its first entry), and
 * their weights.
 */
function weigh(
  doc: Counts,
  vocab: ReadonlyMap<string, number>,
  idf: Float64Array,
): { cols: Int32Array; vals: Float64Array } {
  const { terms, counts } = doc;
  const cols = new Int32Array(terms.length);
  const vals = new Float64Array(terms.length);
  // Each column's entry, plus one (0: none yet): one array for every document, zeroed again below
  // where this one wrote (a fresh one per document was 60 KB each on sympy, queries included).
  if (entryScratch.length < idf.length) entryScratch = new Int32Array(idf.length);
  const entry = entryScratch;
  let k = 0;
  for (let i = 0; i < terms.length; i++) {
    const col = vocab.get(terms[i]!);
    if (col === undefined) continue;
    const at = entry[col]! - 1;
    if (at >= 0) vals[at]! += counts[i]!;
    else {
      entry[col] = k + 1;
      cols[k] = col;
      vals[k++] = counts[i]!;
    }
  }
  let norm = 0;
  for (let p = 0; p < k; p++) {
    const v = (1 + Math.log(vals[p]!)) * idf[cols[p]!]!;
    vals[p] = v;
    norm += v * v;
  }
  norm = Math.sqrt(norm) || 1;
  for (let p = 0; p < k; p++) vals[p]! /= norm;
  for (let p = 0; p < k; p++) entry[cols[p]!] = 0;
  return { cols: cols.subarray(0, k), vals: vals.subarray(0, k) };
}

let entryScratch = new Int32Array(0);

/**
 * The corpus as sparse sublinear TF-IDF rows, unit length, as `weigh` gives each document, with its
 * vocabulary: terms in at least 2 files (or any, for tiny repositories) and not in most of them.
 * Terms are numbered once for the whole corpus, so each document is weighed over integer ids and a
 * scratch array, not a Map per document.
 */
export function weighCorpus(docs: readonly Counts[]): {
  a: SparseRows;
  n: number;
  m: number;
  vocab: Map<string, number>;
  idf: Float64Array;
} {
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
  return {
    a: k === nnz ? a : { rowPtr: a.rowPtr, cols: a.cols.slice(0, k), vals: a.vals.slice(0, k) },
    n,
    m,
    vocab,
    idf,
  };
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
  /** Bᵀ = Aᵀ Q, m × l, in panels (see `panelsFromColumns`). */
  bt: Float64Array;
  /** The eigenvectors of B Bᵀ kept, largest first, one contiguous row each: wk[d·l + j] = W[j][d]. */
  wk: Float64Array;
  /** Q W, the documents' coordinates before Σ: n × rank, row-major. */
  u: Float64Array;
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
  // A·X (n × l) from X (m × l), or Aᵀ·Y (m × l) from Y (n × l), in panels; Gram-Schmidt and C
  // take columns (n × l: copies of 1 MB on sympy, against 7 products of 29 M multiply-adds). One
  // m × l buffer holds Ω, then each Aᵀ Q, then Bᵀ (sympy: 17 MB, allocated once, not four times).
  const nnz = a.rowPtr[n]!;
  // A, Aᵀ, the m × l and the n × l panels in one WebAssembly memory where there is SIMD.
  const sparseBytes = (rows: number) =>
    PanelArena.bytes(rows + 1, 4) + PanelArena.bytes(nnz, 4) + PanelArena.bytes(nnz, 8);
  // And Q, and C's full Qᵀ(A Bᵀ) as the product with Qᵀ (symmetricCross).
  const crossBytes =
    PanelArena.bytes(n * l, 8) + PanelArena.bytes(l + 1, 4) + PanelArena.bytes(l * n, 4) + PanelArena.bytes(l * l, 8);
  // And the documents' Q W (see below).
  const uBytes =
    PanelArena.bytes(n * l, 8) +
    PanelArena.bytes(n + 1, 4) +
    PanelArena.bytes(n * l, 4) +
    PanelArena.bytes(l * rank, 8) +
    PanelArena.bytes(n * rank, 8);
  const arena = PanelArena.create(
    sparseBytes(n) + sparseBytes(m) + PanelArena.bytes(m * l, 8) + PanelArena.bytes(n * l, 8) + crossBytes + uBytes,
  );
  const aT = transposeRows(a, n, m);
  const [as, aTs] = arena ? [arena.sparse(a, n), arena.sparse(aT, m)] : [a, aT];
  const terms = gaussianPanels(seed, m, l, arena?.f64(m * l));
  const y = sparseTimes(as, n, terms, l, arena?.f64(n * l), arena);
  const q = columnsFromPanels(y, n, l, arena?.f64(n * l));
  orthonormaliseStably(q, n, l);
  for (let it = 0; it < 2; it++) {
    sparseTimes(as, n, sparseTimes(aTs, m, panelsFromColumns(q, n, l, y), l, terms, arena), l, y, arena);
    orthonormaliseStably(columnsFromPanels(y, n, l, q), n, l);
  }
  // C = B Bᵀ = Qᵀ (A Bᵀ): a product with A and an l × l × n one, instead of m·l² over the terms.
  const bt = sparseTimes(aTs, m, panelsFromColumns(q, n, l, y), l, terms, arena);
  const abt = sparseTimes(as, n, bt, l, y, arena);
  const { values, vectors } = symmetricEigen(symmetricCross(q, abt, n, l, arena), l);
  const order = Array.from(values, (v, i) => [v, i] as const)
    .sort((p, r) => r[0] - p[0])
    .slice(0, rank);
  const wk = new Float64Array(rank * l);
  order.forEach(([, e], d) => wk.set(vectors.subarray(e * l, (e + 1) * l), d * l));
  // The documents' Q W (n × rank): Q's rows as a sparse matrix with every entry present times W
  // in panels, each entry summed over j in order from 0.
  const qRows = arena ? arena.f64(n * l) : new Float64Array(n * l);
  for (let j = 0; j < l; j++) for (let i = 0; i < n; i++) qRows[i * l + j] = q[j * n + i]!;
  const w = panelsFromColumns(wk, l, rank, arena?.f64(l * rank));
  const u = rowsFromPanels(
    sparseTimes(everyEntry(qRows, n, l, arena), n, w, rank, arena?.f64(n * rank), arena),
    n,
    rank,
    new Float64Array(n * rank),
  );
  return { q, bt, wk, u, sigma: order.map(([v]) => Math.sqrt(Math.max(v, 1e-12))) };
}

/**
 * q Bᵀ for a document's weighted columns, eight outputs per pass: each an independent sum over its
 * terms in order from 0 (bit for bit one accumulator per output, without a load and store of it
 * per step).
 */
function timesBt(cols: Int32Array, vals: Float64Array, bt: Float32Array, l: number): Float64Array {
  const terms = cols.length;
  const qb = new Float64Array(l);
  let j = 0;
  for (; j + 7 < l; j += 8) {
    let d0 = 0,
      d1 = 0,
      d2 = 0,
      d3 = 0,
      d4 = 0,
      d5 = 0,
      d6 = 0,
      d7 = 0;
    for (let p = 0; p < terms; p++) {
      const v = vals[p]!;
      const row = cols[p]! * l + j;
      d0 += v * bt[row]!;
      d1 += v * bt[row + 1]!;
      d2 += v * bt[row + 2]!;
      d3 += v * bt[row + 3]!;
      d4 += v * bt[row + 4]!;
      d5 += v * bt[row + 5]!;
      d6 += v * bt[row + 6]!;
      d7 += v * bt[row + 7]!;
    }
    qb[j] = d0;
    qb[j + 1] = d1;
    qb[j + 2] = d2;
    qb[j + 3] = d3;
    qb[j + 4] = d4;
    qb[j + 5] = d5;
    qb[j + 6] = d6;
    qb[j + 7] = d7;
  }
  for (; j < l; j++) {
    let d = 0;
    for (let p = 0; p < terms; p++) d += vals[p]! * bt[cols[p]! * l + j]!;
    qb[j] = d;
  }
  return qb;
}

/**
 * (q Bᵀ) W Σ⁻¹, eight outputs per pass, each rounded to float32 after each step over j as a
 * Float32Array's += rounds, from 0, skipping a zero q Bᵀ entry as before.
 */
function project(qb: Float64Array, projection: Float64Array, l: number, rank: number): Float32Array {
  const vec = new Float32Array(rank);
  const round = Math.fround;
  let d = 0;
  for (; d + 7 < rank; d += 8) {
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0,
      s4 = 0,
      s5 = 0,
      s6 = 0,
      s7 = 0;
    for (let i = 0; i < l; i++) {
      const x = qb[i]!;
      if (x === 0) continue;
      const row = i * rank + d;
      s0 = round(s0 + x * projection[row]!);
      s1 = round(s1 + x * projection[row + 1]!);
      s2 = round(s2 + x * projection[row + 2]!);
      s3 = round(s3 + x * projection[row + 3]!);
      s4 = round(s4 + x * projection[row + 4]!);
      s5 = round(s5 + x * projection[row + 5]!);
      s6 = round(s6 + x * projection[row + 6]!);
      s7 = round(s7 + x * projection[row + 7]!);
    }
    vec[d] = s0;
    vec[d + 1] = s1;
    vec[d + 2] = s2;
    vec[d + 3] = s3;
    vec[d + 4] = s4;
    vec[d + 5] = s5;
    vec[d + 6] = s6;
    vec[d + 7] = s7;
  }
  for (; d < rank; d++) {
    let s = 0;
    for (let i = 0; i < l; i++) if (qb[i] !== 0) s = round(s + qb[i]! * projection[i * rank + d]!);
    vec[d] = s;
  }
  return vec;
}

/** Folds a document or query into a basis: q Vₖ = (q Bᵀ) W Σ⁻¹, unit length (two small functions: each compiled once). */
function fold(basis: LsiBasis, doc: Counts): Float32Array {
  const { cols, vals } = weigh(doc, basis.vocab, basis.idf);
  return normalise(project(timesBt(cols, vals, basis.bt, basis.l), basis.projection, basis.l, basis.rank));
}

const ancestry = new Map<string, boolean>();
/** Whether `ancestor` is `commit` or one of its ancestors; asked of git once per pair per process. */
function isAncestor(gitDir: string, ancestor: string, commit: string): boolean {
  if (ancestor === commit) return true;
  const key = `${gitDir}\0${ancestor}\0${commit}`;
  let answer = ancestry.get(key);
  if (answer === undefined) {
    answer =
      spawnSync('git', ['--git-dir', gitDir, 'merge-base', '--is-ancestor', ancestor, commit], { stdio: 'ignore' })
        .status === 0;
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
    const docs: Counts[] = corpus.paths.map(
      (p) => corpus.terms?.get(p) ?? countTokens([...pathTokens(p), ...tokenize(corpus.texts.get(p) ?? '')]),
    );
    const keys =
      corpus.blobs && corpus.repository ? corpus.paths.map((p) => docKey(p, corpus.blobs!.get(p) ?? '')) : undefined;
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
          fit.basis.file = saveBasis(
            corpus.cache.dir,
            corpus.repository,
            fit.basis,
            corpus.cache.maxBytes,
            corpus.candidates,
          );
        } catch {
          // A full or read-only disk only costs the next process a refit.
        }
      }
    }
    const basis_ = fit.basis;
    return {
      dimensions: basis_.rank,
      vectors: keys ? keys.map((k) => basis_.fitted.get(k)!) : [...basis_.fitted.values()],
      embedQuery: async (text) => fold(basis_, countTokens(tokenize(text))),
    };
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
    for (const stored of storedBases(
      corpus.cache.dir,
      corpus.repository!,
      this.name,
      corpus.candidates ?? {},
      keys,
      this.maxChangedShare,
    )) {
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

    const { bt, wk, u, sigma } = truncatedSvd(a, n, m, rank, l, this.seed);
    // Documents: U Σ = Q W Σ (n × rank). Queries and folded documents: q Vₖ = (q Bᵀ) W Σ⁻¹.
    const fitted = new Map<string, Float32Array>();
    for (let i = 0; i < n; i++) {
      const vec = new Float32Array(rank);
      for (let e = 0; e < rank; e++) vec[e] = u[i * rank + e]! * sigma[e]!;
      fitted.set(keys[i]!, normalise(vec));
    }
    const projection = new Float64Array(l * rank);
    for (let j = 0; j < l; j++) for (let d = 0; d < rank; d++) projection[j * rank + d] = wk[d * l + j]! / sigma[d]!;
    // Bᵀ row-major by term, in float32: what is stored on disk is exactly what a fresh fit uses.
    return {
      basis: {
        name: this.name,
        rank,
        l,
        vocab,
        idf,
        bt: rowsFromPanels(bt, m, l, new Float32Array(m * l)),
        projection,
        fitted,
      },
    };
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
