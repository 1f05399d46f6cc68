/**
 * Eigenvalues and eigenvectors of a real symmetric matrix: Householder reduction to tridiagonal form
 * (tred2) and the implicit QL algorithm (tql2), as in JAMA and ml-matrix's EigenvalueDecomposition,
 * operation for operation, so the results are bit for bit ml-matrix's; over one flat Float64Array
 * instead of a Matrix read and written through get and set (LSI's 138 × 138 C: about a fifth of the
 * time).
 */

/** Eigenvalues in ascending order; eigenvector k is the contiguous row k of `vectors` (n × n). */
export interface SymmetricEigen {
  values: Float64Array;
  vectors: Float64Array;
}

/** sqrt(a² + b²) without overflow, as ml-matrix computes it. */
function hypotenuse(a: number, b: number): number {
  let r: number;
  if (Math.abs(a) > Math.abs(b)) {
    r = b / a;
    return Math.abs(a) * Math.sqrt(1 + r * r);
  }
  if (b !== 0) {
    r = a / b;
    return Math.abs(b) * Math.sqrt(1 + r * r);
  }
  return 0;
}

/**
 * The eigen-decomposition of the symmetric n × n matrix `c` (row-major; only read). The working
 * matrix t is V transposed (t[j·n + i] is V's entry (i, j)), the layout ml-matrix runs these loops
 * in, which leaves each eigenvector a row.
 */
export function symmetricEigen(c: Float64Array, n: number): SymmetricEigen {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = c[i * n + j]!;
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tred2(n, e, d, t);
  tql2(n, e, d, t);
  return { values: d, vectors: t };
}

// tred2's and tql2's O(n³) loops are functions of their own: each is compiled once, hot from its
// first calls, where inside one long function each loop in turn got hot and had the whole function
// compiled again (in a new process the eigen-decomposition took about six times its warm time).

/** tred2's product of the matrix left to reduce (v's first i rows and columns, one triangle read) with d, into e; d kept in v's row i. */
function tred2Product(n: number, i: number, e: Float64Array, d: Float64Array, v: Float64Array): void {
  for (let j = 0; j < i; j++) e[j] = 0;
  for (let j = 0; j < i; j++) {
    const f = d[j]!;
    v[i * n + j] = f;
    let g = e[j]! + v[j * n + j]! * f;
    for (let k = j + 1; k <= i - 1; k++) {
      g += v[j * n + k]! * d[k]!;
      e[k]! += v[j * n + k]! * f;
    }
    e[j] = g;
  }
}

/** tred2's rank-two update of v's first i rows and columns by d and e. */
function tred2Update(n: number, i: number, e: Float64Array, d: Float64Array, v: Float64Array): void {
  for (let j = 0; j < i; j++) {
    const f = d[j]!;
    const g = e[j]!;
    for (let k = j; k <= i - 1; k++) v[j * n + k] = v[j * n + k]! - (f * e[k]! + g * d[k]!);
    d[j] = v[j * n + i - 1]!;
    v[j * n + i] = 0;
  }
}

/** tred2's accumulation of the transformations: row i + 1's Householder vector into rows 0..i. */
function tred2Accumulate(n: number, i: number, d: Float64Array, v: Float64Array): void {
  for (let j = 0; j <= i; j++) {
    let g = 0;
    for (let k = 0; k <= i; k++) g += v[(i + 1) * n + k]! * v[j * n + k]!;
    for (let k = 0; k <= i; k++) v[j * n + k] = v[j * n + k]! - g * d[k]!;
  }
}

/** tql2's Givens rotation of rows i and i + 1 of v. */
function rotate(n: number, i: number, c: number, s: number, v: Float64Array): void {
  const below = (i + 1) * n;
  const at = i * n;
  for (let k = 0; k < n; k++) {
    const h = v[below + k]!;
    v[below + k] = s * v[at + k]! + c * h;
    v[at + k] = c * v[at + k]! - s * h;
  }
}

function tred2(n: number, e: Float64Array, d: Float64Array, v: Float64Array): void {
  let f: number, g: number, h: number, hh: number, scale: number;
  for (let j = 0; j < n; j++) d[j] = v[j * n + n - 1]!;
  for (let i = n - 1; i > 0; i--) {
    scale = 0;
    h = 0;
    for (let k = 0; k < i; k++) scale = scale + Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = v[j * n + i - 1]!;
        v[j * n + i] = 0;
        v[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k]! /= scale;
        h += d[k]! * d[k]!;
      }
      f = d[i - 1]!;
      g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h = h - f * g;
      d[i - 1] = f - g;
      tred2Product(n, i, e, d, v);
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j]! /= h;
        f += e[j]! * d[j]!;
      }
      hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j]! -= hh * d[j]!;
      tred2Update(n, i, e, d, v);
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    v[i * n + n - 1] = v[i * n + i]!;
    v[i * n + i] = 1;
    h = d[i + 1]!;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = v[(i + 1) * n + k]! / h;
      tred2Accumulate(n, i, d, v);
    }
    for (let k = 0; k <= i; k++) v[(i + 1) * n + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[j * n + n - 1]!;
    v[j * n + n - 1] = 0;
  }
  v[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

function tql2(n: number, e: Float64Array, d: Float64Array, v: Float64Array): void {
  let g: number,
    h: number,
    m: number,
    p: number,
    r: number,
    dl1: number,
    c: number,
    c2: number,
    c3: number,
    el1: number,
    s: number,
    s2: number;
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = Number.EPSILON;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    m = l;
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      do {
        g = d[l]!;
        p = (d[l + 1]! - g) / (2 * e[l]!);
        r = hypotenuse(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        dl1 = d[l + 1]!;
        h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i]! -= h;
        f = f + h;
        p = d[m]!;
        c = 1;
        c2 = c;
        c3 = c;
        el1 = e[l + 1]!;
        s = 0;
        s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = hypotenuse(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          rotate(n, i, c, s, v);
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
  for (let i = 0; i < n - 1; i++) {
    let k = i;
    p = d[i]!;
    for (let j = i + 1; j < n; j++) {
      if (d[j]! < p) {
        k = j;
        p = d[j]!;
      }
    }
    if (k !== i) {
      d[k] = d[i]!;
      d[i] = p;
      for (let j = 0; j < n; j++) {
        p = v[i * n + j]!;
        v[i * n + j] = v[k * n + j]!;
        v[k * n + j] = p;
      }
    }
  }
}
