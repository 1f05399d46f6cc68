import pLimit, { type LimitFunction } from 'p-limit';

/**
 * Bounds how many sandboxes run at once; callers beyond the bound wait in FIFO order. A slot is
 * held for the whole of `use`, so a session's container never outlives its slot.
 */
export class SandboxPool {
  private readonly limit: LimitFunction;

  constructor(concurrency: number) {
    this.limit = pLimit(concurrency);
  }

  /** Runs `task` when a slot is free. */
  use<T>(task: () => Promise<T>): Promise<T> {
    return this.limit(task);
  }

  /** Sandboxes running now. */
  get active(): number {
    return this.limit.activeCount;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.limit.pendingCount;
  }
}
