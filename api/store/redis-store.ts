import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { AgentEvent } from '../../events/index.js';
import { FixwrightError } from '../../core/index.js';
import { TASK_STATUSES, type TaskRecord, type TaskStatus } from '../task.js';
import {
  decodeCursor,
  encodeCursor,
  followWith,
  type ListQuery,
  type TaskChange,
  type TaskPage,
  type TaskStore,
  type Unsubscribe,
} from './task-store.js';

/**
 * Appends an event only when its seq is the task's next one, then announces it: the check, the
 * Stream entry (id `<seq>-0`) and the publish happen atomically, so two writers can never
 * interleave or repeat a seq. KEYS: seq counter, stream. ARGV: seq, event JSON, channel.
 */
const APPEND = `
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) ~= last + 1 then return redis.error_reply('FW_SEQ expected ' .. (last + 1)) end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], ARGV[1] .. '-0', 'e', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1`;

/**
 * Replaces a task record if nobody changed it since it was read (its version) and its status is
 * one the change may start from; keeps the per-status indexes in step. KEYS: task hash, index
 * prefix. ARGV: expected version, allowed statuses (comma-separated, empty for any), new JSON,
 * new status, index member. Returns 1 on success, 0 when the status did not match, -1 on a race.
 */
const CHANGE = `
local version = redis.call('HGET', KEYS[1], 'version')
if not version then return 0 end
if version ~= ARGV[1] then return -1 end
local status = redis.call('HGET', KEYS[1], 'status')
if ARGV[2] ~= '' and not string.find(',' .. ARGV[2] .. ',', ',' .. status .. ',', 1, true) then return 0 end
redis.call('HSET', KEYS[1], 'json', ARGV[3], 'status', ARGV[4], 'version', tostring(tonumber(version) + 1))
if status ~= ARGV[4] then
  redis.call('ZREM', KEYS[2] .. status, ARGV[5])
  redis.call('ZADD', KEYS[2] .. ARGV[4], 0, ARGV[5])
end
return 1`;

/**
 * Tasks and event logs in Redis, shared by the API and any number of workers: a hash per task,
 * sorted-set indexes (all, and per status) ordered by creation time, a Stream per task's events
 * (late subscribers replay it) and a pub/sub channel per task for live delivery.
 */
export class RedisTaskStore implements TaskStore {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  private subscriber: Redis | undefined;
  private readonly live = new EventEmitter();
  private readonly followers = new Map<string, number>();

  constructor(
    url: string,
    private readonly prefix = 'fixwright:',
    /** Connection trouble (ioredis reconnects by itself; this only reports it). */
    private readonly onError: (err: Error) => void = () => undefined,
  ) {
    this.redis = new Redis(url, { maxRetriesPerRequest: 3, lazyConnect: false });
    this.redis.on('error', onError);
    this.redis.defineCommand('fwAppend', { numberOfKeys: 2, lua: APPEND });
    this.redis.defineCommand('fwChange', { numberOfKeys: 2, lua: CHANGE });
    this.live.setMaxListeners(0);
  }

