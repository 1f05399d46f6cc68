import { describe, expect, it } from 'vitest';
import { isAttemptNode, RunClock, unionLength, windowTiming } from '../../../agent/run-clock.js';

/** A clock whose time moves only when told. */
function manualClock() {
  let t = 0;
  const clock = new RunClock(() => t);
  return { clock, at: (ms: number) => (t = ms) };
}

/** A call that ends when `finish` is called, at whatever time the clock then reads. */
function pending<T>(value: T) {
  let finish!: () => void;
  const done = new Promise<T>((resolve) => (finish = () => resolve(value)));
  return { call: () => done, finish };
}

describe('run clock: where a run’s time goes', () => {
  it('unions overlapping and touching intervals, clipped to the window', () => {
    expect(unionLength([], 0, 100)).toBe(0);
    expect(
      unionLength(
        [
          { start: 10, end: 20 },
          { start: 15, end: 30 },
          { start: 30, end: 35 },
          { start: 50, end: 60 },
        ],
        0,
        100,
      ),
    ).toBe(35);
    expect(
      unionLength(
        [
          { start: 10, end: 20 },
          { start: 12, end: 14 },
        ],
        0,
        100,
      ),
    ).toBe(10);
    // Only the part inside [15, 55] counts.
    expect(
      unionLength(
        [
          { start: 10, end: 20 },
          { start: 50, end: 60 },
        ],
        15,
        55,
      ),
    ).toBe(10);
    expect(unionLength([{ start: 60, end: 70 }], 0, 50)).toBe(0);
  });

  it('splits a window into model, test (not under a model call) and own time that add up to the wall', () => {
    const model = [{ start: 10, end: 40 }];
    const test = [
      { start: 30, end: 60 },
      { start: 55, end: 70 },
    ];
    const t = windowTiming(model, test, 0, 100);
    expect(t).toEqual({ wall_ms: 100, model_ms: 30, test_ms: 30, own_ms: 40 });
    expect(t.model_ms + t.test_ms + t.own_ms).toBe(t.wall_ms);
    // Busy the whole window and more: own time is zero, never negative.
    expect(windowTiming([{ start: -5, end: 50 }], [{ start: 40, end: 200 }], 0, 100)).toEqual({
      wall_ms: 100,
      model_ms: 50,
      test_ms: 50,
      own_ms: 0,
    });
  });

  it('counts concurrent calls once, and a node only for what fell inside it', async () => {
    const { clock, at } = manualClock();
    at(100);
    const a = pending('a');
    const b = pending('b');
    const first = clock.busy('model', a.call);
    at(110);
    const second = clock.busy('model', b.call);
    at(150);
    a.finish();
    await first;
    at(170);
    b.finish();
    await second;
    at(200);
    const node = clock.nodeEnded('generate', 0, 90, 200);
    // 100-170 busy with two calls in flight: 70 ms of model time, not 50 + 60.
    expect(node).toEqual({ wall_ms: 110, model_ms: 70, test_ms: 0, own_ms: 40 });
    expect(clock.nodeEnded('apply', 1, 200, 230)).toEqual({ wall_ms: 30, model_ms: 0, test_ms: 0, own_ms: 30 });
  });

  it("takes a test run's own duration, ending where the call ends, and not a failed sandbox's time", async () => {
    const { clock, at } = manualClock();
    at(0);
    const run = pending({ exec: { durationMs: 30 } });
    const tested = clock.busy('test', run.call, (r) => r.exec.durationMs);
    at(100);
    run.finish();
    await tested;
    // Setup before the exec (0-70) is fixwright's own; the exec itself (70-100) is the tests'.
    expect(clock.span(0, 100)).toEqual({ wall_ms: 100, model_ms: 0, test_ms: 30, own_ms: 70 });
    // A duration longer than the call is cut to the call.
    at(200);
    const long = pending({ exec: { durationMs: 500 } });
    const longRun = clock.busy('test', long.call, (r) => r.exec.durationMs);
    at(250);
    long.finish();
    await longRun;
    expect(clock.span(200, 250).test_ms).toBe(50);
    // A test call that throws was the sandbox failing: its time is fixwright's; a failed model call still waited on the model.
    at(300);
    await expect(clock.busy('test', async () => (at(340), Promise.reject(new Error('no container'))))).rejects.toThrow(
      'no container',
    );
    await expect(clock.busy('model', async () => (at(360), Promise.reject(new Error('timeout'))))).rejects.toThrow(
      'timeout',
    );
    expect(clock.span(300, 360)).toEqual({ wall_ms: 60, model_ms: 20, test_ms: 0, own_ms: 40 });
  });

  it('sums nodes per name, one-off steps apart from attempts, and own time per attempt', async () => {
    const { clock, at } = manualClock();
    const step = async (
      node: Parameters<RunClock['nodeEnded']>[0],
      attempt: number,
      from: number,
      to: number,
      busy?: { kind: 'model' | 'test'; ms: number },
    ) => {
      at(from);
      if (busy) {
        const p = pending(undefined);
        const call = clock.busy(busy.kind, p.call);
        at(from + busy.ms);
        p.finish();
        await call;
      }
      at(to);
      clock.nodeEnded(node, attempt, from, to);
    };
    await step('localise', 0, 0, 50);
    await step('baseline', 0, 50, 150, { kind: 'test', ms: 40 });
    await step('reproduce', 0, 150, 200, { kind: 'model', ms: 45 });
    await step('generate', 0, 200, 260, { kind: 'model', ms: 50 });
    await step('test', 1, 260, 400, { kind: 'test', ms: 100 });
    await step('reflect', 1, 400, 410);
    await step('reproduce', 1, 410, 450, { kind: 'model', ms: 30 });
    await step('generate', 1, 450, 500, { kind: 'model', ms: 40 });
    await step('test', 2, 500, 600, { kind: 'test', ms: 70 });
    await step('finish', 2, 600, 605);
    const s = clock.summary(0, 610, 2);
    expect(s).toMatchObject({ wall_ms: 610, model_ms: 165, test_ms: 210, own_ms: 235 });
    expect(s.one_off).toEqual({ wall_ms: 205, model_ms: 45, test_ms: 40, own_ms: 120 });
    // generate ×2, test ×2, reflect, and the reproduce after the reflection.
    expect(s.attempts).toEqual({
      wall_ms: 400,
      model_ms: 120,
      test_ms: 170,
      own_ms: 110,
      count: 2,
      own_ms_per_attempt: 55,
    });
    expect(s.nodes.test).toEqual({ wall_ms: 240, model_ms: 0, test_ms: 170, own_ms: 70, runs: 2 });
    expect(s.nodes.reproduce?.runs).toBe(2);
    // Time between nodes is the run's own, in the totals only.
    expect(s.own_ms - s.one_off.own_ms - s.attempts.own_ms).toBe(5);
    expect(clock.summary(0, 10, 0).attempts.own_ms_per_attempt).toBeNull();
    expect([
      isAttemptNode('reproduce', 0),
      isAttemptNode('reproduce', 1),
      isAttemptNode('apply', 1),
      isAttemptNode('finish', 3),
    ]).toEqual([false, true, true, false]);
  });
});
