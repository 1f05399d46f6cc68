/** A captured stream: its head and tail, and how much of the middle was dropped. */
export interface CappedOutput {
  /** Head, a marker line when bytes were cut, then tail (UTF-8, lossy at the cut points). */
  text: string;
  /** The same as raw bytes (binary output survives). */
  raw: Buffer;
  totalBytes: number;
  truncatedBytes: number;
}

/**
 * Collects a stream while holding at most `capBytes` of it: the first half and the last half.
 * A flood of output therefore costs bounded memory however long it runs, and the end of a log —
 * where pytest prints its summary — is always kept.
 */
export class OutputCollector {
  private readonly headCap: number;
  private readonly tailCap: number;
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;

  constructor(capBytes: number) {
    this.headCap = Math.floor(capBytes / 2);
    this.tailCap = capBytes - this.headCap;
  }

  /**
   * Takes a chunk synchronously (a plain sink rather than a Writable, whose buffered writes could
   * still be pending when the caller reads the result).
   */
  write(chunk: Buffer): boolean {
    this.push(chunk);
    return true;
  }

  private push(chunk: Buffer): void {
    this.total += chunk.length;
    let rest = chunk;
    if (this.headBytes < this.headCap) {
      const take = Math.min(this.headCap - this.headBytes, rest.length);
      this.head.push(rest.subarray(0, take));
      this.headBytes += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0 || this.tailCap === 0) return;
    if (rest.length >= this.tailCap) {
      // Copy so a huge chunk's buffer can be freed.
      this.tail = [Buffer.from(rest.subarray(rest.length - this.tailCap))];
      this.tailBytes = this.tailCap;
      return;
    }
    this.tail.push(rest);
    this.tailBytes += rest.length;
    while (this.tailBytes - (this.tail[0]?.length ?? 0) >= this.tailCap) {
      this.tailBytes -= this.tail.shift()!.length;
    }
  }

  /** The captured output so far. */
  result(): CappedOutput {
    const all = Buffer.concat(this.tail);
    const tail = all.subarray(Math.max(0, all.length - this.tailCap));
    const head = Buffer.concat(this.head);
    const truncated = this.total - head.length - tail.length;
    const raw =
      truncated > 0
        ? Buffer.concat([head, Buffer.from(`\n[fixwright: ${truncated} bytes of output cut here]\n`), tail])
        : Buffer.concat([head, tail]);
    return { text: raw.toString('utf8'), raw, totalBytes: this.total, truncatedBytes: truncated };
  }
}
