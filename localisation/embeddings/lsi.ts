import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { pathTokens, tokenize } from '../tokenize.js';
import { type CorpusEmbedding, type Embedder, type EmbeddingCorpus, normalise } from './embedder.js';

/** A small seeded generator, so the same repository always gets the same vectors. */
function gaussian(seed: number): () => number {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

interface SparseRows {
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
}

/** Orthonormalises the columns of an n × l column-major matrix in place (modified Gram-Schmidt). */
function orthonormalise(m: Float64Array, n: number, l: number): void {
  for (let j = 0; j < l; j++) {
    const cj = j * n;
    for (let i = 0; i < j; i++) {
      const ci = i * n;
      let dot = 0;
      for (let r = 0; r < n; r++) dot += m[ci + r]! * m[cj + r]!;
      for (let r = 0; r < n; r++) m[cj + r]! -= dot * m[ci + r]!;
    }
    let norm = 0;
    for (let r = 0; r < n; r++) norm += m[cj + r]! ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let r = 0; r < n; r++) m[cj + r]! /= norm;
  }
}

/**
 * Latent semantic indexing fitted on the repository itself: sublinear TF-IDF over code tokens, then a
 * randomized truncated SVD (Halko et al.) to `dimensions` latent topics. Needs no download and no
 * network; queries are folded into the same space.
 */
export class LsiEmbedder implements Embedder {
  readonly name: string;

  constructor(private readonly dimensions = 128, private readonly seed = 7) {
    this.name = `lsi-${dimensions}`;
  }

  async embedCorpus(corpus: EmbeddingCorpus): Promise<CorpusEmbedding> {
    const docs = corpus.paths.map((p) => [...pathTokens(p), ...tokenize(corpus.texts.get(p) ?? '')]);
    const n = docs.length;
    // Vocabulary: terms in at least 2 files (or any, for tiny repositories) and not in most of them.
    const df = new Map<string, number>();
    for (const tokens of docs) for (const t of new Set(tokens)) df.set(t, (df.get(t) ?? 0) + 1);
    const vocab = new Map<string, number>();
    const idf: number[] = [];
    for (const [term, count] of df) {
      if ((n >= 20 && count < 2) || (n >= 20 && count > 0.5 * n)) continue;
      vocab.set(term, idf.length);
      idf.push(Math.log((n + 1) / (count + 1)) + 1);
    }
    const m = idf.length;
    const weigh = (tokens: string[]) => {
      const tf = new Map<number, number>();
      for (const t of tokens) {
        const col = vocab.get(t);
        if (col !== undefined) tf.set(col, (tf.get(col) ?? 0) + 1);
      }
      const entries = [...tf].map(([col, count]) => [col, (1 + Math.log(count)) * idf[col]!] as const);
      const norm = Math.sqrt(entries.reduce((s, [, v]) => s + v * v, 0)) || 1;
      return entries.map(([col, v]) => [col, v / norm] as const);
    };
    const rows = docs.map(weigh);
    const nnz = rows.reduce((s, r) => s + r.length, 0);
    const a: SparseRows = { rowPtr: new Int32Array(n + 1), cols: new Int32Array(nnz), vals: new Float64Array(nnz) };
    let k = 0;
    rows.forEach((row, i) => {
      for (const [col, v] of row) {
        a.cols[k] = col;
        a.vals[k++] = v;
      }
      a.rowPtr[i + 1] = k;
    });

    const rank = Math.max(1, Math.min(this.dimensions, n - 1, m - 1));
    const l = Math.min(rank + 10, n, m);
    if (n < 2 || m < 2 || l < 1) return this.degenerate(n, vocab, idf, rows);

    // Y = A Ω (n × l), then two power iterations Y = A Aᵀ Y, orthonormalising between.
    const rand = gaussian(this.seed);
    const omega = new Float64Array(m * l).map(() => rand()); // column-major m × l
    // A·X (n × l) from X (m × l), or Aᵀ·Y (m × l) from Y (n × l); all column-major.
    const multiply = (src: Float64Array, transpose: boolean): Float64Array => {
      const [outRows, srcRows] = transpose ? [m, n] : [n, m];
      const out = new Float64Array(outRows * l);
      for (let i = 0; i < n; i++) {
        for (let p = a.rowPtr[i]!; p < a.rowPtr[i + 1]!; p++) {
          const [to, from] = transpose ? [a.cols[p]!, i] : [i, a.cols[p]!];
          const v = a.vals[p]!;
          for (let j = 0; j < l; j++) out[j * outRows + to]! += v * src[j * srcRows + from]!;
        }
      }
      return out;
    };
    const times = (x: Float64Array) => multiply(x, false);
    const transposeTimes = (y: Float64Array) => multiply(y, true);
    let y = times(omega);
    for (let it = 0; it < 2; it++) {
      orthonormalise(y, n, l);
      const z = transposeTimes(y);
      orthonormalise(z, m, l);
      y = times(z);
    }
    orthonormalise(y, n, l);
    // B = Qᵀ A (l × m), stored as Bᵀ column-major (m × l) = Aᵀ Q.
    const bt = transposeTimes(y);
    // C = B Bᵀ (l × l); its eigenvectors W and eigenvalues σ² give B's SVD.
    const c = Matrix.zeros(l, l);
    for (let i = 0; i < l; i++) {
      for (let j = i; j < l; j++) {
        let dot = 0;
        for (let t = 0; t < m; t++) dot += bt[i * m + t]! * bt[j * m + t]!;
        c.set(i, j, dot);
        c.set(j, i, dot);
      }
    }
    const evd = new EigenvalueDecomposition(c, { assumeSymmetric: true });
    const order = evd.realEigenvalues.map((v, i) => [v, i] as const).sort((p, q) => q[0] - p[0]).slice(0, rank);
    const w = evd.eigenvectorMatrix;
    const sigma = order.map(([v]) => Math.sqrt(Math.max(v, 1e-12)));
    // Documents: U Σ = Q W Σ (n × rank). Queries: q Vₖ = (q Bᵀ) W Σ⁻¹.
    const vectors: Float32Array[] = [];
    for (let i = 0; i < n; i++) {
      const vec = new Float32Array(rank);
      order.forEach(([, e], d) => {
        let s = 0;
        for (let j = 0; j < l; j++) s += y[j * n + i]! * w.get(j, e);
        vec[d] = s * sigma[d]!;
      });
      vectors.push(normalise(vec));
    }
    const embedQuery = async (text: string) => {
      const q = weigh(tokenize(text));
      const qb = new Float64Array(l);
      for (const [col, v] of q) for (let j = 0; j < l; j++) qb[j]! += v * bt[j * m + col]!;
      const vec = new Float32Array(rank);
      order.forEach(([, e], d) => {
        let s = 0;
        for (let j = 0; j < l; j++) s += qb[j]! * w.get(j, e);
        vec[d] = s / sigma[d]!;
      });
      return normalise(vec);
    };
    return { dimensions: rank, vectors, embedQuery };
  }

  /** Too few files or terms for an SVD: plain normalised TF-IDF over the (tiny) vocabulary. */
  private degenerate(n: number, vocab: Map<string, number>, idf: number[], rows: ReadonlyArray<ReadonlyArray<readonly [number, number]>>): CorpusEmbedding {
    const dims = Math.max(1, idf.length);
    const dense = (row: ReadonlyArray<readonly [number, number]>) => {
      const v = new Float32Array(dims);
      for (const [col, x] of row) v[col] = x;
      return normalise(v);
    };
    return {
      dimensions: dims,
      vectors: rows.slice(0, n).map(dense),
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
