import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../agent/index.js';
import { DiskTaskStore } from '../../api/store/disk-store.js';
import { RedisTaskStore } from '../../api/store/redis-store.js';
import type { TaskStore } from '../../api/store/task-store.js';
import { emptySummary, foldEvent, newTask } from '../../api/task.js';
import { startRedis, type TestRedis } from '../helpers/service.js';

const event = (
  taskId: string,
  seq: number,
  type: AgentEvent['type'] = 'log',
  data: Record<string, unknown> = {},
): AgentEvent => ({ task_id: taskId, seq, ts: new Date().toISOString(), type, data });
const request = { repo_url: 'https://github.com/a/b', issue_text: 'x', max_attempts: 3 };

let redis: TestRedis;
const dirs: string[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const stores: Array<[string, () => TaskStore]> = [
  [
    'disk',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'fw-store-'));
      dirs.push(dir);
      return new DiskTaskStore(dir);
    },
  ],
  ['redis', () => new RedisTaskStore(redis.url, `test-${randomUUID()}:`)],
];

describe.each(stores)('%s task store', (_kind, open) => {
  it('keeps seq strictly next: a repeated or skipped seq is refused', async () => {
    const store = open();
    await store.create(newTask('t1', request));
    await store.append(event('t1', 1));
    await expect(store.append(event('t1', 1))).rejects.toThrow(/not the next one/);
    await expect(store.append(event('t1', 3))).rejects.toThrow(/not the next one/);
    await store.append(event('t1', 2));
    expect(await store.lastSeq('t1')).toBe(2);
    expect((await store.events('t1', 1)).map((e) => e.seq)).toEqual([2]);
    await store.close();
  });

  it('follows a task: replays what is recorded, then live events, in order, none twice', async () => {
    const store = open();
    await store.create(newTask('t2', request));
    for (let s = 1; s <= 5; s++) await store.append(event('t2', s));
    const seen: number[] = [];
    const stop = await store.follow('t2', 2, (e) => seen.push(e.seq));
    // Appended while the replay may still be running: none lost, none doubled.
    for (let s = 6; s <= 40; s++) await store.append(event('t2', s));
    await new Promise((r) => setTimeout(r, 300));
    stop();
    await store.append(event('t2', 41));
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual(Array.from({ length: 38 }, (_, i) => i + 3));
    await store.close();
  });

  it('lists newest first a page at a time, filters by status, and changes only from allowed statuses', async () => {
    const store = open();
    for (let i = 0; i < 7; i++) await store.create(newTask(`p${i}`, request, new Date(Date.UTC(2026, 0, 1, 0, 0, i))));
    expect(await store.change('p1', { from: ['running'], set: { status: 'finished' } })).toBeUndefined();
    expect((await store.change('p1', { from: ['queued'], set: { status: 'running' } }))?.status).toBe('running');
    const first = await store.list({ limit: 3 });
    expect(first.tasks.map((t) => t.task_id)).toEqual(['p6', 'p5', 'p4']);
    const second = await store.list({ limit: 3, cursor: first.next_cursor! });
    expect(second.tasks.map((t) => t.task_id)).toEqual(['p3', 'p2', 'p1']);
    const third = await store.list({ limit: 3, cursor: second.next_cursor! });
    expect(third.tasks.map((t) => t.task_id)).toEqual(['p0']);
    expect(third.next_cursor).toBeNull();
    expect((await store.list({ limit: 10, status: 'running' })).tasks.map((t) => t.task_id)).toEqual(['p1']);
    expect(await store.countByStatus()).toMatchObject({ queued: 6, running: 1, finished: 0 });
    await store.close();
  });
});

