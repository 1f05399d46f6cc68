import { describe, expect, it } from 'vitest';
import { judgeTests, unionOfSelections } from '../../../agent/nodes/test.js';
import { reserveCost } from '../../../agent/sampling/budget.js';
import { normalisedChange, normalisedTest } from '../../../agent/sampling/normalise.js';
import { candidatePlans } from '../../../agent/sampling/plan.js';
import { selectCandidate } from '../../../agent/sampling/select.js';
import type { AgentDeps } from '../../../agent/deps.js';
import type { CandidateDraft, CandidateRecord } from '../../../agent/state.js';

const file = (after: string) => [{ path: 'calc.py', after }];

describe('normalised changes', () => {
  it('equates changes that differ only in layout and comments', () => {
    const a = normalisedChange(file('def add(a, b):\n    return a + b\n'));
    expect(normalisedChange(file('def add(a,b):\n    # the sum\n    return a+b   # fixed\n'))).toBe(a);
    expect(normalisedChange(file('def add(a, b):\n\n\n    return a + b\n'))).toBe(a);
  });

  it('tells apart a line moved into or out of a block (the nesting is part of the program)', () => {
    const inside = 'def f(p, x):\n    if x:\n        p = p * x\n        return p\n    return p\n';
    const outside = 'def f(p, x):\n    if x:\n        p = p * x\n    return p\n    return p\n';
    expect(normalisedChange(file(inside))).not.toBe(normalisedChange(file(outside)));
  });

  it('tells apart changes that differ in code, strings or files', () => {
    const a = normalisedChange(file('def add(a, b):\n    return a + b\n'));
    expect(normalisedChange(file('def add(a, b):\n    return a - b\n'))).not.toBe(a);
    expect(normalisedChange(file('def add(a, b):\n    return b + a\n'))).not.toBe(a);
    expect(normalisedChange(file('x = "a  b"\n'))).not.toBe(normalisedChange(file('x = "a b"\n')));
    expect(normalisedChange([{ path: 'other.py', after: 'def add(a, b):\n    return a + b\n' }])).not.toBe(a);
  });

  it('falls back to collapsed whitespace for text that does not parse', () => {
    expect(normalisedChange(file('def (:\n  x'))).toBe(normalisedChange(file('def (:   x')));
    expect(normalisedTest('def test_a():\n    assert 1  # note\n')).toBe(
      normalisedTest('def test_a():\n    assert 1\n'),
    );
  });
});

describe('candidate plans', () => {
  it('keeps the first candidate as a single run draws it and varies the rest', () => {
    expect(candidatePlans(1, 0.4)).toEqual([{ candidate: 1, temperature: 0.4, context: 'conformal_set' }]);
    const four = candidatePlans(4, 0);
    expect(four.map((p) => p.context)).toEqual(['conformal_set', 'top_file', 'top_k_functions', 'conformal_set']);
    expect(four.map((p) => p.temperature)).toEqual([0, 0.8, 0.6, 1]);
    // A later attempt's hotter ladder is never cooled by sampling.
    expect(candidatePlans(3, 0.7).map((p) => p.temperature)).toEqual([0.7, 0.8, 0.7]);
  });
});

const candidate = (n: number, over: Partial<CandidateRecord> = {}): CandidateRecord => ({
  candidate: n,
  temperature: 0,
  context: 'conformal_set',
  diff: `diff ${n}`,
  group: n,
  votes: 1,
  testsPassed: 0,
  regressions: [],
  score: 0,
  tokens: { input: 0, output: 0 },
  costUsd: 0,
  ...over,
});
const judges = [{ path: 'tests/test_r.py', source: 'reproduce', valid: true }];

