/** How a cancel request went. */
export type CancelOutcome = 'removed' | 'signalled';

/** Jobs waiting and running, for /metrics and /api/metrics. */
export interface QueueCounts {
  waiting: number;
  active: number;
}

/**
 * Where the API puts tasks to run: in this process (the single-machine default) or on BullMQ for
 * `fixwright worker` processes anywhere. The API never runs a sandbox itself in the Redis mode.
 */
export interface TaskQueue {
  readonly kind: 'in-process' | 'bullmq';
  enqueue(taskId: string): Promise<void>;
  /** Takes a waiting task off the queue, or tells the process running it to stop. */
  cancel(taskId: string): Promise<CancelOutcome>;
  counts(): Promise<QueueCounts>;
  /** Is the queue's backend reachable (for /readyz)? */
  ready(): Promise<boolean>;
  /** Stops taking jobs and lets running ones finish (up to the grace period). */
  close(graceMs: number): Promise<void>;
}
