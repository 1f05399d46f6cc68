import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EigenvalueDecomposition, Matrix, SingularValueDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import {
  columnsFromPanels,
  gaussianPanels,
  gaussians,
  LsiEmbedder,
  orthonormalise,
  orthonormaliseStably,
  panelsFromColumns,
  rowsFromPanels,
  type SparseRows,
  sparseTimes,
  symmetricCross,
  transposeRows,
  triangularCondition,
  truncatedSvd,
  weighCorpus,
} from '../../../localisation/embeddings/lsi.js';
import { type LsiBasis, loadBasis } from '../../../localisation/embeddings/lsi-store.js';
import { PanelArena } from '../../../localisation/embeddings/panel-kernel.js';
import { symmetricEigen } from '../../../localisation/embeddings/symmetric-eigen.js';
import { tokenize } from '../../../localisation/tokenize.js';

function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
}

/** A dense row-major n × m array as a sparse matrix by rows (zeros left out). */
function sparse(dense: number[][]): SparseRows {
  const rowPtr = new Int32Array(dense.length + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  dense.forEach((row, i) => {
    row.forEach((v, c) => {
      if (v !== 0) {
        cols.push(c);
        vals.push(v);
      }
    });
    rowPtr[i + 1] = cols.length;
  });
  return { rowPtr, cols: Int32Array.from(cols), vals: Float64Array.from(vals) };
}

/** Q W (n × rank) from a truncated SVD: the left singular vectors found. */
function leftVectors(svd: ReturnType<typeof truncatedSvd>, n: number, l: number, rank: number): Matrix {
  const u = Matrix.zeros(n, rank);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < rank; d++) {
      let s = 0;
      for (let j = 0; j < l; j++) s += svd.q[j * n + i]! * svd.wk[d * l + j]!;
      u.set(i, d, s);
    }
  }
  return u;
}

const maxAbs = (m: Matrix) => Math.max(...m.to1DArray().map(Math.abs));

