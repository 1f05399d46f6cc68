import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runPytest, type SandboxRuntime } from '../../sandbox/index.js';
import { testRuntime } from '../helpers/docker.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

const TESTS = `
import pytest

@pytest.fixture
def broken():
    raise RuntimeError('fixture boom')

def test_pass():
    assert True

def test_fail():
    assert 1 == 2

def test_error(broken):
    pass

@pytest.mark.skip(reason='not today')
def test_skip():
    pass

@pytest.mark.xfail(reason='known')
def test_xfail():
    assert False

@pytest.mark.parametrize('n', [1, 2, 3])
def test_param(n):
    assert n != 2

class TestGroup:
    def test_method(self):
        assert True
`;

describe('runPytest', () => {
  let runtime: SandboxRuntime;
  let repo: string;
  beforeAll(async () => {
    runtime = await testRuntime();
    repo = makeRepo({
      'pkg/__init__.py': '',
      'tests/test_cases.py': TESTS,
      'tests/test_broken_import.py': 'import not_a_module\n\ndef test_never():\n    pass\n',
      'tests/test_crash.py':
        'import os\n\ndef test_before():\n    pass\n\ndef test_crash():\n    os._exit(1)\n\ndef test_after():\n    pass\n',
      'tests/test_slow.py': 'import time\n\ndef test_quick():\n    pass\n\ndef test_slow():\n    time.sleep(60)\n',
      'tests/test_stderr.py': "import sys\n\ndef test_writes():\n    sys.stderr.write('to stderr\\nno newline')\n",
      'tests/test_many.py':
        "import pytest\n\n@pytest.mark.parametrize('n', range(400))\ndef test_n(n):\n    assert n != 7\n",
      'tests/test_lose_report.py': [
        'import glob, os',
        'def test_remove():',
        "    for path in glob.glob('/tmp/fixwright/pytest-report-*.jsonl'):",
        '        os.remove(path)',
        'def test_fail():',
        '    assert False',
        '',
      ].join('\n'),
      'tests/test_lock_report.py': [
        'import glob, os',
        'def test_lock():',
        "    for path in glob.glob('/tmp/fixwright/pytest-report-*.jsonl'):",
        '        os.chmod(path, 0)',
        'def test_fail():',
        '    assert False',
        '',
      ].join('\n'),
      'tests/test_stdin.py': 'import os\n\ndef test_stdin_is_empty():\n    assert os.read(0, 100) == b""\n',
      // Replaces the plugin with one that reports every test as passed, and makes it read-only.
      'tests/test_swap_plugin.py': [
        'import os',
        'def test_swap():',
        "    path = '/tmp/fixwright/pytest/fixwright_pytest_report.py'",
        "    with open(path, 'w') as f:",
        "        f.write('def pytest_runtest_logreport(report):\\n    report.outcome = \\'passed\\'\\n')",
        '    os.chmod(path, 0o444)',
        '',
      ].join('\n'),
      'tests/test_lock_plugin_dir.py': "import os\n\ndef test_lock():\n    os.chmod('/tmp/fixwright/pytest', 0o555)\n",
      'tests/test_forge.py': [
        'import glob, json, os',
        'def test_fails():',
        '    assert False',
        'def test_zz_forger():',
        "    assert 'FIXWRIGHT_PYTEST_REPORT' not in os.environ",
        "    for path in glob.glob('/tmp/fixwright/pytest-report-*.jsonl'):",
        "        with open(path, 'a') as f:",
        "            f.write(json.dumps({'event': 'report', 'nodeid': 'tests/test_forge.py::test_fails', 'when': 'call', 'outcome': 'passed'}) + '\\n')",
        "            f.write(json.dumps({'event': 'report', 'nodeid': 'tests/test_forge.py::test_ghost', 'when': 'call', 'outcome': 'passed'}) + '\\n')",
        '',
      ].join('\n'),
    });
  });
  afterAll(async () => {
    await runtime?.close();
    removeRepos();
  });
  const run = (targets: string[], timeoutSeconds = 60) =>
    runtime.withSandbox({ repo: { kind: 'dir', path: repo } }, (s) => runPytest(s, { targets, timeoutSeconds }));

  it('parses every kind of outcome by node id', async () => {
    const r = await run(['tests/test_cases.py']);
    const status = Object.fromEntries(Object.entries(r.outcomes).map(([id, o]) => [id, o.status]));
    expect(status).toEqual({
      'tests/test_cases.py::test_pass': 'PASSED',
      'tests/test_cases.py::test_fail': 'FAILED',
      'tests/test_cases.py::test_error': 'ERROR',
      'tests/test_cases.py::test_skip': 'SKIPPED',
      'tests/test_cases.py::test_xfail': 'XFAIL',
      'tests/test_cases.py::test_param[1]': 'PASSED',
      'tests/test_cases.py::test_param[2]': 'FAILED',
      'tests/test_cases.py::test_param[3]': 'PASSED',
      'tests/test_cases.py::TestGroup::test_method': 'PASSED',
    });
    expect(r.outcomes['tests/test_cases.py::test_fail']?.message).toContain('assert 1 == 2');
    expect(r.outcomes['tests/test_cases.py::test_error']?.message).toContain('fixture boom');
    expect(r.source).toBe('plugin');
    expect(r.crashed).toBe(false);
    expect(r.timedOut).toBe(false);
    expect(r.exec.exitCode).toBe(1);
  });

  it('runs selected node ids and reports the ones that do not exist as missing', async () => {
    const r = await run(['tests/test_cases.py::test_pass', 'tests/test_cases.py::test_param']);
    expect(Object.keys(r.outcomes).sort()).toEqual([
      'tests/test_cases.py::test_param[1]',
      'tests/test_cases.py::test_param[2]',
      'tests/test_cases.py::test_param[3]',
      'tests/test_cases.py::test_pass',
    ]);
    expect(r.missing).toEqual([]);
    const gone = await run(['tests/test_cases.py::test_pass', 'tests/test_cases.py::test_nope']);
    // pytest refuses the whole run when one id does not exist (exit 4), so nothing ran.
    expect(gone.missing).toEqual(['tests/test_cases.py::test_pass', 'tests/test_cases.py::test_nope']);
    expect(gone.exec.exitCode).toBe(4);
    expect(gone.exec.stdout.text + gone.exec.stderr.text).toMatch(/not found: .*test_nope/);
  });

  it('reports collection errors', async () => {
    const r = await run(['tests/test_broken_import.py']);
    expect(r.collectionErrors.map((e) => e.nodeid)).toEqual(['tests/test_broken_import.py']);
    expect(r.collectionErrors[0]?.message).toContain('not_a_module');
  });

  it('survives a crash of pytest and names the test that crashed', async () => {
    const r = await run(['tests/test_crash.py']);
    expect(r.crashed).toBe(true);
    expect(r.interruptedIn).toBe('tests/test_crash.py::test_crash');
    expect(r.outcomes['tests/test_crash.py::test_before']?.status).toBe('PASSED');
    expect(r.outcomes['tests/test_crash.py::test_crash']).toEqual({
      status: 'ERROR',
      message: 'the test process crashed',
    });
    expect(r.outcomes['tests/test_crash.py::test_after']).toBeUndefined();
  });

  it('keeps the results of a run that timed out', async () => {
    const r = await run(['tests/test_slow.py'], 3);
    expect(r.timedOut).toBe(true);
    expect(r.outcomes['tests/test_slow.py::test_quick']?.status).toBe('PASSED');
    expect(r.outcomes['tests/test_slow.py::test_slow']).toEqual({ status: 'ERROR', message: 'timed out after 3s' });
  });

  it('does not let test code rewrite the report', async () => {
    const r = await run(['tests/test_forge.py']);
    expect(r.outcomes['tests/test_forge.py::test_fails']?.status).toBe('FAILED');
    expect(r.outcomes['tests/test_forge.py::test_zz_forger']?.status).toBe('PASSED');
    expect(r.outcomes['tests/test_forge.py::test_ghost']).toBeUndefined();
    expect(r.ignoredLines).toBe(2);
    expect(r.consistent).toBe(false);
  });

  it('a clean run is consistent', async () => {
    const r = await run(['tests/test_cases.py::test_pass']);
    expect(r.consistent).toBe(true);
    expect(r.exec.exitCode).toBe(0);
  });

  const counted = (targets: string[], options: { outputCapBytes?: number; extraArgs?: string[] } = {}) =>
    runtime.withSandbox({ repo: { kind: 'dir', path: repo }, outputCapBytes: options.outputCapBytes }, async (s) => {
      const spy = vi.spyOn(s, 'execTrusted');
      const result = await runPytest(s, { targets, timeoutSeconds: 60, extraArgs: options.extraArgs });
      // The session's own OOM check after a failing command is not runPytest's doing.
      return { result, argv: spy.mock.calls.map((c) => [...c[0]]).filter((a) => !a.join(' ').includes('oom_control')) };
    });

  it('takes one exec: the plugin, pytest and the report', async () => {
    const { result, argv } = await counted(['tests/test_cases.py']);
    expect(argv).toHaveLength(1);
    expect(argv[0]!.slice(0, 2)).toEqual(['sh', '-c']);
    expect(result.source).toBe('plugin');
    expect(Object.keys(result.outcomes)).toHaveLength(9);
    expect(result.outcomes['tests/test_cases.py::test_fail']?.status).toBe('FAILED');
    expect(result.consistent).toBe(true);
    expect(result.exec.stderr.text).not.toMatch(/fixwright-report|"event"/);
  });

  it('keeps what pytest wrote on stderr, exactly, apart from the report', async () => {
    const { result, argv } = await counted(['tests/test_stderr.py'], { extraArgs: ['-s'] });
    expect(argv).toHaveLength(1);
    expect(result.exec.stderr.text).toBe('to stderr\nno newline');
    expect(result.exec.stderr.totalBytes).toBe('to stderr\nno newline'.length);
    expect(result.outcomes['tests/test_stderr.py::test_writes']?.status).toBe('PASSED');
  });

  it('reads a large report from its file', async () => {
    const { result, argv } = await counted(['tests/test_many.py']);
    expect(argv.map((a) => a[0])).toEqual(['sh', 'cat']);
    expect(Object.keys(result.outcomes)).toHaveLength(400);
    expect(result.outcomes['tests/test_many.py::test_n[7]']?.status).toBe('FAILED');
    expect(result.consistent).toBe(true);
  });

  it('reads the report from its file when the output cap cut it', async () => {
    const { result, argv } = await counted(['tests/test_cases.py'], { outputCapBytes: 2048 });
    expect(argv.map((a) => a[0])).toEqual(['sh', 'cat']);
    expect(Object.keys(result.outcomes)).toHaveLength(9);
    expect(result.outcomes['tests/test_cases.py::test_param[2]']?.status).toBe('FAILED');
    expect(result.consistent).toBe(true);
  });

  it('keeps pytest’s exit status when test code removes the report or makes it unreadable', async () => {
    for (const file of ['tests/test_lose_report.py', 'tests/test_lock_report.py']) {
      const { result, argv } = await counted([file]);
      expect(argv).toHaveLength(1);
      expect(result.exec.exitCode).toBe(1);
      expect(result.source).toBe('summary');
      expect(result.outcomes[`${file}::test_fail`]?.status).toBe('FAILED');
    }
  });

  it('gives pytest an empty stdin, not the plugin it was sent', async () => {
    const r = await run(['tests/test_stdin.py']);
    expect(r.outcomes['tests/test_stdin.py::test_stdin_is_empty']?.status).toBe('PASSED');
  });

  it('writes the plugin afresh for every run, whatever earlier tests did to it', async () => {
    const [first, second] = await runtime.withSandbox(
      { repo: { kind: 'dir', path: repo } },
      async (s) =>
        [
          await runPytest(s, { targets: ['tests/test_swap_plugin.py'], timeoutSeconds: 60 }),
          await runPytest(s, { targets: ['tests/test_cases.py::test_fail'], timeoutSeconds: 60 }),
        ] as const,
    );
    expect(first.outcomes['tests/test_swap_plugin.py::test_swap']?.status).toBe('PASSED');
    expect(second.source).toBe('plugin');
    expect(second.outcomes['tests/test_cases.py::test_fail']?.status).toBe('FAILED');
    expect(second.consistent).toBe(true);
  });

  it('fails as a sandbox error when the plugin cannot be written', async () => {
    const second = runtime.withSandbox({ repo: { kind: 'dir', path: repo } }, async (s) => {
      await runPytest(s, { targets: ['tests/test_lock_plugin_dir.py'], timeoutSeconds: 60 });
      return runPytest(s, { targets: ['tests/test_cases.py::test_pass'], timeoutSeconds: 60 });
    });
    await expect(second).rejects.toMatchObject({
      code: 'FW_ERR_SANDBOX',
      message: expect.stringMatching(/could not write the pytest plugin/),
    });
  });

  it('refuses targets that would be read as pytest options', async () => {
    await expect(run(['--rootdir=/'])).rejects.toThrow(/not a test target/);
  });
});
