import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsRegistry } from '../../core/metrics.js';
import {
  applyPatch,
  ensureEnvironmentImage,
  prepareCheckout,
  prepareEnvironmentImage,
  prepareExtensionBuild,
  putExtensionBuild,
  runEnvironmentTests,
  type SandboxRuntime,
  type TestEnvironment,
} from '../../sandbox/index.js';
import { testRuntime } from '../helpers/docker.js';
import { headCommit, makeRepo, removeRepos } from '../helpers/fixture-repo.js';

/** The fixture package (a Cython module and a C module on numpy's headers), as files. */
function fixtureFiles(): Record<string, string> {
  const root = join(import.meta.dirname, '..', 'fixtures', 'extpkg');
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files[relative(root, path)] = readFileSync(path, 'utf8');
    }
  };
  walk(root);
  return files;
}

/** The toolchain from Debian, as the scikit-learn and matplotlib entries of the table use it. */
const TOOLCHAIN = { apt: ['gcc', 'libc6-dev', 'python3-dev', 'python3-setuptools', 'cython3', 'python3-numpy'] };

const environment = (over: Partial<TestEnvironment> = {}): TestEnvironment => ({
  source: 'table',
  key: 'extpkg@0.1',
  image: TOOLCHAIN,
  pythonpath: ['.'],
  testCmd: ['python3', '-m', 'pytest', '-rA'],
  testEnv: {},
  parser: 'pytest',
  directives: 'paths',
  files: {},
  helpers: {},
  imports: [],
  notes: [],
  build: { command: ['python3', 'setup.py', 'build_ext', '--inplace'] },
  ...over,
});

const counts = async () => {
  const metric = (await metricsRegistry.getMetricsAsJSON()).find((m) => m.name === 'fixwright_extension_builds_total');
  const by = (result: string) => (metric?.values ?? []).find((v) => v.labels.result === result)?.value ?? 0;
  return { built: by('built'), cached: by('cached'), shared: by('shared'), rebuilt: by('rebuilt'), failed: by('failed') };
};

const patchScale = (factor: number) =>
  ['diff --git a/extpkg/_scale.pyx b/extpkg/_scale.pyx', '--- a/extpkg/_scale.pyx', '+++ b/extpkg/_scale.pyx', '@@ -1,2 +1,2 @@', ' def scale(double x):', '-    return x * 2', `+    return x * ${factor}`, ''].join('\n');