describe('task summary', () => {
  it('folds attempts, tokens, the verdict and the final patch out of the event log', () => {
    const s = emptySummary();
    const events: AgentEvent[] = [
      event('t', 1, 'localised_files', {
        files: [{ path: 'calc.py', score: 0.5, inSet: true }],
        set_size: 1,
        coverage: 0.9,
      }),
      event('t', 2, 'model_call', { usage: { input_tokens: 100, output_tokens: 20 }, cost_usd: 0.01 }),
      event('t', 3, 'patch', { attempt: 1, diff: 'd1', files: ['calc.py'] }),
      event('t', 4, 'test_result', { attempt: 1, regressions: [] }),
      event('t', 5, 'reflection', { attempt: 1, category: 'repro_still_fails', message: 'm' }),
      event('t', 6, 'patch', { attempt: 2, diff: 'd2', files: ['calc.py'] }),
      event('t', 7, 'done', { status: 'resolved', stopped_by: null, patch: 'd2' }),
    ];
    for (const e of events) foldEvent(s, e);
    expect(s).toMatchObject({
      set_size: 1,
      coverage: 0.9,
      verdict: 'resolved',
      final_patch: 'd2',
      tokens: { input: 100, output: 20 },
      cost_usd: 0.01,
      last_seq: 7,
    });
    expect(s.localised_files).toEqual([{ path: 'calc.py', score: 0.5, in_set: true }]);
    expect(s.attempts.map((a) => [a.attempt, a.diff, a.reflection?.category])).toEqual([
      [1, 'd1', 'repro_still_fails'],
      [2, 'd2', undefined],
    ]);
    // A retried run starts its attempts afresh.
    foldEvent(s, event('t', 8, 'status', { status: 'running', retry: true }));
    expect(s.attempts).toEqual([]);
  });

  it('knows how every attempt ended, the last one too (it is never reflected on), as result.json does', () => {
    const s = emptySummary();
    for (const e of [
      event('t', 1, 'patch', { attempt: 1, diff: 'd1', files: ['calc.py'] }),
      event('t', 2, 'test_result', { attempt: 1, regressions: [] }),
      event('t', 3, 'reflection', { attempt: 1, category: 'repro_still_fails', message: 'still fails' }),
      event('t', 4, 'patch', { attempt: 2, diff: 'd2', files: ['calc.py'] }),
      event('t', 5, 'test_result', { attempt: 2, regressions: [] }),
    ])
      foldEvent(s, e);
    expect(s.attempts[0]!.failure).toEqual({ category: 'repro_still_fails', message: 'still fails' });
    // Tested, not yet judged: neither passed nor failed.
    expect(s.attempts[1]!.failure).toBeUndefined();
    foldEvent(
      s,
      event('t', 6, 'done', {
        status: 'unverified',
        chosen_attempt: 2,
        stopped_by: null,
        patch: 'd2',
        attempt_results: [
          { attempt: 1, failure: 'repro_still_fails', message: 'still fails', score: 0.2 },
          { attempt: 2, failure: 'regression', message: 'regression: tests/test_calc.py::test_mul', score: 0.5 },
        ],
      }),
    );
    expect(s.attempts.map((a) => [a.attempt, a.failure?.category, a.score])).toEqual([
      [1, 'repro_still_fails', 0.2],
      [2, 'regression', 0.5],
    ]);
    expect(s.attempts[1]!.failure!.message).toMatch(/test_mul/);
    expect(s.attempts[1]!.reflection).toBeUndefined();

    const passed = emptySummary();
    foldEvent(passed, event('t', 1, 'patch', { attempt: 1, diff: 'd1', files: ['calc.py'] }));
    foldEvent(
      passed,
      event('t', 2, 'done', {
        status: 'resolved',
        chosen_attempt: 1,
        patch: 'd1',
        attempt_results: [{ attempt: 1, failure: null, message: null, score: 1 }],
      }),
    );
    expect(passed.attempts[0]!.failure).toBeNull();
    // A log written before done carried attempt_results: the resolved verdict's chosen attempt passed.
    const old = emptySummary();
    foldEvent(old, event('t', 1, 'patch', { attempt: 1, diff: 'd1', files: ['calc.py'] }));
    foldEvent(old, event('t', 2, 'done', { status: 'resolved', chosen_attempt: 1, patch: 'd1' }));
    expect(old.attempts[0]!.failure).toBeNull();
    // A patch that did not apply failed there and then.
    const unapplied = emptySummary();
    foldEvent(
      unapplied,
      event('t', 1, 'apply_result', { attempt: 1, ok: false, category: 'search_not_found', message: 'no match' }),
    );
    expect(unapplied.attempts[0]!.failure).toEqual({ category: 'search_not_found', message: 'no match' });
  });

  it("keeps the done event's timing: where the run's time went", () => {
    const s = emptySummary();
    expect(s.timing ?? null).toBeNull();
    const timing = { wall_ms: 10, model_ms: 2, test_ms: 5, own_ms: 3, attempts: { count: 1, own_ms_per_attempt: 1 } };
    foldEvent(
      s,
      event('t', 1, 'done', { status: 'resolved', chosen_attempt: 1, stopped_by: null, patch: 'd', timing }),
    );
    expect(s.timing).toEqual(timing);
  });

  it('gives a cancelled run no verdict (it was stopped, not judged)', () => {
    const s = emptySummary();
    foldEvent(
      s,
      event('t', 1, 'done', { status: 'failed', stopped_by: 'cancelled', message: 'cancelled by the user' }),
    );
    expect(s).toMatchObject({ verdict: null, stopped_by: 'cancelled' });
  });

  it('counts model calls without a price, so no one reads their cost as $0', () => {
    const s = emptySummary();
    foldEvent(
      s,
      event('t', 1, 'model_call', { usage: { input_tokens: 10, output_tokens: 5 }, cost_usd: 0, priced: false }),
    );
    foldEvent(
      s,
      event('t', 2, 'model_call', { usage: { input_tokens: 10, output_tokens: 5 }, cost_usd: 0.02, priced: true }),
    );
    expect(s).toMatchObject({ cost_usd: 0.02, unpriced_calls: 1 });
  });

  it('reads localised files as in_set, and as inSet from logs written before', () => {
    for (const key of ['in_set', 'inSet']) {
      const s = foldEvent(
        emptySummary(),
        event('t', 1, 'localised_files', {
          files: [{ path: 'calc.py', score: 0.5, [key]: true }],
          set_size: 1,
          coverage: 0.9,
        }),
      );
      expect(s.localised_files, key).toEqual([{ path: 'calc.py', score: 0.5, in_set: true }]);
    }
  });
});
