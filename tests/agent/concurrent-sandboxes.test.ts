import { afterEach, describe, expect, it } from 'vitest';
import { standsAsRuled } from '../../agent/nodes/test.js';
import {
  type ScriptedChatRequest,
  type ScriptedServer,
  startScriptedOpenAIServer,
} from '../../core/scripted-openai-server.js';
import type { PytestRunResult } from '../../sandbox/index.js';
import { removeRepos } from '../helpers/fixture-repo.js';
import { solveWithScriptedModel } from '../helpers/solve-run.js';

const finished = { timedOut: false } as PytestRunResult;
const cut = { timedOut: true } as PytestRunResult;

describe("a candidate's existing tests run before the baseline is known stand only as the rule's run", () => {
  it('stands with the same files and a limit that made no difference; not otherwise', () => {
    const files = ['tests/a.py', 'tests/b.py'];
    expect(standsAsRuled({ files, limit: 120, afterExisting: finished }, files, 120)).toBe(true);
    // Cut at the same limit as the rule's: the rule's run would have been cut there too.
    expect(standsAsRuled({ files, limit: 120, afterExisting: cut }, files, 120)).toBe(true);
    // Finished within a lower limit: a higher one changes nothing.
    expect(standsAsRuled({ files, limit: 120, afterExisting: finished }, files, 200)).toBe(true);
    // Cut at a lower limit than the rule gives: it might have finished.
    expect(standsAsRuled({ files, limit: 120, afterExisting: cut }, files, 200)).toBe(false);
    // A file that did not collect (or finish) without the patch is not checked: other files, another run.
    expect(standsAsRuled({ files, limit: 120, afterExisting: finished }, ['tests/a.py'], 120)).toBe(false);
    expect(
      standsAsRuled({ files: ['tests/b.py', 'tests/a.py'], limit: 120, afterExisting: finished }, files, 120),
    ).toBe(false);
    expect(standsAsRuled({ files: [], limit: 120, afterExisting: undefined }, [], 120)).toBe(true);
  });
});

// A test file that does not collect without any patch (calc has no `sub` yet); both candidates add
// `sub`, so with them it collects (and fails). The second candidate also breaks `mul`.
const REPO = {
  'calc.py':
    'def add(a, b):\n    """Return the sum of a and b."""\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n',
  'tests/test_calc.py': 'from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n',
  'tests/test_sub.py': 'from calc import sub\n\n\ndef test_sub():\n    assert sub(5, 3) == 2\n',
};
const REPRO =
  '```python\n# tests/test_repro_add.py\nfrom calc import add\n\n\ndef test_add_returns_sum():\n    assert add(2, 3) == 5\n```\n';
const block = (search: string, replace: string) =>
  `calc.py\n\`\`\`python\n<<<<<<< SEARCH\n${search}\n=======\n${replace}\n>>>>>>> REPLACE\n\`\`\`\n`;
const WITH_SUB = `${REPRO}\n${block('    return a - b', '    return a + b\n\n\ndef sub(a, b):\n    return a + b')}`;
const BREAKS_MUL = `${WITH_SUB}\n${block('    return a * b', '    return a ** b')}`;
const KEY = 'sk-test-concurrent-key-123456';
const isReproduce = (q: ScriptedChatRequest) =>
  JSON.stringify(q.messages ?? []).includes('Write only the reproduction test now');

describe("an attempt's sandboxes run side by side (scripted model over HTTP, real sandbox)", () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    removeRepos();
  });

  it(
    'gives the verdicts of one sandbox after another: a file that did not collect without the patch ' +
      'stays unchecked, a regression is caught, results in candidate order',
    async () => {
      server = await startScriptedOpenAIServer({
        respond: (q) => (isReproduce(q) ? REPRO : q.temperature === 0 ? WITH_SUB : BREAKS_MUL),
        apiKey: KEY,
      });
      const { r, result, events } = await solveWithScriptedModel(server, REPO, KEY, [
        '--samples',
        '2',
        '--max-attempts',
        '1',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(result.status).toBe('resolved');
      const tests = events.filter((e) => e.type === 'test_result').map((e) => e.data);
      expect(tests.map((t) => t.candidate)).toEqual([1, 2]);
      for (const t of tests) {
        expect(t.existing).toEqual(['tests/test_calc.py']);
        expect(t.existing_unchecked).toContainEqual({
          path: 'tests/test_sub.py',
          reason: 'does not collect without the patch',
        });
        // Only the checked file ran with the patch, though tests/test_sub.py collects with it.
        expect(Object.keys(t.existing_after.outcomes)).toEqual(['tests/test_calc.py::test_mul']);
      }
      expect(tests[0].regressions).toEqual([]);
      expect(tests[1].regressions).toEqual(['tests/test_calc.py::test_mul']);
      const select = events.find((e) => e.type === 'log' && e.data.step === 'select').data;
      expect(select.winner).toBe(1);
      expect(select.candidates.find((c: { candidate: number }) => c.candidate === 2)).toMatchObject({
        failure: 'regression',
      });
      // The test node's timing counts sandboxes that overlap once: its test time is within its wall time.
      const testEnd = events.find((e) => e.type === 'node_end' && e.data.node === 'test').data;
      expect(testEnd.timing.test_ms).toBeGreaterThan(0);
      expect(testEnd.timing.test_ms + testEnd.timing.own_ms + testEnd.timing.model_ms).toBe(testEnd.duration_ms);
    },
  );

  it('runs the judges before the existing tests in a sandbox of its own too: an existing test that sees what they leave is no regression', async () => {
    // The reproduction test leaves a file in the checkout; an existing test checks for it. In every
    // sandbox the judges run first, also where the checked files run again under the rule's limit.
    const repo = {
      ...REPO,
      'tests/test_calc.py': `${REPO['tests/test_calc.py']}

def test_sees_the_log():
    import os
    assert os.path.exists('repro.log')
`,
    };
    const repro = REPRO.replace(
      'def test_add_returns_sum():\n',
      "def test_add_returns_sum():\n    open('repro.log', 'w').write('ran')\n",
    );
    server = await startScriptedOpenAIServer({
      respond: (q) =>
        isReproduce(q)
          ? repro
          : `${repro}\n${block('    return a - b', '    return a + b\n\n\ndef sub(a, b):\n    return a - b')}`,
      apiKey: KEY,
    });
    const { r, result, events } = await solveWithScriptedModel(server, repo, KEY, ['--max-attempts', '1']);
    expect(r.code, r.stderr).toBe(0);
    const tests = events.filter((e) => e.type === 'test_result').map((e) => e.data);
    expect(tests[0].existing_unchecked).toContainEqual({
      path: 'tests/test_sub.py',
      reason: 'does not collect without the patch',
    });
    expect(tests[0].existing_after.outcomes['tests/test_calc.py::test_sees_the_log'].status).toBe('PASSED');
    expect(tests[0].regressions).toEqual([]);
    expect(result.status).toBe('resolved');
  });
});
