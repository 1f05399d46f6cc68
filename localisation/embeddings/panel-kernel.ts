import type { SparseRows } from './lsi.js';

/**
 * The sparse product's full panels (see `panelsFromColumns` in lsi.ts) in WebAssembly SIMD: eight
 * sums per row of A held as four pairs (f64x2), each pair's lanes multiplied and added as the
 * scalar loop does (a multiply, then an add into the sum, in the row's order from 0; WebAssembly
 * has no fused multiply-add here), so the outputs are bit for bit the scalar ones, with two lanes
 * per instruction and no typed-array checks per load (WebAssembly's own bounds checks remain, done
 * by V8 with guard pages). The module is encoded below, its text in comments.
 */

// LEB128, unsigned and signed (the constants here are small).
const u = (n: number): number[] => {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
};
const name = (s: string) => [...u(s.length), ...Buffer.from(s, 'utf8')];
const section = (id: number, body: number[]) => [id, ...u(body.length), ...body];

const [BLOCK, LOOP, END, BR, BR_IF] = [0x02, 0x03, 0x0b, 0x0c, 0x0d];
const [GET, SET, TEE] = [0x20, 0x21, 0x22];
const [I32_LOAD, F64_LOAD, I32_CONST, I32_GE_U, I32_ADD, I32_SHL] = [0x28, 0x2b, 0x41, 0x4f, 0x6a, 0x74];
const SIMD = 0xfd;
const V128_LOAD = [SIMD, 0x00];
const V128_STORE = [SIMD, 0x0b];
const V128_ZERO = [SIMD, 0x0c, ...new Array<number>(16).fill(0)];
const F64X2_SPLAT = [SIMD, 0x14];
const F64X2_ADD = [SIMD, ...u(0xf0)];
const F64X2_MUL = [SIMD, ...u(0xf2)];
const VOID = 0x40;

// Parameters (byte addresses and counts), then locals.
const [ROW_PTR, COLS, VALS, X, OUT, ROWS, PANELS, X_STRIDE, OUT_STRIDE] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const [B, R, P, END_P, C, O] = [9, 10, 11, 12, 13, 14];
const [A0, A1, A2, A3, V] = [15, 16, 17, 18, 19];

/** i += step */
const add = (local: number, step: number[]) => [GET, local, ...step, I32_ADD, SET, local];

// (func $panels (param rowPtr cols vals x out rows panels xStride outStride)
//   for b < panels: for r < rows:
//     p = rowPtr[r]; end = rowPtr[r + 1]; a0..a3 = 0
//     for p < end: v = splat(vals[p]); c = x + cols[p]·64
//       aK += v · x[c + 16K .. c + 16K + 15]   (K = 0..3: the panel row's eight numbers)
//     out[r·64 ..] = a0 a1 a2 a3
//   x += xStride; out += outStride)
const body = [
  BLOCK,
  VOID,
  LOOP,
  VOID,
  GET,
  B,
  GET,
  PANELS,
  I32_GE_U,
  BR_IF,
  1,
  I32_CONST,
  0,
  SET,
  R,
  BLOCK,
  VOID,
  LOOP,
  VOID,
  GET,
  R,
  GET,
  ROWS,
  I32_GE_U,
  BR_IF,
  1,
  GET,
  ROW_PTR,
  GET,
  R,
  I32_CONST,
  2,
  I32_SHL,
  I32_ADD,
  TEE,
  C,
  I32_LOAD,
  2,
  0,
  SET,
  P,
  GET,
  C,
  I32_LOAD,
  2,
  4,
  SET,
  END_P,
  ...V128_ZERO,
  SET,
  A0,
  ...V128_ZERO,
  SET,
  A1,
  ...V128_ZERO,
  SET,
  A2,
  ...V128_ZERO,
  SET,
  A3,
  BLOCK,
  VOID,
  LOOP,
  VOID,
  GET,
  P,
  GET,
  END_P,
  I32_GE_U,
  BR_IF,
  1,
  GET,
  VALS,
  GET,
  P,
  I32_CONST,
  3,
  I32_SHL,
  I32_ADD,
  F64_LOAD,
  3,
  0,
  ...F64X2_SPLAT,
  SET,
  V,
  GET,
  COLS,
  GET,
  P,
  I32_CONST,
  2,
  I32_SHL,
  I32_ADD,
  I32_LOAD,
  2,
  0,
  I32_CONST,
  6,
  I32_SHL,
  GET,
  X,
  I32_ADD,
  SET,
  C,
  ...[A0, A1, A2, A3].flatMap((a, k) => [
    GET,
    a,
    GET,
    V,
    GET,
    C,
    ...V128_LOAD,
    4,
    16 * k,
    ...F64X2_MUL,
    ...F64X2_ADD,
    SET,
    a,
  ]),
  ...add(P, [I32_CONST, 1]),
  BR,
  0,
  END,
  END,
  GET,
  OUT,
  GET,
  R,
  I32_CONST,
  6,
  I32_SHL,
  I32_ADD,
  SET,
  O,
  ...[A0, A1, A2, A3].flatMap((a, k) => [GET, O, GET, a, ...V128_STORE, 4, 16 * k]),
  ...add(R, [I32_CONST, 1]),
  BR,
  0,
  END,
  END,
  ...add(X, [GET, X_STRIDE]),
  ...add(OUT, [GET, OUT_STRIDE]),
  ...add(B, [I32_CONST, 1]),
  BR,
  0,
  END,
  END,
  END,
];

