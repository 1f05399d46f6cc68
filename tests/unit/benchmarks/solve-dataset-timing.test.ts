import { describe, expect, it } from 'vitest';
import type { RunTiming } from '../../../agent/index.js';
import { benchReport, median, timingFields, type BenchInstance } from '../../../benchmarks/run/solve-instances.js';

const timing = (own: number, model: number, test: number, attempts: number, attemptOwn: number): RunTiming => ({
  wall_ms: own + model + test,
  model_ms: model,
  test_ms: test,
  own_ms: own,
  one_off: { wall_ms: own - attemptOwn, model_ms: 0, test_ms: 0, own_ms: own - attemptOwn },
  attempts: {
    wall_ms: model + test + attemptOwn,
    model_ms: model,
    test_ms: test,
    own_ms: attemptOwn,
    count: attempts,
    own_ms_per_attempt: attempts > 0 ? Math.round(attemptOwn / attempts) : null,
  },
  nodes: {},
});
const instance = (id: string, t?: RunTiming): BenchInstance => ({
  instance_id: id,
  repo: 'acme/calc',
  status: 'resolved',
  stopped_by: null,
  message: null,
  attempts: t?.attempts.count ?? 0,
  tries: 1,
  tokens: { input: 1, output: 1 },
  cost_usd: 0,
  wall_ms: t?.wall_ms ?? 5,
  gold_rank: 1,
  gold_in_set: true,
  set_size: 1,
  ...timingFields(t),
});

describe("bench-report.json: fixwright's own time apart from the model's and the tests'", () => {
  it('records per instance own, model and test time and own time per attempt', () => {
    const r = instance('a', timing(900, 300, 2000, 2, 600));
    expect(r).toMatchObject({ own_ms: 900, model_ms: 300, test_ms: 2000, own_ms_per_attempt: 300 });
    expect(r.timing?.one_off.own_ms).toBe(300);
    // A try that never reached the agent has no timing, and says nothing rather than zeros.
    expect(Object.keys(instance('b'))).not.toContain('own_ms');
  });

  it('gives medians over the instances that recorded timing, per attempt over those with an attempt', () => {
    expect(median([])).toBeNull();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    const report = benchReport([
      instance('a', timing(900, 300, 2000, 2, 600)),
      instance('b', timing(500, 100, 1000, 1, 400)),
      instance('c', timing(100, 0, 0, 0, 0)),
      instance('old'),
    ]);
    expect(report.timing).toEqual({
      instances: 3,
      median_own_ms: 500,
      median_model_ms: 100,
      median_test_ms: 1000,
      median_own_ms_per_attempt: 350,
      median_one_off_own_ms: 100,
    });
    expect(benchReport([instance('old')]).timing).toEqual({
      instances: 0,
      median_own_ms: null,
      median_model_ms: null,
      median_test_ms: null,
      median_own_ms_per_attempt: null,
      median_one_off_own_ms: null,
    });
  });
});