describe('LSI truncated SVD', () => {
  it('finds the top singular values and the span of the top singular vectors of a sparse matrix with a spectral gap', () => {
    const rand = lcg(99);
    const [n, m, k] = [60, 300, 5];
    // Five clusters of documents, each a rank-one block over its own 40 terms at its own scale, and
    // faint noise everywhere: five singular values well above the rest.
    const docWeight = Array.from({ length: n }, () => 0.5 + rand());
    const termWeight = Array.from({ length: m }, () => 0.5 + rand());
    const dense = Array.from({ length: n }, (_, i) =>
      Array.from({ length: m }, (_, c) => {
        const cluster = i % k;
        if (Math.floor(c / 40) === cluster) return docWeight[i]! * termWeight[c]! * (6 - cluster);
        return rand() < 0.03 ? (rand() - 0.5) * 0.1 : 0;
      }),
    );
    const exact = new SingularValueDecomposition(new Matrix(dense), { autoTranspose: true });
    const s = exact.diagonal;
    expect(s[k]! / s[k - 1]!).toBeLessThan(0.05);
    const l = k + 10;
    const svd = truncatedSvd(sparse(dense), n, m, k, l, 7);
    for (let d = 0; d < k; d++) expect(Math.abs(svd.sigma[d]! - s[d]!) / s[d]!).toBeLessThan(1e-9);
    const u = leftVectors(svd, n, l, k);
    // The documents' Q W it gives (the SIMD product) is the plain sum over j, bit for bit.
    for (let i = 0; i < n; i++) for (let d = 0; d < k; d++) expect(Object.is(svd.u[i * k + d], u.get(i, d))).toBe(true);
    // Orthonormal, and inside the exact top-k left singular subspace: U − Uₖ Uₖᵀ U vanishes.
    expect(maxAbs(u.transpose().mmul(u).sub(Matrix.eye(k)))).toBeLessThan(1e-9);
    const uk = exact.leftSingularVectors.subMatrix(0, n - 1, 0, k - 1);
    expect(maxAbs(u.clone().sub(uk.mmul(uk.transpose().mmul(u))))).toBeLessThan(1e-6);
  });

  it('is exact when it samples as many columns as A has rows, though A has an empty row and repeated ones', () => {
    const rand = lcg(5);
    const [n, m] = [12, 40];
    const dense = Array.from({ length: n }, () => Array.from({ length: m }, () => (rand() < 0.3 ? rand() : 0)));
    dense[3] = new Array<number>(m).fill(0);
    dense[7] = [...dense[2]!];
    dense[9] = [...dense[2]!];
    // rank(A) ≤ 9 < 12 samples: Gram-Schmidt meets columns that are rounding only.
    const [rank, l] = [n - 1, n];
    const svd = truncatedSvd(sparse(dense), n, m, rank, l, 7);
    const a = new Matrix(dense);
    const exact = new SingularValueDecomposition(a, { autoTranspose: true }).diagonal;
    for (let d = 0; d < rank; d++) expect(svd.sigma[d]!).toBeCloseTo(Math.max(exact[d]!, 1e-6), 9);
    // Q Qᵀ A = A: Q is orthonormal and spans A's range (a Q that is not makes Q Bᵀ... ≠ A).
    const q = new Matrix(Array.from({ length: n }, (_, i) => Array.from({ length: l }, (_, j) => svd.q[j * n + i]!)));
    const btRows = rowsFromPanels(svd.bt, m, l, new Float64Array(m * l));
    const bt = new Matrix(Array.from({ length: m }, (_, t) => Array.from({ length: l }, (_, j) => btRows[t * l + j]!)));
    expect(maxAbs(q.mmul(bt.transpose()).sub(a))).toBeLessThan(1e-12);
    const u = leftVectors(svd, n, l, rank);
    const gram = u.transpose().mmul(u);
    // Columns for nonzero singular values orthonormal; the rest (σ at its floor) zero or orthonormal.
    for (let d = 0; d < rank; d++)
      for (let e = 0; e < rank; e++)
        if (svd.sigma[d]! > 1e-3 && svd.sigma[e]! > 1e-3) expect(gram.get(d, e)).toBeCloseTo(d === e ? 1 : 0, 12);
  });
});

/** max |QᵀQ − I| over the nonzero columns of a column-major n × l matrix. */
function orthogonalityLoss(m: Float64Array, n: number, l: number): number {
  let loss = 0;
  for (let i = 0; i < l; i++) {
    for (let j = 0; j < l; j++) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += m[i * n + r]! * m[j * n + r]!;
      if (!(i === j && dot === 0)) loss = Math.max(loss, Math.abs(dot - (i === j ? 1 : 0)));
    }
  }
  return loss;
}

