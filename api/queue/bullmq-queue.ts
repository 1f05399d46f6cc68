import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { CancelOutcome, QueueCounts, TaskQueue } from './task-queue.js';

/** The BullMQ queue every API and worker process shares. */
export const QUEUE_NAME = 'fixwright-tasks';

/** Where the API tells workers to cancel a running task (message: the task id). */
export function cancelChannel(prefix: string): string {
  return `${prefix}:cancel`;
}

/** A connection as BullMQ wants it (blocking commands must not give up on retries). */
export function bullConnection(url: string, onError: (err: Error) => void = () => undefined): Redis {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  connection.on('error', onError);
  return connection;
}

/**
 * The API's side of BullMQ: one job per task (job id = task id, so a task is never queued twice),
 * kept in Redis so it survives an API restart. Workers take it from there.
 */
export class BullTaskQueue implements TaskQueue {
  readonly kind = 'bullmq' as const;
  private readonly connection: Redis;
  private readonly queue: Queue;

  constructor(
    url: string,
    private readonly prefix = 'fixwright',
    onError: (err: Error) => void = () => undefined,
  ) {
    this.connection = bullConnection(url, onError);
    this.queue = new Queue(QUEUE_NAME, { connection: this.connection, prefix });
    this.queue.on('error', onError);
  }

  async enqueue(taskId: string): Promise<void> {
    await this.queue.add(
      'solve',
      { task_id: taskId },
      { jobId: taskId, attempts: 1, removeOnComplete: 10_000, removeOnFail: 10_000 },
    );
  }

  async cancel(taskId: string): Promise<CancelOutcome> {
    const job = await this.queue.getJob(taskId);
    const state = job ? await job.getState() : 'unknown';
    if (job && ['waiting', 'delayed', 'prioritized'].includes(state)) {
      try {
        await job.remove();
        return 'removed';
      } catch {
        // A worker took it between the two calls: tell it to stop.
      }
    }
    await this.connection.publish(cancelChannel(this.prefix), taskId);
    return 'signalled';
  }

  async counts(): Promise<QueueCounts> {
    const c = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return { waiting: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0 };
  }

  /** Worker processes connected to the queue right now. */
  async workers(): Promise<number> {
    return (await this.queue.getWorkers()).length;
  }

  async ready(): Promise<boolean> {
    try {
      return (await this.connection.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.queue.close();
    await this.connection.quit().catch(() => undefined);
  }
}
