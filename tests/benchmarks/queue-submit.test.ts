import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstanceQueueClient } from '../../benchmarks/queue/index.js';
import {
  EVENTS_MAX_LEN,
  fixwrightVersion,
  INSTANCE_QUEUE,
  jobId,
  packText,
  payloadKey,
  type EvalJob,
  type EvalReturn,
} from '../../benchmarks/queue/jobs.js';
import { startLocalRedis, type LocalRedis } from '../../core/local-redis.js';
import { waitFor } from '../helpers/service.js';

/** An eval job as a submitter makes it (the worker here is a stand-in: these tests are about waiting and collecting). */
const job = (id: string): EvalJob => ({
  run_id: 'run-1',
  fixwright: fixwrightVersion(),
  row: { instance_id: id },
  prediction: { instance_id: id, model_name_or_path: 'm', model_patch: '' },
  table: { default: {}, repos: {} },
  settings: { timeoutSeconds: 60, grading: 'swebench-5' },
});

const until = <T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 15_000,
) => waitFor(check, what, timeoutMs);

describe('the queue submitter waits for its jobs, whatever happens to them', () => {
  let redis: LocalRedis;
  let connection: Redis;
  const prefix = 'fwsubmit';
  const closers: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    redis = await startLocalRedis();
    connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    // Redis is stopped by the last test: nothing here may wait for it.
    for (const close of closers.reverse())
      await Promise.race([close().catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
    connection?.disconnect();
    await redis?.stop();
  });

  const client = async (lines: string[], url = redis.url) => {
    const c = await InstanceQueueClient.connect(
      url,
      () => undefined,
      prefix,
      2000,
      { line: (l) => lines.push(l) },
      300,
    );
    closers.push(() => c.close(2000));
    return c;
  };
  /** A stand-in worker: stores a payload under its own key and answers with its name, as `fixwright worker` does. */
  const worker = (url = redis.url) => {
    const conn = new Redis(url, { maxRetriesPerRequest: null });
    const w = new Worker<EvalJob, EvalReturn>(
      INSTANCE_QUEUE,
      async (j) => {
        const token = `t-${j.id}`;
        const key = payloadKey(prefix, token);
        await conn.set(key, packText(`log of ${j.data.prediction.instance_id}`), 'EX', 60);
        return {
          result: { status: 'resolved' } as EvalReturn['result'],
          run: { job_id: String(j.id), token, worker: 'stand-in', worker_version: fixwrightVersion(), lost_runs: 0 },
          payload: key,
        };
      },
      { connection: conn, prefix },
    );
    closers.push(async () => {
      await w.close();
      await conn.quit();
    });
    return w;
  };
  const state = (id: string) => new Queue(INSTANCE_QUEUE, { connection, prefix }).getJobState(id);

  it(
    'a job gone from the queue (Redis emptied, another submitter) is queued again and said so; the ' +
      'answer comes with its payload, and collecting deletes both',
    async () => {
      const lines: string[] = [];
      const c = await client(lines);
      const id = jobId('eval', job('a'));
      const answer = c.run<EvalReturn>('eval', 'a', job('a'), undefined);
      await until(async () => (await state(id)) === 'waiting', 'the job to wait');
      await connection.flushdb();
      await until(
        () => lines.some((l) => l.includes('the job of a is gone from the queue') && l.includes('queued again')),
        'the submitter to notice',
      );
      await until(async () => (await state(id)) === 'waiting', 'the job to wait again');
      // The event stream (which copies every return value) is kept short, even after Redis reset its cap to BullMQ's 10,000.
      const stream = `${prefix}:${INSTANCE_QUEUE}:events`;
      for (let i = 0; i < 2000; i += 1) await connection.xadd(stream, '*', 'event', 'filler');
      // The progress line says what waits and how many workers are there.
      await until(
        () => lines.some((l) => /queue: 1 instance\(s\) awaited: 1 waiting, 0 running; 0 worker\(s\)/.test(l)),
        'a progress line',
      );
      worker();
      const got = await answer;
      expect(got.text).toBe('log of a');
      expect(got.run.worker).toBe('stand-in');
      expect(await connection.exists(got.payload)).toBe(1);
      await c.collected('a');
      expect(await connection.exists(got.payload)).toBe(0);
      expect(await connection.xlen(stream)).toBeLessThan(EVENTS_MAX_LEN + 200);
      expect(await state(id)).toBe('unknown');
    },
    30_000,
  );

  it('Ctrl-C takes off only the jobs this submitter added: a second submitter waiting on one of them queues it again', async () => {
    // The stand-in worker takes no job until B waits on A's.
    const paused = new Queue(INSTANCE_QUEUE, { connection, prefix });
    await paused.pause();
    const [aLines, bLines] = [[] as string[], [] as string[]];
    const [a, b] = [await client(aLines), await client(bLines)];
    const id = jobId('eval', job('b'));
    const ctrlC = new AbortController();
    const fromA = a.run<EvalReturn>('eval', 'b', job('b'), undefined, ctrlC.signal).catch((err: Error) => err);
    await until(async () => (await state(id)) === 'waiting', 'the job to wait');
    const fromB = b.run<EvalReturn>('eval', 'b', job('b'), undefined);
    expect(await b.cancelWaiting()).toBe(0);
    expect(await state(id)).not.toBe('unknown');
    ctrlC.abort();
    expect(await fromA).toBeInstanceOf(Error);
    expect(await a.cancelWaiting()).toBe(1);
    await until(
      () => bLines.some((l) => l.includes('the job of b is gone from the queue')),
      'the second submitter to queue it again',
    );
    await paused.resume();
    expect((await fromB).text).toBe('log of b');
  }, 30_000);

  it('workers are counted on the submitter’s own database, not the whole server', async () => {
    const lines: string[] = [];
    const other = await client(lines, `${redis.url}/1`);
    expect(await other.workers()).toBe(0);
    const here = await client(lines);
    expect(await here.workers()).toBe(1);
  });

  it('with Redis down, cancelling answers within its time, saying nothing is known', async () => {
    const lines: string[] = [];
    const c = await client(lines);
    void c.run<EvalReturn>('eval', 'c', job('c'), undefined).catch(() => undefined);
    await until(async () => (await state(jobId('eval', job('c')))) !== 'unknown', 'the job to be queued');
    await redis.stop();
    const started = Date.now();
    expect(await c.cancelWaiting(800)).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(2000);
    const closing = Date.now();
    await c.close(500);
    expect(Date.now() - closing).toBeLessThan(2000);
  }, 20_000);
});