describe('selection', () => {
  it('chooses the proven minority over a majority that regresses', () => {
    const failing = { category: 'regression' as const, message: 'regression: tests/test_calc.py::test_mul' };
    const majority = [1, 2, 4].map((n) =>
      candidate(n, {
        group: 1,
        votes: 3,
        testsPassed: 1,
        regressions: ['tests/test_calc.py::test_mul'],
        failure: failing,
      }),
    );
    const s = selectCandidate([...majority, candidate(3, { testsPassed: 1 })], judges);
    expect(s.winner).toBe(3);
    expect(s.ranking[0]).toBe(3);
    expect(s.reason).toMatch(/^candidate 3 over candidate 1: it is proven/);
  });

  it('breaks ties by votes, then size, then the lower number, whatever the input order', () => {
    const a = candidate(2, { group: 2, votes: 2, testsPassed: 1 });
    const b = candidate(4, { group: 2, votes: 2, testsPassed: 1 });
    const c = candidate(1, { testsPassed: 1 });
    expect(selectCandidate([c, a, b], judges)).toMatchObject({
      winner: 2,
      reason: expect.stringMatching(/more candidates wrote the same fix \(2 against 1\)/),
    });
    const small = candidate(5, { diff: 'x', testsPassed: 1 });
    const large = candidate(3, { diff: 'x'.repeat(50), testsPassed: 1 });
    expect(selectCandidate([large, small], judges)).toMatchObject({
      winner: 5,
      reason: expect.stringMatching(/smaller change/),
    });
    const twin = candidate(7, { diff: 'y', testsPassed: 1 });
    expect(selectCandidate([twin, small], judges).winner).toBe(5);
    expect(selectCandidate([small, twin], judges)).toMatchObject({
      winner: 5,
      reason: expect.stringMatching(/lower candidate number/),
    });
  });

  it('says when the chosen candidate is not proven', () => {
    const failure = { category: 'regression' as const, message: 'regression: t' };
    const s = selectCandidate(
      [
        candidate(1, { group: 1, votes: 2, testsPassed: 1, failure }),
        candidate(2, { group: 1, votes: 2, testsPassed: 1, failure }),
      ],
      judges,
    );
    expect(s).toMatchObject({
      winner: 1,
      reason: 'all 2 candidates with a change wrote the same fix; it is not proven (regression)',
    });
  });

  it('lets a group win only through the candidate of it that was run', () => {
    // 1 and 2 are equivalent; only 1 was applied and run. 2's diff is smaller but untested as written.
    const lead = candidate(1, { group: 1, votes: 2, diff: 'x'.repeat(40), testsPassed: 1 });
    const twin = candidate(2, { group: 1, votes: 2, diff: 'x', testsPassed: 1 });
    expect(selectCandidate([twin, lead], judges)).toMatchObject({ winner: 1, ranking: [1, 2] });
  });

  it('ranks more judge tests passed above fewer, and any test result above an untested change', () => {
    expect(selectCandidate([candidate(1, { testsPassed: 1 }), candidate(2, { testsPassed: 2 })], judges).winner).toBe(
      2,
    );
    // Proven (no failure) outranks passing more tests while failing the deciding one.
    expect(
      selectCandidate(
        [
          candidate(1, { testsPassed: 1 }),
          candidate(2, { testsPassed: 2, failure: { category: 'repro_still_fails', message: 'm' } }),
        ],
        judges,
      ).winner,
    ).toBe(1);
    const broken = candidate(1, { failure: { category: 'patch_does_not_apply', message: 'no' } });
    const failing = candidate(2, { failure: { category: 'repro_still_fails', message: 'still fails' } });
    expect(selectCandidate([broken, failing], judges).winner).toBe(2);
    const none = selectCandidate([candidate(1, { diff: undefined, group: undefined })], judges);
    expect(none.winner).toBeUndefined();
    expect(none.reason).toBe('no candidate produced a change to test');
  });
});

describe('judge tests', () => {
  const draft = (n: number, tests: Array<{ path: string; content: string }>): CandidateDraft => ({
    candidate: n,
    temperature: 0,
    context: 'conformal_set',
    answer: '',
    tokens: { input: 0, output: 0 },
    costUsd: 0,
    tests,
  });
  it('de-duplicates the same test written twice, renames a different one under a taken name, and skips existing files', () => {
    const t = { path: 'tests/test_r.py', content: 'def test_a():\n    assert f() == 1\n' };
    // A conftest.py or other non-test module never judges: it would change how every test runs.
    expect(
      judgeTests(
        [
          { path: 'tests/conftest.py', content: 'import os' },
          { path: 'helpers.py', content: 'x = 1' },
        ],
        [],
        new Set(),
      ).judges,
    ).toEqual([]);
    const { judges: out, clash } = judgeTests(
      [t],
      [
        draft(1, [{ ...t, content: 'def test_a():\n    # same test\n    assert f()==1\n' }]),
        draft(2, [{ path: 'tests/test_r.py', content: 'def test_b():\n    assert f() == 2\n' }]),
        draft(3, [{ path: 'tests/test_calc.py', content: 'x' }]),
      ],
      new Set(['tests/test_calc.py']),
    );
    expect(out.map((j) => [j.path, j.source])).toEqual([
      ['tests/test_r.py', 'reproduce'],
      ['tests/test_r_2.py', 'candidate 2'],
    ]);
    expect(clash).toBe('tests/test_calc.py');
  });
});

describe('existing tests for several candidates', () => {
  const sel = (...paths: string[]) => ({ tests: paths.map((path) => ({ path, reason: 'r' })), left: [] });
  it('checks every candidate on one set: each neighbourhood in turn, a whole small suite never cut', () => {
    expect(unionOfSelections([sel('a', 'b'), sel('c', 'a', 'd')], 3)).toEqual({
      tests: [
        { path: 'a', reason: 'r' },
        { path: 'c', reason: 'r' },
        { path: 'b', reason: 'r' },
      ],
      left: ['d'],
    });
    const suite = sel(...Array.from({ length: 15 }, (_, i) => `t${i}`));
    expect(unionOfSelections([suite, suite], 12).tests).toHaveLength(15);
    expect(unionOfSelections([sel('x')], 12)).toEqual(sel('x'));
  });
});

describe('cost reservations', () => {
  const deps = (cap?: number) =>
    ({ maxCostUsd: cap, run: { tokens: { input: 0, output: 0 }, costUsd: 0.5 } }) as unknown as AgentDeps;
  it('lets calls start only while their worst cases fit beside the spend and the calls in flight', () => {
    const d = deps(1);
    const first = reserveCost(d, 0.3);
    expect(first).toBeTypeOf('function');
    expect(reserveCost(d, 0.3)).toBeUndefined(); // 0.5 spent + 0.3 held + 0.3 > 1
    first!();
    first!(); // releasing twice holds nothing back twice
    expect(d.run.reservedUsd).toBe(0);
    expect(reserveCost(d, 0.3)).toBeTypeOf('function');
    expect(reserveCost(deps(undefined), 1e9)).toBeTypeOf('function');
  });
});
