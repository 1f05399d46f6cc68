import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EigenvalueDecomposition, Matrix, SingularValueDecomposition } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { gaussians, LsiEmbedder, orthonormalise, orthonormaliseStably, type SparseRows, triangularCondition, truncatedSvd, weighCorpus } from '../../localisation/embeddings/lsi.js';
import { loadBasis } from '../../localisation/embeddings/lsi-store.js';
import { symmetricEigen } from '../../localisation/embeddings/symmetric-eigen.js';

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
      if (v !== 0) (cols.push(c), vals.push(v));
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
    const bt = new Matrix(Array.from({ length: m }, (_, t) => Array.from({ length: l }, (_, j) => svd.bt[j * m + t]!)));
    expect(maxAbs(q.mmul(bt.transpose()).sub(a))).toBeLessThan(1e-12);
    const u = leftVectors(svd, n, l, rank);
    const gram = u.transpose().mmul(u);
    // Columns for nonzero singular values orthonormal; the rest (σ at its floor) zero or orthonormal.
    for (let d = 0; d < rank; d++) for (let e = 0; e < rank; e++) if (svd.sigma[d]! > 1e-3 && svd.sigma[e]! > 1e-3) expect(gram.get(d, e)).toBeCloseTo(d === e ? 1 : 0, 12);
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
    for (let j = 1; j < l; j++) for (let r = 0; r < n; r++) hard[j * n + r] = hard[(j - 1) * n + r]! + 1e-8 * hard[j * n + r]!;
    const single = hard.slice();
    orthonormalise(single, n, l, 1e-10);
    expect(orthogonalityLoss(single, n, l)).toBeGreaterThan(1e-10);
    orthonormaliseStably(hard, n, l);
    expect(orthogonalityLoss(hard, n, l)).toBeLessThan(1e-14);
    expect(hard.some((x) => x !== 0)).toBe(true);
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
      if (n > 4) for (let j = 0; j < n; j++) c[3 * n + j] = c[j * n + 3] = c[4 * n + j] = c[j * n + 4] = j === 3 || j === 4 ? 0.5 : c[2 * n + j]!;
      const expected = new EigenvalueDecomposition(new Matrix(Array.from({ length: n }, (_, i) => Array.from(c.subarray(i * n, (i + 1) * n)))), { assumeSymmetric: true });
      const got = symmetricEigen(c, n);
      expect(Array.from(got.values).every((v, k) => Object.is(v, expected.realEigenvalues[k]))).toBe(true);
      for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) expect(Object.is(got.vectors[k * n + i], expected.eigenvectorMatrix.get(i, k))).toBe(true);
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
      const expected = [...tf].filter(([t]) => vocab.has(t)).map(([t, c]) => [vocab.get(t)!, (1 + Math.log(c)) * (Math.log(25 / (t.startsWith('pair') ? 3 : 4)) + 1)] as const);
      const norm = Math.hypot(...expected.map(([, v]) => v));
      const got = Array.from({ length: a.rowPtr[i + 1]! - a.rowPtr[i]! }, (_, p) => [a.cols[a.rowPtr[i]! + p]!, a.vals[a.rowPtr[i]! + p]!] as const);
      expect(got.map(([c]) => c)).toEqual(expected.map(([c]) => c));
      got.forEach(([c, v], p) => {
        expect(v).toBeCloseTo(expected[p]![1] / norm, 12);
        expect(idf[c]).toBeCloseTo(expected[p]![1] / (1 + Math.log(tf.get([...vocab].find(([, col]) => col === c)![0])!)), 12);
      });
    });
  });
});

describe('LSI stored basis', () => {
  it('reads back what was fitted, and refuses a basis stored by the earlier fit (version 2)', async () => {
    const files = new Map(Array.from({ length: 30 }, (_, i) => [`pkg/mod${i}.py`, `def handler_${i % 7}(request, ${i % 2 ? 'session' : 'cache'}):\n    return render_${i % 5}(request)\n`] as const));
    const dir = mkdtempSync(join(tmpdir(), 'fw-lsi-'));
    const corpus = { paths: [...files.keys()], texts: files, blobs: new Map([...files.keys()].map((p, i) => [p, `blob${i}`])), repository: 'example', cache: { dir } };
    const embedder = new LsiEmbedder(8);
    const embedding = await embedder.embedCorpus(corpus);
    expect(embedder.lastFit?.kind).toBe('fitted');
    const [name] = readdirSync(dir).filter((f) => f.endsWith('.bin'));
    const file = join(dir, name!);
    const basis = loadBasis(file)!;
    expect(basis.rank).toBe(8);
    corpus.paths.forEach((p, i) => expect(Array.from(basis.fitted.get(`${p}\0blob${i}`)!)).toEqual(Array.from(embedding.vectors[i]!)));
    // A second embedder finds the stored basis and folds nothing: the same vectors, and the same queries.
    const again = new LsiEmbedder(8);
    const reread = await again.embedCorpus(corpus);
    expect(again.lastFit).toEqual({ kind: 'folded', folded: 0, share: 0 });
    expect(Array.from(await reread.embedQuery('render the session handler'))).toEqual(Array.from(await embedding.embedQuery('render the session handler')));
    const bytes = readFileSync(file);
    const header = bytes.subarray(4, 4 + bytes.readUInt32LE(0)).toString('utf8');
    expect(header).toContain('"version":3');
    writeFileSync(file, Buffer.concat([bytes.subarray(0, 4), Buffer.from(header.replace('"version":3', '"version":2')), bytes.subarray(4 + header.length)]));
    expect(loadBasis(file)).toBeUndefined();
    const refit = new LsiEmbedder(8);
    await refit.embedCorpus(corpus);
    expect(refit.lastFit?.kind).toBe('fitted');
  });
});
