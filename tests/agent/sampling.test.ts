import { afterEach, describe, expect, it } from 'vitest';
import {
  type ScriptedChatRequest,
  type ScriptedReply,
  type ScriptedServer,
  startScriptedOpenAIServer,
} from '../../core/scripted-openai-server.js';
import { removeRepos } from '../helpers/fixture-repo.js';
import { solveWithScriptedModel } from '../helpers/solve-run.js';

const REPO = {
  'calc.py':
    'def add(a, b):\n    """Return the sum of a and b."""\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n',
  'tests/test_calc.py': 'from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n',
};
const REPRO =
  '```python\n# tests/test_repro_add.py\nfrom calc import add\n\n\ndef test_add_returns_sum():\n    assert add(2, 3) == 5\n```\n';
const block = (search: string, replace: string) =>
  `calc.py\n\`\`\`python\n<<<<<<< SEARCH\n${search}\n=======\n${replace}\n>>>>>>> REPLACE\n\`\`\`\n`;
/** The right fix: add alone. */
const RIGHT = `${REPRO}\n${block('    return a - b', '    return a + b')}`;
/** Fixes add but breaks mul (a neighbouring test fails): three spellings of the same change. */
const wrong = (add: string, mul: string) =>
  `${REPRO}\n${block('    return a - b', add)}\n${block('    return a * b', mul)}`;
const WRONG = [
  wrong('    return a + b', '    return a ** b'),
  wrong('    return a+b', '    return a**b'),
  wrong('    return a + b  # the sum', '    # power\n    return a ** b'),
];
const KEY = 'sk-test-sampling-key-123456';

const isReproduce = (q: ScriptedChatRequest) =>
  JSON.stringify(q.messages ?? []).includes('Write only the reproduction test now');