  private key(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  private member(task: Pick<TaskRecord, 'created_at' | 'task_id'>): string {
    return `${task.created_at}|${task.task_id}`;
  }

  async create(task: TaskRecord): Promise<void> {
    const created = await this.redis.hsetnx(this.key('task', task.task_id), 'json', JSON.stringify(task));
    if (!created) throw new FixwrightError('FW_ERR_BAD_INPUT', `task ${task.task_id} already exists`);
    await this.redis
      .multi()
      .hset(this.key('task', task.task_id), 'status', task.status, 'version', '1')
      .zadd(this.key('tasks', 'all'), 0, this.member(task))
      .zadd(this.key('tasks', task.status), 0, this.member(task))
      .exec();
  }

  async get(taskId: string): Promise<TaskRecord | undefined> {
    const json = await this.redis.hget(this.key('task', taskId), 'json');
    return json ? (JSON.parse(json) as TaskRecord) : undefined;
  }

  async change(taskId: string, change: TaskChange): Promise<TaskRecord | undefined> {
    for (let tries = 0; tries < 50; tries++) {
      const [json, version] = await this.redis.hmget(this.key('task', taskId), 'json', 'version');
      if (!json || !version) return undefined;
      const task = JSON.parse(json) as TaskRecord;
      if (change.from && !change.from.includes(task.status)) return undefined;
      const next: TaskRecord = { ...task, ...change.set };
      const result = await (this.redis as unknown as { fwChange(...args: string[]): Promise<number> }).fwChange(
        this.key('task', taskId),
        this.key('tasks', ''),
        version,
        (change.from ?? []).join(','),
        JSON.stringify(next),
        next.status,
        this.member(task),
      );
      if (result === 1) return next;
      if (result === 0) return undefined;
    }
    throw new FixwrightError('FW_ERR_CONFLICT', `task ${taskId} kept changing under this update; try again`);
  }

  async list(query: ListQuery): Promise<TaskPage> {
    const after = query.cursor ? decodeCursor(query.cursor) : undefined;
    const max = after ? `(${after.createdAt}|${after.taskId}` : '+';
    const members = await this.redis.zrevrangebylex(
      this.key('tasks', query.status ?? 'all'),
      max,
      '-',
      'LIMIT',
      0,
      query.limit + 1,
    );
    const ids = members.slice(0, query.limit).map((m) => m.slice(m.indexOf('|') + 1));
    const records = ids.length
      ? await this.redis.pipeline(ids.map((id) => ['hget', this.key('task', id), 'json'])).exec()
      : [];
    const tasks = (records ?? [])
      .map(([, json]) => (json ? (JSON.parse(json as string) as TaskRecord) : undefined))
      .filter((t): t is TaskRecord => t !== undefined);
    return { tasks, next_cursor: members.length > query.limit && tasks.length ? encodeCursor(tasks.at(-1)!) : null };
  }

  async countByStatus(): Promise<Record<TaskStatus, number>> {
    const pipeline = this.redis.pipeline(TASK_STATUSES.map((s) => ['zcard', this.key('tasks', s)]));
    const results = (await pipeline.exec()) ?? [];
    return Object.fromEntries(TASK_STATUSES.map((s, i) => [s, Number(results[i]?.[1] ?? 0)])) as Record<
      TaskStatus,
      number
    >;
  }

  async append(event: AgentEvent): Promise<void> {
    try {
      await (this.redis as unknown as { fwAppend(...args: string[]): Promise<number> }).fwAppend(
        this.key('seq', event.task_id),
        this.key('events', event.task_id),
        String(event.seq),
        JSON.stringify(event),
        this.key('live', event.task_id),
      );
    } catch (err) {
      const message = (err as Error).message;
      if (message.includes('FW_SEQ'))
        throw new FixwrightError(
          'FW_ERR_BAD_INPUT',
          `event seq ${event.seq} for task ${event.task_id} is not the next one (${message.replace(/.*FW_SEQ /, '')})`,
        );
      throw err;
    }
  }

  async lastSeq(taskId: string): Promise<number> {
    return Number((await this.redis.get(this.key('seq', taskId))) ?? 0);
  }

  async events(taskId: string, afterSeq: number, limit?: number): Promise<AgentEvent[]> {
    const entries =
      limit === undefined
        ? await this.redis.xrange(this.key('events', taskId), `${afterSeq + 1}-0`, '+')
        : await this.redis.xrange(this.key('events', taskId), `${afterSeq + 1}-0`, '+', 'COUNT', limit);
    return entries.map(([, fields]) => JSON.parse(fields[1]!) as AgentEvent);
  }

  /** One subscriber connection per process carries every followed task's channel. */
  private async subscribe(taskId: string): Promise<void> {
    if (!this.subscriber) {
      this.subscriber = this.redis.duplicate();
      this.subscriber.on('error', this.onError);
      this.subscriber.on('message', (channel: string, message: string) => {
        const event = JSON.parse(message) as AgentEvent;
        this.live.emit(event.task_id, event);
      });
    }
    const count = this.followers.get(taskId) ?? 0;
    this.followers.set(taskId, count + 1);
    if (count === 0) await this.subscriber.subscribe(this.key('live', taskId));
  }

  private unsubscribe(taskId: string): void {
    const count = (this.followers.get(taskId) ?? 1) - 1;
    if (count > 0) {
      this.followers.set(taskId, count);
      return;
    }
    this.followers.delete(taskId);
    void this.subscriber?.unsubscribe(this.key('live', taskId)).catch(() => undefined);
  }

  async follow(taskId: string, afterSeq: number, onEvent: (event: AgentEvent) => void): Promise<Unsubscribe> {
    // Subscribed before the replay reads the Stream, so an event appended in between arrives live.
    await this.subscribe(taskId);
    const stop = followWith(
      afterSeq,
      (after) => this.events(taskId, after),
      (onLive) => {
        this.live.on(taskId, onLive);
        return () => this.live.off(taskId, onLive);
      },
      onEvent,
    );
    return () => {
      stop();
      this.unsubscribe(taskId);
    };
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.live.removeAllListeners();
    await Promise.allSettled([this.redis.quit(), this.subscriber?.quit()]);
  }
}
