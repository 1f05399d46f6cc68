import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type ScriptedReply,
  type ScriptedServer,
  startScriptedOpenAIServer,
} from '../../core/scripted-openai-server.js';
import { runCli } from '../helpers/cli.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';
import { buildWheel } from '../helpers/wheel.js';

const KEY = 'sk-test-verification-0001';
const block = (path: string, search: string, replace: string) =>
  `${path}\n\`\`\`python\n<<<<<<< SEARCH\n${search}=======\n${replace}>>>>>>> REPLACE\n\`\`\`\n`;
const test = (path: string, body: string) => `\`\`\`python\n# ${path}\n${body}\`\`\`\n`;

describe("verification in the project's own environment (scripted model, real sandbox)", () => {
  let server: ScriptedServer | undefined;
  const scratch: string[] = [];
  afterEach(async () => {
    await server?.close();
    server = undefined;
    removeRepos();
  });
  afterAll(() => {
    for (const d of scratch) rmSync(d, { recursive: true, force: true });
  });

  async function solve(
    files: Record<string, string>,
    replies: ScriptedReply[],
    issue: string,
    extra: string[] = [],
    env: Record<string, string> = {},
  ) {
    server = await startScriptedOpenAIServer({ replies, apiKey: KEY });
    const repo = makeRepo(files, { git: true });
    const out = join(repo, '..', `${repo.split('/').pop()}-out`);
    const r = await runCli(
      [
        'solve',
        '--repo',
        repo,
        '--issue',
        issue,
        '--model',
        'scripted',
        '--base-url',
        server.url,
        '--out',
        out,
        '--test-timeout',
        '60',
        ...extra,
      ],
      {
        OPENAI_API_KEY: KEY,
        FIXWRIGHT_DATA_DIR: join(out, 'data'),
        ...env,
      },
    );
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    const events = readFileSync(join(out, 'trajectory.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const chats = server.requests.filter((q) => q.path === '/v1/chat/completions').length;
    return { r, result, events, chats };
  }

  it('a fix that breaks a test importing the package (`from calc import sub`) is not resolved, and the broken test is named', async () => {
    const files = {
      'calc/__init__.py': 'from .ops import add, sub\n',
      'calc/ops.py': 'def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n',
      'tests/test_ops.py': 'from calc import sub\n\n\ndef test_sub():\n    assert sub(5, 3) == 2\n',
    };
    const fix = block(
      'calc/ops.py',
      'def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n',
      'def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a + b\n',
    );
    const repro = test(
      'tests/test_repro_add.py',
      'from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n',
    );
    const { result, events } = await solve(files, [repro, `${repro}\n${fix}`], 'add(2, 3) returns -1 instead of 5', [
      '--max-attempts',
      '1',
    ]);
    expect(result.status).toBe('unverified');
    expect(result.attempts[0]).toMatchObject({
      failure: 'regression',
      message: expect.stringMatching(/regression: .*tests\/test_ops\.py::test_sub/),
    });
    const tested = events.find((e) => e.type === 'test_result').data;
    expect(tested.regressions).toEqual(['tests/test_ops.py::test_sub']);
    expect(tested.existing_why[0]).toMatchObject({ path: 'tests/test_ops.py', reason: expect.any(String) });
    const baseline = events.filter((e) => e.type === 'log' && e.data.step === 'baseline').at(-1).data;
    expect(baseline).toMatchObject({ imports: ['calc'], collected: 1, ok: true });
  });

  it('infers the environment of a src-layout package and installs its dependency from a local wheel directory', async () => {
    const wheels = buildWheel(
      mkdtempSync(join(tmpdir(), 'fw-wheels-')),
      'fwdemodep',
      'def double(x):\n    return 2 * x\n',
    );
    scratch.push(wheels);
    const files = {
      'pyproject.toml': '[project]\nname = "wheelpkg"\nversion = "0.1"\ndependencies = ["fwdemodep>=1.0"]\n',
      'src/wheelpkg/__init__.py': 'from fwdemodep import double\n\n\ndef quadruple(x):\n    return double(x) + x\n',
      'tests/test_wheelpkg.py': 'from wheelpkg import quadruple\n\n\ndef test_zero():\n    assert quadruple(0) == 0\n',
    };
    const repro = test(
      'tests/test_repro_quadruple.py',
      'from wheelpkg import quadruple\n\n\ndef test_quadruple():\n    assert quadruple(3) == 12\n',
    );
    const fix = block('src/wheelpkg/__init__.py', '    return double(x) + x\n', '    return double(double(x))\n');
    const { r, result, events } = await solve(
      files,
      [repro, `${repro}\n${fix}`],
      'quadruple(3) returns 9, not 12',
      [],
      { FIXWRIGHT_PIP_WHEELS: wheels },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(result.status).toBe('resolved');
    const environment = events.find((e) => e.type === 'log' && e.data.step === 'environment').data;
    expect(environment).toMatchObject({
      source: 'inferred',
      pythonpath: ['src'],
      imports: ['wheelpkg'],
      image: { packages: ['fwdemodep>=1.0'] },
    });
  }, 300_000);

  it('uses an environment spec the user gives (--env FILE)', async () => {
    const files = {
      'lib/shapes/__init__.py':
        'import os\n\nUNIT = os.environ["SHAPES_UNIT"]\n\n\ndef area(w, h):\n    return w + h\n',
      'lib/tests_here/test_shapes.py': 'from shapes import UNIT\n\n\ndef test_unit():\n    assert UNIT == "cm"\n',
    };
    const spec = join(mkdtempSync(join(tmpdir(), 'fw-env-')), 'env.yml');
    scratch.push(join(spec, '..'));
    writeFileSync(spec, 'pythonpath: [lib]\ntest_env:\n  SHAPES_UNIT: cm\nimports: [shapes]\n');
    const repro = test(
      'lib/tests_here/test_repro_area.py',
      'from shapes import area\n\n\ndef test_area():\n    assert area(2, 3) == 6\n',
    );
    const fix = block('lib/shapes/__init__.py', '    return w + h\n', '    return w * h\n');
    const { r, result, events } = await solve(files, [repro, `${repro}\n${fix}`], 'area(2, 3) is 5, should be 6', [
      '--env',
      spec,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(result.status).toBe('resolved');
    expect(events.find((e) => e.type === 'log' && e.data.step === 'environment').data).toMatchObject({
      source: 'spec',
      key: spec,
      pythonpath: ['lib'],
    });
  });

  it('a project whose environment cannot import stops after one baseline run, with no model call for a fix', async () => {
    const files = {
      'setup.py': 'from setuptools import setup\nsetup(name="broken", install_requires=["fwnotinstalled-xyz>=2"])\n',
      'broken/__init__.py': 'import fwnotinstalled_xyz\n',
      'tests/test_broken.py': 'import broken\n\n\ndef test_it():\n    assert broken\n',
    };
    const { r, result, events, chats } = await solve(files, ['unused'], 'broken is broken');
    expect(r.code).not.toBe(0);
    expect(result).toMatchObject({ status: 'error', stopped_by: 'environment', attempts: [] });
    expect(result.message).toMatch(
      /does not import .*broken: ModuleNotFoundError: No module named 'fwnotinstalled_xyz'.*could not install: fwnotinstalled-xyz>=2/,
    );
    expect(chats).toBe(0);
    const baselines = events.filter((e) => e.type === 'node_start' && e.data.node === 'baseline');
    expect(baselines).toHaveLength(1);
  }, 300_000);
});