describe('LSI Gram-Schmidt', () => {
  it('zeroes a column in the span of the earlier ones and leaves the others orthonormal', () => {
    const rand = lcg(3);
    const [n, l] = [30, 5];
    const cols = Array.from({ length: l }, () => Array.from({ length: n }, () => rand() - 0.5));
    cols[2] = cols[0]!.map((x, r) => 2 * x - cols[1]![r]!);
    const m = Float64Array.from(cols.flat());
    const plain = m.slice();
    orthonormalise(m, n, l, 1e-10);
    expect(m.subarray(2 * n, 3 * n).every((x) => x === 0)).toBe(true);
    expect(orthogonalityLoss(m, n, l)).toBeLessThan(1e-14);
    // Without one the rounding left in that column is scaled up to unit length.
    orthonormalise(plain, n, l);
    expect(Math.hypot(...plain.subarray(2 * n, 3 * n))).toBeCloseTo(1, 6);
  });

  it('gives the triangular factor, and its condition number', () => {
    const rand = lcg(11);
    const [n, l] = [40, 10];
    const y = Float64Array.from({ length: n * l }, () => rand() - 0.5);
    const q = y.slice();
    const r = new Float64Array(l * l);
    orthonormalise(q, n, l, 0, r);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < l; j++) {
        let s = 0;
        for (let k = 0; k <= j; k++) s += q[k * n + i]! * r[k * l + j]!;
        expect(s).toBeCloseTo(y[j * n + i]!, 12);
      }
    }
    // ‖[[1, 1], [0, 1e-3]]‖₁ = 1.001, its inverse [[1, −1000], [0, 1000]] has 1-norm 2000.
    expect(triangularCondition(Float64Array.from([1, 1, 0, 1e-3]), 2)).toBeCloseTo(2002, 9);
    expect(triangularCondition(Float64Array.from([1, 1, 0, 0]), 2)).toBe(Infinity);
  });

  it('runs a second pass only where the first leaves the columns off orthogonal', () => {
    const rand = lcg(17);
    const [n, l] = [200, 12];
    const random = () => Float64Array.from({ length: n * l }, () => rand() - 0.5);
    // Well-conditioned: one pass, exactly what a plain pass with the tolerance gives.
    const easy = random();
    const once = easy.slice();
    orthonormalise(once, n, l, 1e-10);
    orthonormaliseStably(easy, n, l);
    expect(easy.every((x, i) => Object.is(x, once[i]))).toBe(true);
    // Full rank but ill-conditioned (each column the previous one plus 1e-8 of its own):
    // one pass is off orthogonal by far more than rounding, two are not.
    const hard = random();
    for (let j = 1; j < l; j++)
      for (let r = 0; r < n; r++) hard[j * n + r] = hard[(j - 1) * n + r]! + 1e-8 * hard[j * n + r]!;
    const single = hard.slice();
    orthonormalise(single, n, l, 1e-10);
    expect(orthogonalityLoss(single, n, l)).toBeGreaterThan(1e-10);
    orthonormaliseStably(hard, n, l);
    expect(orthogonalityLoss(hard, n, l)).toBeLessThan(1e-14);
    expect(hard.some((x) => x !== 0)).toBe(true);
  });
});

/**
 * Modified Gram-Schmidt column by column, each column against every earlier one kept, with the
 * zeroing rule and the factor R that `orthonormalise` documents: the reference it must equal.
 */
function leftLookingWith(m: Float64Array, n: number, l: number, tolerance: number, factor: Float64Array): void {
  const before = Array.from({ length: l }, (_, j) => {
    let norm = 0;
    for (let r = 0; r < n; r++) norm += m[j * n + r]! ** 2;
    return tolerance > 0 ? Math.sqrt(norm) : 0;
  });
  const zeroed: boolean[] = [];
  for (let j = 0; j < l; j++) {
    const cj = j * n;
    for (let i = 0; i < j; i++) {
      if (zeroed[i]) continue;
      const ci = i * n;
      let dot = 0;
      for (let r = 0; r < n; r++) dot += m[ci + r]! * m[cj + r]!;
      factor[i * l + j] = dot;
      for (let r = 0; r < n; r++) m[cj + r]! -= dot * m[ci + r]!;
    }
    let norm = 0;
    for (let r = 0; r < n; r++) norm += m[cj + r]! ** 2;
    norm = Math.sqrt(norm);
    if (norm <= tolerance * before[j]!) {
      m.fill(0, cj, cj + n);
      zeroed[j] = true;
      continue;
    }
    factor[j * l + j] = norm;
    for (let r = 0; r < n; r++) m[cj + r]! /= norm;
  }
}