describe('sampling and selection (scripted model over HTTP, real sandbox)', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    removeRepos();
  });

  async function solve(
    respond: (q: ScriptedChatRequest) => ScriptedReply,
    extra: string[],
    env: Record<string, string> = {},
  ) {
    server = await startScriptedOpenAIServer({ respond, apiKey: KEY });
    return solveWithScriptedModel(server, REPO, KEY, extra, env);
  }
  const generateCalls = () =>
    server!.requests.filter((q) => q.path === '/v1/chat/completions' && !isReproduce(q.body as ScriptedChatRequest));

  it('of 4 candidates chooses the one that is proven, though three equivalent ones outvote it, and groups those three', async () => {
    // Candidates are told apart by their temperature (0, 0.8, 0.6, 1.0): the third is the right fix.
    const byTemperature: Record<string, string> = { '0': WRONG[0]!, '0.8': WRONG[1]!, '0.6': RIGHT, '1': WRONG[2]! };
    const { r, result, events, patch } = await solve(
      (q) => (isReproduce(q) ? REPRO : (byTemperature[String(q.temperature ?? 0)] ?? 'NO_EDITS')),
      ['--samples', '4', '--max-attempts', '1'],
    );
    expect(r.code).toBe(0);
    expect(result.status).toBe('resolved');
    expect(patch).toContain('+    return a + b');
    expect(patch).not.toContain('**');
    const calls = generateCalls().map((q) => q.body as ScriptedChatRequest);
    expect(calls.map((c) => c.temperature).sort()).toEqual([0, 0.6, 0.8, 1]);
    const generated = events.filter((e) => e.type === 'model_call' && e.data.step === 'generate');
    expect(generated.map((e) => [e.data.candidate, e.data.context_cut]).sort()).toEqual([
      [1, 'conformal_set'],
      [2, 'top_file'],
      [3, 'top_k_functions'],
      [4, 'conformal_set'],
    ]);
    const select = events.find((e) => e.type === 'log' && e.data.step === 'select').data;
    expect(select.winner).toBe(3);
    // The runner-up stands for the other group: the one of it that was run.
    expect(select.reason).toBe(
      'candidate 3 over candidate 1: it is proven: it makes the failing reproduction tests pass and breaks no existing test',
    );
    const by = Object.fromEntries(select.candidates.map((c: { candidate: number }) => [c.candidate, c]));
    // Layout and comments aside, candidates 1, 2 and 4 wrote one change: one group, three votes, tested once.
    expect([by[1].group, by[2].group, by[4].group]).toEqual([1, 1, 1]);
    expect([by[1].votes, by[3].votes]).toEqual([3, 1]);
    expect(by[1]).toMatchObject({
      failure: 'regression',
      tests_passed: 1,
      regressions: ['tests/test_calc.py::test_mul'],
    });
    expect(by[3]).toMatchObject({ failure: null, tests_passed: 1, tests_valid: 1, group: 3 });
    const tests = events.filter((e) => e.type === 'test_result');
    expect(tests.map((e) => [e.data.candidate, e.data.candidates])).toEqual([
      [1, [1, 2, 4]],
      [3, [3]],
    ]);
    expect(result.attempts[0]).toMatchObject({ attempt: 1, candidate: 3, candidates: 4 });
    expect(events.at(-1).data).toMatchObject({ chosen_attempt: 1, chosen_candidate: 3 });
  });

  // A wrong fix (add multiplies) that brings its own test asserting what it does.
  const SELF_SERVING =
    '```python\n# tests/test_repro_add.py\nfrom calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 6\n```\n\n' +
    block('    return a - b', '    return a * b');
  const WEAK =
    '```python\n# tests/test_repro_add.py\nfrom calc import add\n\n\ndef test_add_exists():\n    assert callable(add)\n```\n';

  it("a candidate's own test cannot overrule the reproduction step's: the wrong fix that passes only its own test is not proven", async () => {
    const { r, result, events, patch } = await solve(
      (q) => (isReproduce(q) ? REPRO : q.temperature === 0 ? SELF_SERVING : RIGHT),
      ['--samples', '2', '--max-attempts', '1'],
    );
    expect(r.code).toBe(0);
    expect(result.status).toBe('resolved');
    expect(patch).toContain('+    return a + b');
    const select = events.find((e) => e.type === 'log' && e.data.step === 'select').data;
    expect(select.winner).toBe(2);
    expect(select.judges).toEqual([
      { path: 'tests/test_repro_add.py', source: 'reproduce', valid: true },
      {
        path: 'tests/test_repro_add_2.py',
        source: 'candidate 1',
        valid: false,
        why: "a candidate's own test: the reproduction step's tests decide",
      },
    ]);
    const by = Object.fromEntries(select.candidates.map((c: { candidate: number }) => [c.candidate, c]));
    expect(by[1]).toMatchObject({ failure: 'repro_still_fails', tests_passed: 1 });
    expect(by[2]).toMatchObject({ failure: null, tests_passed: 1 });
  });

  it('with no reproduction-step test that shows the bug, candidates whose tests contradict each other prove nothing', async () => {
    const { r, result, events } = await solve(
      (q) => (isReproduce(q) ? WEAK : q.temperature === 0 ? SELF_SERVING : RIGHT),
      ['--samples', '2', '--max-attempts', '1'],
    );
    expect(result.status).toBe('unverified');
    expect(r.code).toBe(1);
    const select = events.find((e) => e.type === 'log' && e.data.step === 'select').data;
    expect(select.judges.map((j: { source: string; valid: boolean }) => [j.source, j.valid])).toEqual([
      ['reproduce', false],
      ['candidate 1', true],
      ['candidate 2', true],
    ]);
    expect(select.candidates.map((c: { failure: string }) => c.failure)).toEqual([
      'repro_still_fails',
      'repro_still_fails',
    ]);
  });

  it("a candidate's test that another candidate's fix passes can prove that fix, though its own fix fails it", async () => {
    // Candidate 1 writes the right test with a wrong fix; candidate 2 the right fix with no test.
    const wrongFixRightTest = `${REPRO}\n${block('    return a - b', '    return a * b')}`;
    const rightFixNoTest = block('    return a - b', '    return a + b');
    const { r, result, events } = await solve(
      (q) => (isReproduce(q) ? WEAK : q.temperature === 0 ? wrongFixRightTest : rightFixNoTest),
      ['--samples', '2', '--max-attempts', '1'],
    );
    expect(r.code).toBe(0);
    expect(result.status).toBe('resolved');
    const select = events.find((e) => e.type === 'log' && e.data.step === 'select').data;
    expect(select.winner).toBe(2);
    expect(select.judges.map((j: { source: string; valid: boolean }) => [j.source, j.valid])).toEqual([
      ['reproduce', false],
      ['candidate 1', true],
    ]);
  });

  it('a reproduction test broken in its own code with every candidate does not block a fix the other test proves', async () => {
    const broken =
      '```python\n# tests/test_repro_broken.py\nfrom calc import add\n\n\ndef test_add_broken():\n    assert add(2, 3) == undefined_name\n```\n';
    const { r, result, events } = await solve(
      (q) => (isReproduce(q) ? `${REPRO}\n${broken}` : RIGHT),
      ['--samples', '2', '--max-attempts', '1'],
    );
    expect(result.status).toBe('resolved');
    expect(r.code).toBe(0);
    const select = events.find((e) => e.type === 'log' && e.data.step === 'select').data;
    expect(select.judges).toContainEqual({
      path: 'tests/test_repro_broken.py',
      source: 'reproduce',
      valid: false,
      why: 'breaks in its own code with every candidate',
    });
  });

  it('stops sampling mid-attempt at the cost cap and returns the best proven candidate drawn', async () => {
    // Output tokens cost $0.001 each; an answer may be 70 tokens long, so a call's worst case is $0.07.
    const perToken = 0.001;
    const maxTokens = 70;
    const reply = (text: string) => Math.ceil(text.length / 4) * perToken;
    const wrongAnswer = `${REPRO}\n${block('    return a - b', '    return a * b')}`;
    // Each answer costs well over half the worst case, so after two the third cannot fit.
    expect(reply(wrongAnswer)).toBeGreaterThan(0.6 * maxTokens * perToken);
    expect(reply(RIGHT)).toBeGreaterThan(0.6 * maxTokens * perToken);
    const cap = reply(REPRO) + 2.2 * maxTokens * perToken;
    const { r, result, events, patch } = await solve(
      (q) => (isReproduce(q) ? REPRO : q.temperature === 0 ? wrongAnswer : RIGHT),
      ['--samples', '4', '--max-cost', String(cap)],
      {
        FIXWRIGHT_PRICES: JSON.stringify({ scripted: { inputPerMTok: 0, outputPerMTok: perToken * 1e6 } }),
        FIXWRIGHT_MAX_TOKENS: String(maxTokens),
      },
    );
    expect(generateCalls()).toHaveLength(2);
    const stop = events.find((e) => e.type === 'log' && e.data.step === 'generate' && e.data.stopped_by === 'cost');
    expect(stop.data).toMatchObject({ attempt: 1, drawn: 2, wanted: 4 });
    expect(result.cost_usd).toBeLessThanOrEqual(cap);
    // The cap stopped sampling, not the run: the two candidates drawn were judged and the proven one kept.
    expect(r.code).toBe(0);
    expect(result.status).toBe('resolved');
    expect(patch).toContain('+    return a + b');
    expect(result.attempts[0]).toMatchObject({ candidate: 2, candidates: 2 });
    // Tokens and cost per candidate are in the log.
    const select = events.find((e) => e.type === 'log' && e.data.step === 'select').data;
    for (const c of select.candidates)
      expect(c.cost_usd).toBeCloseTo(reply(c.candidate === 1 ? wrongAnswer : RIGHT), 6);
  });

  it('with a cap that affords no candidate after the first attempt, ends with the best candidate so far', async () => {
    const perToken = 0.001;
    const maxTokens = 70;
    const reply = (text: string) => Math.ceil(text.length / 4) * perToken;
    const wrongAnswer = `${REPRO}\n${block('    return a - b', '    return a * b')}`;
    // The reproduction call and one candidate fit; a second attempt's call does not.
    const cap = reply(REPRO) + 1.5 * maxTokens * perToken;
    const { r, result, events } = await solve(
      (q) => (isReproduce(q) ? REPRO : wrongAnswer),
      ['--samples', '2', '--max-cost', String(cap)],
      {
        FIXWRIGHT_PRICES: JSON.stringify({ scripted: { inputPerMTok: 0, outputPerMTok: perToken * 1e6 } }),
        FIXWRIGHT_MAX_TOKENS: String(maxTokens),
      },
    );
    expect(generateCalls()).toHaveLength(1);
    expect(
      events.find((e) => e.type === 'log' && e.data.step === 'generate' && e.data.stopped_by === 'cost').data,
    ).toMatchObject({ drawn: 1, wanted: 2 });
    expect(result).toMatchObject({ status: 'unverified', stopped_by: 'cost' });
    expect(result.cost_usd).toBeLessThanOrEqual(cap);
    expect(r.code).toBe(1);
  });
});
