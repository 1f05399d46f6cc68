import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPytest, type SandboxRuntime } from '../../sandbox/index.js';
import { testRuntime } from '../helpers/docker.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

// The report comes back on stderr beside what the tests themselves write: what test code can fake.
describe('runPytest against test code that fakes its output', () => {
  let runtime: SandboxRuntime;
  let repo: string;
  beforeAll(async () => {
    runtime = await testRuntime();
    repo = makeRepo({
      // Claims the plugin could not be written: fixwright's message on the script's stderr, then exit 125.
      'tests/test_spoof.py':
        'import os\n\ndef test_fails():\n    assert False\n\ndef test_spoof():\n    ' +
        "open('/proc/%d/fd/2' % os.getppid(), 'w').write('fixwright: could not write the pytest plugin to x\\n')\n    os._exit(125)\n",
      'tests/test_many.py':
        "import pytest\n\n@pytest.mark.parametrize('n', range(60))\ndef test_n(n):\n    assert True\n",
    });
  });
  afterAll(async () => {
    await runtime?.close();
    removeRepos();
  });

  it('does not take a test that prints the plugin-failure message and exits 125 for a sandbox failure', async () => {
    const r = await runtime.withSandbox({ repo: { kind: 'dir', path: repo } }, (s) =>
      runPytest(s, { targets: ['tests/test_spoof.py'], timeoutSeconds: 60 }),
    );
    expect(r.crashed).toBe(true);
    expect(r.outcomes['tests/test_spoof.py::test_fails']?.status).toBe('FAILED');
  });

  it('reads the report from its file when the output cap cut inside it, and the run stays clean', async () => {
    // The exec's whole stderr (pytest's output, then the report and its marker lines), seen under the runner.
    const full = await runtime.withSandbox(
      { repo: { kind: 'dir', path: repo }, outputCapBytes: 1 << 20 },
      async (s) => {
        const exec = s.execTrusted.bind(s);
        let total = 0;
        s.execTrusted = async (...args: Parameters<typeof exec>) => {
          const r = await exec(...args);
          total = r.stderr.totalBytes;
          return r;
        };
        return { run: await runPytest(s, { targets: ['tests/test_many.py'], timeoutSeconds: 60 }), total };
      },
    );
    expect(full.run.consistent).toBe(true);
    // Cut exactly as many bytes as the cap's note is long: the report's size line then matches with the note inside it.
    expect('\n[fixwright: 42 bytes of output cut here]\n'.length).toBe(42);
    const small = await runtime.withSandbox(
      { repo: { kind: 'dir', path: repo }, outputCapBytes: full.total - 42 },
      (s) => runPytest(s, { targets: ['tests/test_many.py'], timeoutSeconds: 60 }),
    );
    expect(small.consistent).toBe(true);
    expect(small.ignoredLines).toBe(0);
    expect(Object.values(small.outcomes).filter((o) => o.status === 'PASSED')).toHaveLength(60);
  });
});