describe('LSI Gram-Schmidt, one pass over the later columns per column', () => {
  it('is bit for bit column-by-column Gram-Schmidt, R included, with columns zeroed anywhere', () => {
    const rand = lcg(29);
    const cases: Array<[number, number, number, number[]]> = [
      [10, 1, 0, []],
      [10, 2, 1e-10, [1]],
      [33, 5, 1e-10, [0]],
      [50, 9, 1e-10, [3, 4]],
      [64, 13, 0, [6]],
      [97, 22, 1e-10, [2, 9, 21]],
      [120, 40, 1e-10, [1, 2, 3, 17, 38]],
    ];
    for (const [n, l, tolerance, dependent] of cases) {
      const m = Float64Array.from({ length: n * l }, () => rand() - 0.5);
      // A dependent column: a combination of two earlier ones (the first column: all zero), so
      // Gram-Schmidt leaves rounding (or nothing) in it.
      for (const j of dependent) {
        for (let r = 0; r < n; r++)
          m[j * n + r] = j === 0 ? 0 : j === 1 ? 3 * m[r]! : 2 * m[r]! - 0.5 * m[(j - 1) * n + r]!;
      }
      const expected = m.slice();
      const expectedR = new Float64Array(l * l);
      leftLookingWith(expected, n, l, tolerance, expectedR);
      const r = new Float64Array(l * l);
      orthonormalise(m, n, l, tolerance, r);
      expect(m.every((x, i) => Object.is(x, expected[i]))).toBe(true);
      expect(r.every((x, i) => Object.is(x, expectedR[i]))).toBe(true);
      if (tolerance > 0)
        for (const j of dependent) expect(m.subarray(j * n, (j + 1) * n).every((x) => x === 0)).toBe(true);
    }
  });
});

describe('LSI panels', () => {
  it('lay a matrix out in groups of eight columns, row by row, and back, at any width', () => {
    for (const [rows, l] of [
      [1, 1],
      [5, 3],
      [7, 8],
      [6, 9],
      [11, 17],
      [4, 138],
    ] as const) {
      const c = Float64Array.from({ length: rows * l }, (_, i) => i + 0.5);
      const p = panelsFromColumns(c, rows, l);
      for (let j = 0; j < l; j++) {
        const w = Math.min(8, l - 8 * Math.floor(j / 8));
        for (let r = 0; r < rows; r++) expect(p[8 * Math.floor(j / 8) * rows + r * w + (j % 8)]).toBe(c[j * rows + r]);
      }
      expect(Array.from(columnsFromPanels(p, rows, l))).toEqual(Array.from(c));
      const byRows = rowsFromPanels(p, rows, l, new Float64Array(rows * l));
      for (let r = 0; r < rows; r++) for (let j = 0; j < l; j++) expect(byRows[r * l + j]).toBe(c[j * rows + r]);
    }
  });

  it('hold the test matrix as the column-major one, number for number', () => {
    for (const [rows, l] of [
      [1, 1],
      [13, 7],
      [40, 20],
      [301, 138],
    ] as const) {
      const expected = gaussians(11, rows * l);
      const got = columnsFromPanels(gaussianPanels(11, rows, l), rows, l);
      expect(got.every((x, i) => Object.is(x, expected[i]))).toBe(true);
    }
  });
});

