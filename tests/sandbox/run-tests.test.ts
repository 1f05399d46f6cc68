import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { prepareCheckout, runEnvironmentTests, type SandboxRuntime, type SandboxSession } from '../../sandbox/index.js';
import { testRuntime } from '../helpers/docker.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';
import { testEnvironment } from '../helpers/test-environment.js';

const environment = testEnvironment;

describe('prepareCheckout and runEnvironmentTests', () => {
  let runtime: SandboxRuntime;
  let repo: string;
  beforeAll(async () => {
    runtime = await testRuntime();
    repo = makeRepo({
      'pkg/__init__.py': 'from pkg._version import VERSION\n',
      'tests/test_v.py': 'import pkg\n\ndef test_v():\n    assert pkg.VERSION == "1.0"\n',
    });
  });
  afterAll(async () => {
    await runtime?.close();
    removeRepos();
  });
  const inSandbox = <T>(task: (session: SandboxSession) => Promise<T>) =>
    runtime.withSandbox({ repo: { kind: 'dir', path: repo } }, task);
  const counting = async <T>(s: SandboxSession, task: () => Promise<T>): Promise<[T, string[][]]> => {
    const spy = vi.spyOn(s, 'execTrusted');
    try {
      return [await task(), spy.mock.calls.map((c) => [...c[0]])];
    } finally {
      spy.mockRestore();
    }
  };

  it('writes generated files, helpers and extra files in one exec, the extra ones last', async () => {
    const env = environment({
      files: { 'pkg/_version.py': 'VERSION = "0.0"\n' },
      helpers: { 'run.sh': 'echo helper\n' },
    });
    const [[, version, helper, judge, owner], argv] = await inSandbox((s) =>
      counting(s, async () => {
        await prepareCheckout(s, env, {
          'pkg/_version.py': 'VERSION = "1.0"\n',
          'tests/test_new.py': 'def test_new():\n    pass\n',
        });
        const found = await s.execTrusted(['stat', '-c', '%u', '/work/pkg/_version.py', '/tmp/fixwright/eval/run.sh'], {
          timeoutSeconds: 30,
        });
        return [
          undefined,
          await s.readFile('/work/pkg/_version.py'),
          await s.readFile('/tmp/fixwright/eval/run.sh'),
          await s.readFile('/work/tests/test_new.py'),
          found.stdout.text,
        ] as const;
      }),
    );
    expect(argv.filter((a) => a.join(' ').includes('tar -x'))).toHaveLength(1);
    expect(version).toBe('VERSION = "1.0"\n');
    expect(helper).toBe('echo helper\n');
    expect(judge).toContain('def test_new');
    // The sandbox user owns what was written, so tests and patches may change it.
    expect(owner.trim().split('\n')).toEqual(['65532', '65532']);
  });

  it('writes nothing when there is nothing to write', async () => {
    const [, argv] = await inSandbox((s) => counting(s, () => prepareCheckout(s, environment())));
    expect(argv).toEqual([]);
  });

  it('a passing test run takes one exec', async () => {
    const env = environment({ files: { 'pkg/_version.py': 'VERSION = "1.0"\n' } });
    const [run, argv] = await inSandbox(async (s) => {
      await prepareCheckout(s, env);
      return counting(s, () => runEnvironmentTests(s, env, ['tests/test_v.py'], { timeoutSeconds: 60 }));
    });
    expect(run.outcomes['tests/test_v.py::test_v']?.status).toBe('PASSED');
    expect(run.consistent).toBe(true);
    expect(argv).toHaveLength(1);
  });
});
