import type { Logger } from 'pino';
import type { AbortReason } from '../run-task.js';
import type { CancelOutcome, QueueCounts, TaskQueue } from './task-queue.js';

/** Runs one task to its end; the signal's reason says why it was stopped early. */
export type TaskRunner = (taskId: string, signal: AbortSignal) => Promise<unknown>;

/**
 * The single-machine queue: tasks run in this process, `concurrency` at a time, in the order
 * they came. Cancelling a running task aborts its signal; closing waits for running tasks up to
 * the grace period, then aborts them as a shutdown (the runner puts them back in the queue).
 */
export class LocalTaskQueue implements TaskQueue {
  readonly kind = 'in-process' as const;
  private readonly waiting: string[] = [];
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private closed = false;

  constructor(
    private readonly run: TaskRunner,
    private readonly concurrency: number,
    private readonly logger: Logger,
    /** Records the end of a task whose runner threw (so it is never left running). */
    private readonly onCrash?: (taskId: string, err: unknown) => Promise<unknown>,
  ) {}

  async enqueue(taskId: string): Promise<void> {
    if (this.closed) throw new Error('the queue is shutting down');
    if (this.waiting.includes(taskId) || this.running.has(taskId)) return;
    this.waiting.push(taskId);
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.concurrency && this.waiting.length > 0) {
      const taskId = this.waiting.shift()!;
      const controller = new AbortController();
      const done = this.run(taskId, controller.signal)
        .then(() => undefined)
        .catch((err: unknown) => {
          this.logger.error({ err, task_id: taskId }, 'task runner failed');
          return this.onCrash?.(taskId, err);
        })
        .then(
          () => undefined,
          () => undefined,
        )
        .finally(() => {
          this.running.delete(taskId);
          this.pump();
        });
      this.running.set(taskId, { controller, done });
    }
  }

  async cancel(taskId: string): Promise<CancelOutcome> {
    const at = this.waiting.indexOf(taskId);
    if (at >= 0) {
      this.waiting.splice(at, 1);
      return 'removed';
    }
    this.running.get(taskId)?.controller.abort('cancel' satisfies AbortReason);
    return 'signalled';
  }

  async counts(): Promise<QueueCounts> {
    return { waiting: this.waiting.length, active: this.running.size };
  }

  async ready(): Promise<boolean> {
    return !this.closed;
  }

  async close(graceMs: number): Promise<void> {
    this.closed = true;
    const all = [...this.running.values()];
    const timer = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([Promise.all(all.map((r) => r.done)), timer]);
    for (const r of this.running.values()) r.controller.abort('shutdown' satisfies AbortReason);
    await Promise.all([...this.running.values()].map((r) => r.done));
  }
}
