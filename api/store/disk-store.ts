import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentEvent } from '../../events/index.js';
import { FixwrightError } from '../../core/index.js';
import { TASK_STATUSES, type TaskRecord, type TaskStatus } from '../task.js';
import {
  decodeCursor,
  encodeCursor,
  followWith,
  newestFirst,
  type ListQuery,
  type TaskChange,
  type TaskPage,
  type TaskStore,
  type Unsubscribe,
} from './task-store.js';

const TASK_ID = /^[A-Za-z0-9_-]{1,100}$/;

/**
 * The single-machine store: `DIR/<task_id>/task.json` (rewritten atomically) and
 * `DIR/<task_id>/events.jsonl` (appended), with the records also held in memory for listing. A
 * restart reads them back, so nothing is lost; one process owns the directory.
 */
export class DiskTaskStore implements TaskStore {
  readonly kind = 'disk' as const;
  private readonly tasks = new Map<string, TaskRecord>();
  private readonly seqs = new Map<string, number>();
  private readonly live = new EventEmitter();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.live.setMaxListeners(0);
    for (const name of readdirSync(dir)) {
      const file = join(dir, name, 'task.json');
      if (!TASK_ID.test(name) || !existsSync(file)) continue;
      try {
        this.tasks.set(name, JSON.parse(readFileSync(file, 'utf8')) as TaskRecord);
        this.seqs.set(name, this.readEvents(name, 0).at(-1)?.seq ?? 0);
      } catch {
        // A task file cut short by a crash mid-rename cannot happen (rename is atomic); anything else unreadable is skipped, not fatal.
      }
    }
  }

  private write(task: TaskRecord): void {
    const folder = join(this.dir, task.task_id);
    mkdirSync(folder, { recursive: true });
    const tmp = join(folder, `task.json.${process.pid}.${randomUUID()}.tmp`);
    writeFileSync(tmp, JSON.stringify(task));
    renameSync(tmp, join(folder, 'task.json'));
  }

  private readEvents(taskId: string, afterSeq: number, limit = Infinity): AgentEvent[] {
    const file = join(this.dir, taskId, 'events.jsonl');
    if (!existsSync(file)) return [];
    const out: AgentEvent[] = [];
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue;
      let event: AgentEvent;
      try {
        event = JSON.parse(line) as AgentEvent;
      } catch {
        continue; // a line cut short by a crash mid-append
      }
      if (event.seq > afterSeq) out.push(event);
      if (out.length >= limit) break;
    }
    return out;
  }

  async create(task: TaskRecord): Promise<void> {
    if (!TASK_ID.test(task.task_id)) throw new FixwrightError('FW_ERR_BAD_INPUT', `bad task id ${task.task_id}`);
    this.tasks.set(task.task_id, task);
    this.seqs.set(task.task_id, 0);
    this.write(task);
  }

  async get(taskId: string): Promise<TaskRecord | undefined> {
    const task = this.tasks.get(taskId);
    return task && structuredClone(task);
  }

  async change(taskId: string, change: TaskChange): Promise<TaskRecord | undefined> {
    const task = this.tasks.get(taskId);
    if (!task || (change.from && !change.from.includes(task.status))) return undefined;
    const next = { ...task, ...change.set };
    this.tasks.set(taskId, next);
    this.write(next);
    return structuredClone(next);
  }

  async list(query: ListQuery): Promise<TaskPage> {
    const after = query.cursor ? decodeCursor(query.cursor) : undefined;
    const all = [...this.tasks.values()].filter((t) => !query.status || t.status === query.status).sort(newestFirst);
    const start = after
      ? all.findIndex((t) => newestFirst(t, { created_at: after.createdAt, task_id: after.taskId }) > 0)
      : 0;
    const page = start < 0 ? [] : all.slice(start, start + query.limit);
    const more = start >= 0 && start + query.limit < all.length;
    return {
      tasks: page.map((t) => structuredClone(t)),
      next_cursor: more && page.length ? encodeCursor(page.at(-1)!) : null,
    };
  }

  async countByStatus(): Promise<Record<TaskStatus, number>> {
    const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
    for (const task of this.tasks.values()) counts[task.status] += 1;
    return counts;
  }

  async append(event: AgentEvent): Promise<void> {
    const last = this.seqs.get(event.task_id);
    if (last === undefined) throw new FixwrightError('FW_ERR_BAD_INPUT', `no task ${event.task_id}`);
    if (event.seq !== last + 1)
      throw new FixwrightError(
        'FW_ERR_BAD_INPUT',
        `event seq ${event.seq} for task ${event.task_id} is not the next one (${last + 1})`,
      );
    appendFileSync(join(this.dir, event.task_id, 'events.jsonl'), `${JSON.stringify(event)}\n`);
    this.seqs.set(event.task_id, event.seq);
    this.live.emit(event.task_id, event);
  }

  async lastSeq(taskId: string): Promise<number> {
    return this.seqs.get(taskId) ?? 0;
  }

  async events(taskId: string, afterSeq: number, limit?: number): Promise<AgentEvent[]> {
    return this.readEvents(taskId, afterSeq, limit);
  }

  async follow(taskId: string, afterSeq: number, onEvent: (event: AgentEvent) => void): Promise<Unsubscribe> {
    return followWith(
      afterSeq,
      async (after) => this.readEvents(taskId, after),
      (onLive) => {
        this.live.on(taskId, onLive);
        return () => this.live.off(taskId, onLive);
      },
      onEvent,
    );
  }

  async ping(): Promise<boolean> {
    return existsSync(this.dir);
  }

  async close(): Promise<void> {
    this.live.removeAllListeners();
  }
}