describe('extension builds', () => {
  let runtime: SandboxRuntime;
  let image: string;
  let repo: { kind: 'git'; gitDir: string; commit: string };
  let cacheDir: string;
  beforeAll(async () => {
    runtime = await testRuntime({ memoryBytes: '1g', timeoutSeconds: 120 });
    const dir = makeRepo(fixtureFiles(), { git: true });
    repo = { kind: 'git', gitDir: join(dir, '.git'), commit: headCommit(dir) };
    cacheDir = mkdtempSync(join(tmpdir(), 'fw-extbuild-'));
    image = (await prepareEnvironmentImage(runtime.docker, environment())).image!;
  }, 600_000);
  afterAll(async () => {
    await runtime?.close();
    removeRepos();
    if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
  });

  it('builds once in a sandbox (two callers share it), reuses the cache, and rebuilds in the test sandbox when a patch changes a .pyx', async () => {
    const env = environment();
    const before = await counts();
    const [a, b] = await Promise.all([prepareExtensionBuild(runtime, env, { image, repo, cacheDir }), prepareExtensionBuild(runtime, env, { image, repo, cacheDir })]);
    const afterFirst = await counts();
    expect(afterFirst.built - before.built).toBe(1);
    expect(afterFirst.shared - before.shared).toBe(1);
    expect(a!.reused || b!.reused).toBe(true);
    expect(a!.key).toBe(b!.key);
    expect(readdirSync(cacheDir).sort()).toEqual([`${a!.key}.json`, `${a!.key}.tar.gz`]);

    const again = (await prepareExtensionBuild(runtime, env, { image, repo, cacheDir }))!;
    expect(again.reused).toBe(true);
    expect(again.key).toBe(a!.key);
    expect((await counts()).built).toBe(afterFirst.built);
    // The manifest names the compiled modules and the generated C, not the sources.
    const outputs = (JSON.parse(again.manifest) as { outputs: string[] }).outputs;
    expect(outputs.some((p) => /^extpkg\/_scale\..*\.so$/.test(p))).toBe(true);
    expect(outputs.some((p) => /^extpkg\/_csum\..*\.so$/.test(p))).toBe(true);
    expect(outputs).not.toContain('extpkg/_scale.pyx');

    // Unpatched: the cached modules are used as they are.
    const plain = await runtime.withSandbox({ image, repo }, async (s) => {
      await putExtensionBuild(s, again);
      const rebuild = await prepareCheckout(s, env);
      return { rebuild, run: await runEnvironmentTests(s, env, ['tests/test_ext.py'], { timeoutSeconds: 120 }) };
    });
    expect(plain.rebuild?.rebuilt).toBe(false);
    expect(plain.run.outcomes['tests/test_ext.py::test_scale']?.status).toBe('PASSED');
    expect(plain.run.outcomes['tests/test_ext.py::test_total']?.status).toBe('PASSED');

    // A patch to the .pyx: built again, incrementally, in the test's own sandbox.
    const patched = await runtime.withSandbox({ image, repo }, async (s) => {
      await putExtensionBuild(s, again);
      const applied = await applyPatch(s, patchScale(3), { timeoutSeconds: 60, asHarness: true });
      expect(applied.ok).toBe(true);
      const rebuild = await prepareCheckout(s, env);
      const check = await s.run(['python3', '-c', 'import extpkg; print(extpkg.scale(2.0))'], { timeoutSeconds: 60, env: { PYTHONPATH: '/work' } });
      return { rebuild, out: check.stdout.text.trim() };
    });
    expect(patched.rebuild).toMatchObject({ rebuilt: true, full: false, changed: ['extpkg/_scale.pyx'] });
    expect(patched.out).toBe('6.0');
    expect((await counts()).rebuilt - before.rebuilt).toBe(1);
  }, 600_000);

  it('a failed build is an image-build error with the log tail, and a sandbox with no cached build builds in place', async () => {
    const failing = environment({ build: { command: ['python3', '-c', 'import sys; print("compiler says no"); sys.exit(3)'] } });
    await expect(prepareExtensionBuild(runtime, failing, { image, repo, cacheDir })).rejects.toMatchObject({ code: 'FW_ERR_IMAGE_BUILD', message: expect.stringContaining('compiler says no') });

    const env = environment();
    const broken = await runtime.withSandbox({ image, repo }, async (s) => {
      const applied = await applyPatch(s, patchScale(3).replace('x * 3', 'x *'), { timeoutSeconds: 60, asHarness: true });
      expect(applied.ok).toBe(true);
      return prepareCheckout(s, env).then(
        () => undefined,
        (err: { code: string; message: string }) => err,
      );
    });
    expect(broken?.code).toBe('FW_ERR_IMAGE_BUILD');
    expect(broken?.message).toContain('no cached build');
    expect(broken?.message).toMatch(/Error compiling Cython file|_scale\.pyx/);
  }, 600_000);

  it('callers that need one environment image at once share its build (one image id under the tag, so one build key)', async () => {
    const spec = { env: { FW_TEST_MARKER: randomUUID() } };
    const results = await Promise.all([ensureEnvironmentImage(runtime.docker, spec), ensureEnvironmentImage(runtime.docker, spec)]);
    try {
      expect(results.map((r) => r.built).sort()).toEqual([false, true]);
      expect(results[0]!.tag).toBe(results[1]!.tag);
    } finally {
      await runtime.docker.getImage(results[0]!.tag).remove({ force: true }).catch(() => undefined);
    }
  }, 120_000);
});