describe('LSI sparse products in WebAssembly SIMD', () => {
  it('give bit for bit the scalar products (signed zeros, empty rows, any width)', () => {
    let state = 4242;
    const rand = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const value = () =>
      rand() < 0.05 ? (rand() < 0.5 ? 0 : -0) : (rand() * 2 - 1) * 10 ** Math.floor(rand() * 12 - 6);
    for (const [n, m, l] of [
      [3, 5, 1],
      [30, 50, 8],
      [41, 300, 9],
      [97, 60, 16],
      [200, 1000, 23],
      [64, 3000, 138],
    ] as const) {
      const rowPtr = new Int32Array(n + 1);
      const cols: number[] = [];
      const vals: number[] = [];
      for (let i = 0; i < n; i++) {
        if (i % 7 !== 3)
          for (let c = 0; c < m; c++)
            if (rand() < 0.05) {
              cols.push(c);
              vals.push(value());
            }
        rowPtr[i + 1] = cols.length;
      }
      const a: SparseRows = { rowPtr, cols: Int32Array.from(cols), vals: Float64Array.from(vals) };
      const aT = transposeRows(a, n, m);
      const x = Float64Array.from({ length: m * l }, value);
      const y = Float64Array.from({ length: n * l }, value);
      const sparse = (rows: number) =>
        PanelArena.bytes(rows + 1, 4) + PanelArena.bytes(cols.length, 4) + PanelArena.bytes(cols.length, 8);
      const arena = PanelArena.create(
        sparse(n) + sparse(m) + 2 * PanelArena.bytes(m * l, 8) + 2 * PanelArena.bytes(n * l, 8),
      );
      // Node 20 has WebAssembly SIMD: the path is taken, not skipped.
      expect(arena).toBeDefined();
      const [as, aTs] = [arena!.sparse(a, n), arena!.sparse(aT, m)];
      const [xs, ys] = [arena!.f64(m * l), arena!.f64(n * l)];
      xs.set(x);
      ys.set(y);
      const pairs = [
        [sparseTimes(as, n, xs, l, arena!.f64(n * l), arena), sparseTimes(a, n, x, l)],
        [sparseTimes(aTs, m, ys, l, arena!.f64(m * l), arena), sparseTimes(aT, m, y, l)],
      ] as const;
      for (const [got, expected] of pairs) expect(got.every((v, i) => Object.is(v, expected[i]))).toBe(true);
      // Arrays outside the arena: the scalar loop, the same numbers.
      expect(sparseTimes(a, n, x, l, undefined, arena).every((v, i) => Object.is(v, pairs[0][1][i]))).toBe(true);
    }
  });
});

describe('LSI panel arena', () => {
  it('gives ordinary arrays once full, and the fit the same vectors with room to spare past a matrix', () => {
    const arena = PanelArena.create(64)!;
    expect(arena).toBeDefined();
    // Far past the arena's one page and a bit: an ordinary array, which the products read with the scalar loop.
    const big = arena.f64(1 << 17);
    expect(big.length).toBe(1 << 17);
    expect(arena.holds(big)).toBe(false);
    expect(arena.holds(arena.f64(8))).toBe(true);
    const rand = lcg(71);
    const [n, m] = [30, 90];
    const dense = Array.from({ length: n }, () => Array.from({ length: m }, () => (rand() < 0.2 ? rand() : 0)));
    const exact = sparse(dense);
    // The same matrix in arrays with room past its last entry (a caller's buffers need not be cut to size).
    const nnz = exact.rowPtr[n]!;
    const roomy: SparseRows = {
      rowPtr: exact.rowPtr,
      cols: new Int32Array(nnz + 100_000),
      vals: new Float64Array(nnz + 100_000),
    };
    roomy.cols.set(exact.cols);
    roomy.vals.set(exact.vals);
    const [a, b] = [truncatedSvd(exact, n, m, 8, 12, 7), truncatedSvd(roomy, n, m, 8, 12, 7)];
    for (const key of ['sigma', 'q', 'bt', 'u'] as const)
      expect(Array.from(b[key]).every((v, i) => Object.is(v, a[key][i]))).toBe(true);
  });
});