const I32 = 0x7f;
const V128 = 0x7b;
const MODULE = Uint8Array.from([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00,
  ...section(1, [1, 0x60, 9, ...new Array<number>(9).fill(I32), 0]),
  ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 0x01]),
  ...section(3, [1, 0]),
  ...section(7, [1, ...name('panels'), 0x00, 0]),
  ...section(10, [1, ...u(body.length + 5), 2, 6, I32, 5, V128, ...body]),
]);

type PanelsFn = (
  rowPtr: number,
  cols: number,
  vals: number,
  x: number,
  out: number,
  rows: number,
  panels: number,
  xStride: number,
  outStride: number,
) => void;

let compiled: WebAssembly.Module | null | undefined;
/** The module, or null where this Node has no WebAssembly or no SIMD in it (--jitless, say). */
function module(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(MODULE);
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

const PAGE = 65536;
const ALIGN = 64;

/**
 * One WebAssembly memory holding the arrays of an SVD, allocated once for its whole size: the
 * products of arrays in it run in SIMD, everything else reads them as ordinary typed arrays.
 */
export class PanelArena {
  private used = 0;

  private constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly run: PanelsFn,
  ) {}

  /** An arena of at least `bytes` (each array rounded up to 64 bytes), or undefined without SIMD or memory for it. */
  static create(bytes: number): PanelArena | undefined {
    const mod = module();
    if (!mod) return undefined;
    try {
      const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / PAGE) + 1 });
      const { exports } = new WebAssembly.Instance(mod, { env: { memory } });
      return new PanelArena(memory, exports.panels as PanelsFn);
    } catch {
      return undefined;
    }
  }

  /** Room that `count` elements of `size` bytes take, as `create` counts it. */
  static bytes(count: number, size: number): number {
    return Math.ceil((count * size) / ALIGN) * ALIGN;
  }

  /** Where `bytes` more fit, or -1 when the arena is full. */
  private take(bytes: number): number {
    const at = this.used;
    const size = PanelArena.bytes(bytes, 1);
    if (at + size > this.memory.buffer.byteLength) return -1;
    this.used += size;
    return at;
  }

  // An array that does not fit is an ordinary one: the products that read it take the scalar loop
  // (`holds` is false), which gives the same numbers, so a size sum that falls short costs speed only.
  f64(count: number): Float64Array {
    const at = this.take(count * 8);
    return at < 0 ? new Float64Array(count) : new Float64Array(this.memory.buffer, at, count);
  }

  i32(count: number): Int32Array {
    const at = this.take(count * 4);
    return at < 0 ? new Int32Array(count) : new Int32Array(this.memory.buffer, at, count);
  }

  /** A copy of the `rows` rows of a sparse matrix in the arena (its entries alone, not any room past them). */
  sparse(a: SparseRows, rows: number): SparseRows {
    const nnz = a.rowPtr[rows]!;
    const copy = { rowPtr: this.i32(rows + 1), cols: this.i32(nnz), vals: this.f64(nnz) };
    copy.rowPtr.set(a.rowPtr.subarray(0, rows + 1));
    copy.cols.set(a.cols.subarray(0, nnz));
    copy.vals.set(a.vals.subarray(0, nnz));
    return copy;
  }

  /** Whether every array lies in this arena. */
  holds(...arrays: ArrayBufferView[]): boolean {
    return arrays.every((x) => x.buffer === this.memory.buffer);
  }

  /**
   * The first `panels` full panels of A·X (`rows` rows; X with `xRows` rows), both in panels and
   * in this arena: what `sparseTimes` computes for them, bit for bit.
   */
  panels(a: SparseRows, rows: number, x: Float64Array, xRows: number, panels: number, out: Float64Array): void {
    this.run(
      a.rowPtr.byteOffset,
      a.cols.byteOffset,
      a.vals.byteOffset,
      x.byteOffset,
      out.byteOffset,
      rows,
      panels,
      64 * xRows,
      64 * rows,
    );
  }
}
