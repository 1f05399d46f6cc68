import type { Bm25Weights } from './bm25.js';

/**
 * One build's uncounted blobs as the blob pool's threads share them: the texts in one shared
 * buffer (UTF-16 code units, so any string comes back as it was), and a shared counter each thread
 * takes the next blob from, largest first, so no thread is left with the one large file at the end.
 */
export interface BlobJob {
  id: number;
  /** Int32 slots: JOB_NEXT (the next position in `order` to take) and JOB_DONE (blobs posted back). */
  control: SharedArrayBuffer;
  texts: SharedArrayBuffer;
  /** Blob i's text is code units [starts[i], starts[i + 1]) of `texts`. */
  starts: Int32Array;
  paths: string[];
  order: Int32Array;
  weights: Bm25Weights;
  /** FIXWRIGHT_PYTHON_SCANNER as the main thread has it now (a worker's environment is a copy made at its start). */
  scanner: string | undefined;
}

export const JOB_NEXT = 0;
export const JOB_DONE = 1;

/** Takes the next blob of a job (its index), or -1 when every blob is taken. */
export function claimBlob(control: Int32Array, job: Pick<BlobJob, 'order'>): number {
  const k = Atomics.add(control, JOB_NEXT, 1);
  return k < job.order.length ? job.order[k]! : -1;
}

/** The text of blob `item`, as it was given. */
export function readBlobText(job: Pick<BlobJob, 'texts' | 'starts'>, item: number): string {
  const from = job.starts[item]!;
  return Buffer.from(job.texts, from * 2, (job.starts[item + 1]! - from) * 2).toString('utf16le');
}

/** A job's shared text buffer and offsets. */
export function packTexts(texts: readonly string[]): { texts: SharedArrayBuffer; starts: Int32Array } {
  const starts = new Int32Array(texts.length + 1);
  texts.forEach((t, i) => (starts[i + 1] = starts[i]! + t.length));
  const shared = new SharedArrayBuffer(starts[texts.length]! * 2);
  const bytes = Buffer.from(shared);
  texts.forEach((t, i) => bytes.write(t, starts[i]! * 2, 'utf16le'));
  return { texts: shared, starts };
}