describe('LSI Rayleigh quotient', () => {
  it('is bit for bit the dot products of the columns, symmetrised, in SIMD and not', () => {
    const rand = lcg(53);
    for (const [n, l] of [
      [1, 1],
      [9, 5],
      [40, 8],
      [77, 19],
      [300, 138],
    ] as const) {
      const x = Float64Array.from({ length: n * l }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 8 - 4));
      const y = Float64Array.from({ length: n * l }, () => (rand() - 0.5) * 10 ** Math.floor(rand() * 8 - 4));
      const dot = (i: number, j: number) => {
        let s = 0;
        for (let r = 0; r < n; r++) s += x[i * n + r]! * y[j * n + r]!;
        return s;
      };
      const expected = Float64Array.from(
        { length: l * l },
        (_, k) => (dot(Math.floor(k / l), k % l) + dot(k % l, Math.floor(k / l))) / 2,
      );
      const arena = PanelArena.create(
        2 * PanelArena.bytes(n * l, 8) +
          PanelArena.bytes(l + 1, 4) +
          PanelArena.bytes(l * n, 4) +
          PanelArena.bytes(l * l, 8),
      )!;
      const [xs, ys] = [arena.f64(n * l), arena.f64(n * l)];
      xs.set(x);
      panelsFromColumns(y, n, l, ys);
      for (const got of [symmetricCross(x, panelsFromColumns(y, n, l), n, l), symmetricCross(xs, ys, n, l, arena)]) {
        expect(got.every((v, k) => Object.is(v, expected[k]))).toBe(true);
      }
    }
  });
});

describe('LSI symmetric eigen-decomposition', () => {
  it("is bit for bit ml-matrix's (ascending values, eigenvector k in row k), repeated and zero eigenvalues included", () => {
    const rand = lcg(23);
    for (const n of [1, 2, 5, 17, 40]) {
      const c = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j <= i; j++) {
          const x = rand() - 0.5;
          c[i * n + j] = x;
          c[j * n + i] = x;
        }
      }
      // A zero row and column (an eigenvalue 0) and, past 4, two equal rows (a repeated one).
      if (n > 2) for (let j = 0; j < n; j++) c[1 * n + j] = c[j * n + 1] = 0;
      if (n > 4)
        for (let j = 0; j < n; j++)
          c[3 * n + j] = c[j * n + 3] = c[4 * n + j] = c[j * n + 4] = j === 3 || j === 4 ? 0.5 : c[2 * n + j]!;
      const expected = new EigenvalueDecomposition(
        new Matrix(Array.from({ length: n }, (_, i) => Array.from(c.subarray(i * n, (i + 1) * n)))),
        { assumeSymmetric: true },
      );
      const got = symmetricEigen(c, n);
      expect(Array.from(got.values).every((v, k) => Object.is(v, expected.realEigenvalues[k]))).toBe(true);
      for (let k = 0; k < n; k++)
        for (let i = 0; i < n; i++)
          expect(Object.is(got.vectors[k * n + i], expected.eigenvectorMatrix.get(i, k))).toBe(true);
    }
  });
});

describe('LSI test matrix', () => {
  it('is standard normal, the same for a seed and not for another, at any length', () => {
    const a = gaussians(7, 20_017);
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    const variance = a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    expect(a.filter((x) => Math.abs(x) > 3).length / a.length).toBeLessThan(0.005);
    expect(Array.from(gaussians(7, 20_017))).toEqual(Array.from(a));
    expect(Array.from(gaussians(8, 20_017))).not.toEqual(Array.from(a));
    expect(Array.from(gaussians(7, 70))).toEqual(Array.from(a.subarray(0, 70)));
  });
});

