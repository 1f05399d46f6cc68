import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../../core/config.js';
import {
  createQuickFixService,
  editsFromResponse,
  type EditRequest,
  type QuickFixService,
} from '../../../quickfix/index.js';

let service: QuickFixService;
beforeAll(() => {
  // No model: only the rule tier can answer; pyflakes runs in the real analysis container.
  service = createQuickFixService(loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/fw-quickfix-rules' }), { cache: false });
});
afterAll(() => service.close());

const fix = (code: string, extra: Partial<EditRequest> = {}) => {
  const lines = code.replace(/\n$/, '').split('\n').length;
  return service.edit({ language: 'python', code, start_line: 1, end_line: lines, diagnostics: [], ...extra });
};

describe('rule tier: each fixer, proposed only when pyflakes confirms it', () => {
  it.each([
    [
      'near-miss name (dropped letters, scope-aware)',
      'def total(items):\n    for i in itm:\n        print(i)\n',
      'def total(items):\n    for i in items:\n        print(i)\n',
    ],
    [
      "near-miss of an enclosing function's name",
      'def outer(values):\n    def inner():\n        return valus\n    return inner\n',
      'def outer(values):\n    def inner():\n        return values\n    return inner\n',
    ],
    [
      'misspelt definition: rename the unused local, not every use',
      'def f(xs):\n    totl = 0\n    for x in xs:\n        total += x\n    return total\n',
      'def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n',
    ],
    [
      'misspelt use of a local the file spells the other way elsewhere: the use is fixed',
      'LABEL = "meat"\n\ndef f(rows):\n    meat = rows[0]\n    return maet\n',
      'LABEL = "meat"\n\ndef f(rows):\n    meat = rows[0]\n    return meat\n',
    ],
    ['a dropped letter beats an added one at equal distance', 'def f(x):\n    pint(x)\n', 'def f(x):\n    print(x)\n'],
    [
      'missing stdlib module',
      'def f(p):\n    return os.path.join(p, "x")\n',
      'import os\ndef f(p):\n    return os.path.join(p, "x")\n',
    ],
    [
      'missing stdlib name joins its existing from-import',
      'from collections import OrderedDict\n\nx = defaultdict(list), OrderedDict()\n',
      'from collections import OrderedDict, defaultdict\n\nx = defaultdict(list), OrderedDict()\n',
    ],
    [
      'missing import the file makes elsewhere',
      'import sys\nprint(sys.argv)\n\ndef load(text):\n    import json\n    return json.loads(text)\n\ndef dump(obj):\n    return json.dumps(obj)\n',
      'import sys\nimport json\nprint(sys.argv)\n\ndef load(text):\n    import json\n    return ' +
        'json.loads(text)\n\ndef dump(obj):\n    return json.dumps(obj)\n',
    ],
    ['unused import', 'import os\nimport sys\n\nprint(sys.argv)\n', 'import sys\n\nprint(sys.argv)\n'],
    [
      'one unused name of a from-import',
      'from os import path, sep\n\nprint(sep)\n',
      'from os import sep\n\nprint(sep)\n',
    ],
    [
      'unused local with a pure value is removed',
      'def f(x):\n    unused = 3\n    return x\n',
      'def f(x):\n    return x\n',
    ],
    [
      'unused local with a call keeps the call',
      'def f(x):\n    result = print(x)\n    return x\n',
      'def f(x):\n    print(x)\n    return x\n',
    ],
    ['missing colon', 'def f(x)\n    return x\n', 'def f(x):\n    return x\n'],
    ['misspelt keyword', 'def f(x):\n    retrun x\n', 'def f(x):\n    return x\n'],
    [
      'misspelt keyword that parses as a name',
      'def f(x):\n    print(x)\n    retrun\n',
      'def f(x):\n    print(x)\n    return\n',
    ],
    [
      'missing colon after a header spread over lines',
      'def f(x, y):\n    if (\n        x\n        and y\n    )\n        return 1\n    return 0\n',
      'def f(x, y):\n    if (\n        x\n        and y\n    ):\n        return 1\n    return 0\n',
    ],
    ['a non-ASCII name', 'def f(größe):\n    return grße\n', 'def f(größe):\n    return größe\n'],
    [
      'a CRLF file keeps its line endings',
      'def total(items):\r\n    for i in itm:\r\n        print(i)\r\n',
      'def total(items):\r\n    for i in items:\r\n        print(i)\r\n',
    ],
  ])('%s', async (_name, code, expected) => {
    const answer = await fix(code);
    expect(answer).toMatchObject({
      status: 'edited',
      tier: 'rule',
      verification: { applies: true, parses: true, fixed: true },
    });
    expect(editsFromResponse(code, answer)).toBe(expected);
    expect(answer.verification.diagnostics_after).toEqual([]);
  });

  it('answers in milliseconds once the analysis container is warm', async () => {
    await fix('import os\n');
    const answer = await fix('def total(items):\n    for i in itm:\n        print(i)\n');
    expect(answer.timings_ms.total).toBeLessThan(250);
    expect(answer.timings_ms.model).toBe(0);
  });

  it('does not guess: several changed letters are another name, not a typo', async () => {
    const answer = await fix('def f(x):\n    return compute(x)\n', {
      diagnostics: ["NameError: name 'compute' is not defined"],
    });
    expect(answer.status).toBe('no_edits');
    expect(answer.edits).toEqual([]);
  });

  it('scope-aware: a near miss bound only inside another function is not in scope', async () => {
    const answer = await fix('def f():\n    return valeu\n\ndef g():\n    value = 1\n    return value\n', {
      diagnostics: ["undefined name 'valeu'"],
    });
    expect(answer.status).toBe('no_edits');
  });

  it('rule edits stay inside the requested lines: an unused import outside them is left alone', async () => {
    const code = 'import os\nimport sys\n\ndef f(x):\n    print(sys.argv)\n    return x\n';
    const answer = await fix(code, { start_line: 4, end_line: 6, diagnostics: ["'os' imported but unused at line 1"] });
    expect(answer).toMatchObject({ status: 'no_edits', edits: [] });
  });

  it('an import added at the top, outside the requested lines, is allowed and reported; allow_imports: false refuses it', async () => {
    const code = 'import sys\n\ndef f(p):\n    print(sys.argv)\n    return os.path.join(p, "x")\n';
    const answer = await fix(code, { start_line: 3, end_line: 5 });
    expect(answer).toMatchObject({
      status: 'edited',
      tier: 'rule',
      edits: [{ start_line: 2, end_line: 1, replacement: 'import os\n' }],
      verification: { fixed: true },
    });
    expect(answer.outside_region).toEqual([
      {
        start_line: 2,
        end_line: 1,
        replacement: 'import os\n',
        reason: expect.stringMatching(/import added at the top/),
      },
    ]);
    expect(answer.verification.reason).toMatch(/outside the requested lines: an import at line 2/);
    const strict = await fix(code, { start_line: 3, end_line: 5, allow_imports: false });
    expect(strict).toMatchObject({ status: 'no_edits', edits: [] });
  });

  it('an instruction beyond fixing (add type hints) skips the rule tier', async () => {
    const answer = await fix('def total(items):\n    for i in itm:\n        print(i)\n', {
      instruction: 'add type hints',
    });
    // No model is configured: the answer is the rule tier's, never labelled as the model's.
    expect(answer).toMatchObject({ status: 'no_edits', tier: 'rule', model_version: null, model_rounds: 0 });
    expect(answer.reason).toMatch(
      /asks for more than fixing diagnostics.*the model tier is unavailable: no model is configured/,
    );
  });

  it('with no diagnostics given, targets what pyflakes reports inside the region only', async () => {
    const code = 'import os\n\ndef f(x):\n    unused = 1\n    return x\n';
    const answer = await fix(code, { start_line: 3, end_line: 5 });
    expect(editsFromResponse(code, answer)).toBe('import os\n\ndef f(x):\n    return x\n');
  });
});
