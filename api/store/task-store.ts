import type { AgentEvent } from '../../events/index.js';
import type { TaskRecord, TaskStatus } from '../task.js';

/** One page of tasks, newest first. */
export interface TaskPage {
  tasks: TaskRecord[];
  /** Pass back as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

/** Which tasks to list. */
export interface ListQuery {
  status?: TaskStatus;
  cursor?: string;
  limit: number;
}

/** Fields a transition may change, with the statuses it may start from. */
export interface TaskChange {
  /** Apply only when the task is in one of these statuses; otherwise nothing changes. */
  from?: readonly TaskStatus[];
  set: Partial<Omit<TaskRecord, 'task_id' | 'created_at' | 'request'>>;
}

/** Stops a subscription. */
export type Unsubscribe = () => void;

/**
 * Where tasks and their event logs live: on disk for the single-machine default, in Redis (a
 * hash per task, a Stream per task's events) when workers run elsewhere. Both keep `seq` strictly
 * increasing per task: appending an event whose seq is not the next one fails.
 */
export interface TaskStore {
  readonly kind: 'disk' | 'redis';
  create(task: TaskRecord): Promise<void>;
  get(taskId: string): Promise<TaskRecord | undefined>;
  /** Applies a change atomically; returns the task after it, or undefined when `from` did not match (or no such task). */
  change(taskId: string, change: TaskChange): Promise<TaskRecord | undefined>;
  list(query: ListQuery): Promise<TaskPage>;
  /** Counts of tasks per status. */
  countByStatus(): Promise<Record<TaskStatus, number>>;
  /** Appends an event; throws when its seq is not the task's next one. */
  append(event: AgentEvent): Promise<void>;
  lastSeq(taskId: string): Promise<number>;
  /** Events with seq > afterSeq, in order (at most `limit`). */
  events(taskId: string, afterSeq: number, limit?: number): Promise<AgentEvent[]>;
  /**
   * Calls `onEvent` with every event after `afterSeq`: first the recorded ones, then live ones as
   * they are appended (from any process), in order, none twice, none skipped.
   */
  follow(taskId: string, afterSeq: number, onEvent: (event: AgentEvent) => void): Promise<Unsubscribe>;
  /** Is the store reachable (for /readyz)? */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Encodes a list position (created_at, task_id) as an opaque cursor. */
export function encodeCursor(task: Pick<TaskRecord, 'created_at' | 'task_id'>): string {
  return Buffer.from(`${task.created_at}|${task.task_id}`).toString('base64url');
}

/** Decodes a cursor; undefined when it is not one this store made. */
export function decodeCursor(cursor: string): { createdAt: string; taskId: string } | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const bar = text.indexOf('|');
  if (bar < 0 || Number.isNaN(Date.parse(text.slice(0, bar)))) return undefined;
  return { createdAt: text.slice(0, bar), taskId: text.slice(bar + 1) };
}

/** Newest first, ties broken by id, so paging is stable. */
export function newestFirst(
  a: Pick<TaskRecord, 'created_at' | 'task_id'>,
  b: Pick<TaskRecord, 'created_at' | 'task_id'>,
): number {
  return a.created_at < b.created_at
    ? 1
    : a.created_at > b.created_at
      ? -1
      : a.task_id < b.task_id
        ? 1
        : a.task_id > b.task_id
          ? -1
          : 0;
}

/**
 * The replay-then-live loop both stores share. `listen` is attached before the replay starts, so
 * nothing appended meanwhile is lost; events are handled one at a time, duplicates (seq already
 * delivered) are dropped and a gap (a live event ahead of the next seq) is filled from `range`.
 */
export function followWith(
  afterSeq: number,
  range: (after: number) => Promise<AgentEvent[]>,
  listen: (onLive: (event: AgentEvent) => void) => Unsubscribe,
  onEvent: (event: AgentEvent) => void,
  onError: (err: unknown) => void = () => undefined,
): Unsubscribe {
  let last = afterSeq;
  let stopped = false;
  let chain = Promise.resolve();
  const deliver = (event: AgentEvent) => {
    if (stopped || event.seq <= last) return;
    last = event.seq;
    onEvent(event);
  };
  const catchUp = async () => {
    for (const event of await range(last)) deliver(event);
  };
  const enqueue = (step: () => Promise<void> | void) => {
    chain = chain.then(step).catch(onError);
  };
  const stopListening = listen((event) =>
    enqueue(async () => {
      if (event.seq > last + 1) await catchUp();
      deliver(event);
    }),
  );
  enqueue(catchUp);
  return () => {
    stopped = true;
    stopListening();
  };
}