describe('LSI weighting', () => {
  it('gives each document unit sublinear TF-IDF over terms in 2 to half of the files, repeated terms summed', () => {
    const docs = Array.from({ length: 24 }, (_, i) => ({
      terms: ['everywhere', `only${i}`, `pair${i >> 1}`, `trio${Math.floor(i / 3)}`, ...(i === 5 ? ['trio1'] : [])],
      counts: [1, 3, 1 + (i % 4), 2, ...(i === 5 ? [4] : [])],
    }));
    const { a, n, m, vocab, idf } = weighCorpus(docs);
    expect(n).toBe(24);
    // "everywhere" is in every file, "only…" in one: neither is a column.
    expect([...vocab.keys()].every((t) => t.startsWith('pair') || t.startsWith('trio'))).toBe(true);
    expect(m).toBe(12 + 8);
    docs.forEach((doc, i) => {
      const tf = new Map<string, number>();
      doc.terms.forEach((t, j) => tf.set(t, (tf.get(t) ?? 0) + doc.counts[j]!));
      const expected = [...tf]
        .filter(([t]) => vocab.has(t))
        .map(
          ([t, c]) => [vocab.get(t)!, (1 + Math.log(c)) * (Math.log(25 / (t.startsWith('pair') ? 3 : 4)) + 1)] as const,
        );
      const norm = Math.hypot(...expected.map(([, v]) => v));
      const got = Array.from(
        { length: a.rowPtr[i + 1]! - a.rowPtr[i]! },
        (_, p) => [a.cols[a.rowPtr[i]! + p]!, a.vals[a.rowPtr[i]! + p]!] as const,
      );
      expect(got.map(([c]) => c)).toEqual(expected.map(([c]) => c));
      got.forEach(([c, v], p) => {
        expect(v).toBeCloseTo(expected[p]![1] / norm, 12);
        expect(idf[c]).toBeCloseTo(
          expected[p]![1] / (1 + Math.log(tf.get([...vocab].find(([, col]) => col === c)![0])!)),
          12,
        );
      });
    });
  });
});

describe('LSI stored basis', () => {
  it('reads back what was fitted, and refuses a basis stored by the earlier fit (version 2)', async () => {
    const files = new Map(
      Array.from(
        { length: 30 },
        (_, i) =>
          [
            `pkg/mod${i}.py`,
            `def handler_${i % 7}(request, ${i % 2 ? 'session' : 'cache'}):\n    return render_${i % 5}(request)\n`,
          ] as const,
      ),
    );
    const dir = mkdtempSync(join(tmpdir(), 'fw-lsi-'));
    const corpus = {
      paths: [...files.keys()],
      texts: files,
      blobs: new Map([...files.keys()].map((p, i) => [p, `blob${i}`])),
      repository: 'example',
      cache: { dir },
    };
    const embedder = new LsiEmbedder(8);
    const embedding = await embedder.embedCorpus(corpus);
    expect(embedder.lastFit?.kind).toBe('fitted');
    const [name] = readdirSync(dir).filter((f) => f.endsWith('.bin'));
    const file = join(dir, name!);
    const basis = loadBasis(file)!;
    expect(basis.rank).toBe(8);
    corpus.paths.forEach((p, i) =>
      expect(Array.from(basis.fitted.get(`${p}\0blob${i}`)!)).toEqual(Array.from(embedding.vectors[i]!)),
    );
    // A second embedder finds the stored basis and folds nothing: the same vectors, and the same queries.
    const again = new LsiEmbedder(8);
    const reread = await again.embedCorpus(corpus);
    expect(again.lastFit).toEqual({ kind: 'folded', folded: 0, share: 0 });
    expect(Array.from(await reread.embedQuery('render the session handler'))).toEqual(
      Array.from(await embedding.embedQuery('render the session handler')),
    );
    const bytes = readFileSync(file);
    const header = bytes.subarray(4, 4 + bytes.readUInt32LE(0)).toString('utf8');
    expect(header).toContain('"version":3');
    writeFileSync(
      file,
      Buffer.concat([
        bytes.subarray(0, 4),
        Buffer.from(header.replace('"version":3', '"version":2')),
        bytes.subarray(4 + header.length),
      ]),
    );
    expect(loadBasis(file)).toBeUndefined();
    const refit = new LsiEmbedder(8);
    await refit.embedCorpus(corpus);
    expect(refit.lastFit?.kind).toBe('fitted');
  });
});

/** Folding as LSI ran it before: a Map of term counts, then one output at a time, in order. */
function plainFold(basis: LsiBasis, terms: readonly string[], counts: readonly number[]): Float32Array {
  const tf = new Map<number, number>();
  terms.forEach((t, i) => {
    const col = basis.vocab.get(t);
    if (col !== undefined) tf.set(col, (tf.get(col) ?? 0) + counts[i]!);
  });
  const entries = [...tf].map(([col, count]) => [col, (1 + Math.log(count)) * basis.idf[col]!] as const);
  const norm = Math.sqrt(entries.reduce((s, [, v]) => s + v * v, 0)) || 1;
  const qb = new Float64Array(basis.l);
  for (const [col, v] of entries) for (let j = 0; j < basis.l; j++) qb[j]! += (v / norm) * basis.bt[col * basis.l + j]!;
  const vec = new Float32Array(basis.rank);
  for (let j = 0; j < basis.l; j++)
    if (qb[j] !== 0) for (let d = 0; d < basis.rank; d++) vec[d]! += qb[j]! * basis.projection[j * basis.rank + d]!;
  let len = 0;
  for (const x of vec) len += x * x;
  len = Math.sqrt(len);
  if (len > 0) for (let d = 0; d < vec.length; d++) vec[d]! /= len;
  return vec;
}

describe('LSI folding', () => {
  it('is bit for bit the plain fold, for changed files (repeated and unknown terms) and queries', async () => {
    const rand = lcg(41);
    const words = Array.from({ length: 300 }, (_, i) => `w${i}`);
    const doc = () =>
      Array.from({ length: 20 + Math.floor(rand() * 60) }, () => words[Math.floor(rand() ** 2 * words.length)]!);
    const paths = Array.from({ length: 60 }, (_, i) => `pkg/m${i}.py`);
    const counted = (t: string[]) => ({ terms: t, counts: t.map(() => 1 + Math.floor(rand() * 4)) });
    const terms = new Map(paths.map((p) => [p, counted(doc())] as const));
    const dir = mkdtempSync(join(tmpdir(), 'fw-lsi-fold-'));
    const corpus = (blob: (i: number) => string) => ({
      paths,
      texts: new Map<string, string>(),
      terms,
      blobs: new Map(paths.map((p, i) => [p, blob(i)])),
      repository: 'example',
      commit: 'c1',
      gitDir: '/nonexistent',
      cache: { dir },
    });
    const embedder = new LsiEmbedder(20);
    await embedder.embedCorpus(corpus(() => 'a'));
    const basis = loadBasis(
      join(
        dir,
        readdirSync(dir).find((f) => f.endsWith('.bin'))!,
      ),
    )!;
    // Eight files changed (a term listed twice in one, and terms the basis never saw): folded in.
    terms.set(paths[3]!, { terms: ['w1', 'never', 'w7', 'w1', 'w250'], counts: [2, 5, 1, 3, 1] });
    for (const i of [5, 9, 17, 22, 31, 40, 59]) terms.set(paths[i]!, counted(doc()));
    const changed = new Set([3, 5, 9, 17, 22, 31, 40, 59]);
    const embedding = await embedder.embedCorpus(corpus((i) => (changed.has(i) ? 'b' : 'a')));
    expect(embedder.lastFit).toMatchObject({ kind: 'folded', folded: 8 });
    for (const i of changed) {
      const { terms: t, counts } = terms.get(paths[i]!)!;
      const expected = plainFold(basis, t, counts);
      expect(embedding.vectors[i]!.every((x, d) => Object.is(x, expected[d]))).toBe(true);
    }
    const text = 'w3 w3 w12 w100 unknown w299';
    const tokens = new Map<string, number>();
    for (const t of tokenize(text)) tokens.set(t, (tokens.get(t) ?? 0) + 1);
    const query = await embedding.embedQuery(text);
    const expected = plainFold(basis, [...tokens.keys()], [...tokens.values()]);
    expect(expected.some((x) => x !== 0)).toBe(true);
    expect(query.every((x, d) => Object.is(x, expected[d]))).toBe(true);
    expect(Array.from(await embedding.embedQuery('nothing known'))).toEqual(new Array(20).fill(0));
  });
});
