import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvironmentTable } from '../../benchmarks/eval/environments.js';
import { evaluateInstance } from '../../benchmarks/eval/evaluate-instance.js';
import { gradingRule } from '../../benchmarks/eval/grading.js';
import { metricsRegistry } from '../../core/metrics.js';
import {
  applyPatch,
  ensureEnvironmentImage,
  prepareCheckout,
  prepareEnvironmentImage,
  prepareExtensionBuild,
  putExtensionBuild,
  runEnvironmentTests,
  type BuildRuntime,
  type SandboxRuntime,
  type TestEnvironment,
} from '../../sandbox/index.js';
import { testRuntime } from '../helpers/docker.js';
import { headCommit, makeRepo, removeRepos } from '../helpers/fixture-repo.js';
import { testEnvironment } from '../helpers/test-environment.js';

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

const environment = (over: Partial<TestEnvironment> = {}): TestEnvironment =>
  testEnvironment({
    source: 'table',
    key: 'extpkg@0.1',
    image: TOOLCHAIN,
    build: { command: ['python3', 'setup.py', 'build_ext', '--inplace'] },
    ...over,
  });

const counts = async () => {
  const metric = (await metricsRegistry.getMetricsAsJSON()).find((m) => m.name === 'fixwright_extension_builds_total');
  const by = (result: string) => (metric?.values ?? []).find((v) => v.labels.result === result)?.value ?? 0;
  return {
    built: by('built'),
    cached: by('cached'),
    shared: by('shared'),
    rebuilt: by('rebuilt'),
    failed: by('failed'),
  };
};

/** A C module whose value comes from buildconf.py, which setup.py reads (as astropy's setup_package.py reads docstrings.py). */
const KP = {
  'setup.py': `import buildconf
from setuptools import Extension, setup
setup(name='kp', version='0.1', packages=['kp'], ext_modules=[Extension('kp._k', ['kp/_k.c'], define_macros=[('FACTOR', str(buildconf.FACTOR))])])
`,
  'buildconf.py': 'FACTOR = 2\n',
  'kp/__init__.py': '',
  'kp/_k.c': `#include <Python.h>
static PyObject *f(PyObject *s, PyObject *a) { return PyLong_FromLong(FACTOR); }
static PyMethodDef m[] = {{"factor", f, METH_NOARGS, ""}, {0}};
static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "_k", 0, -1, m};
PyMODINIT_FUNC PyInit__k(void) { return PyModule_Create(&d); }
`,
};

/** A build that also does what hostile build code would: rewrite where the helper once lived, plant a link to /tmp. */
const HOSTILE_BUILD = [
  'python3',
  '-c',
  `import os, subprocess, sys
subprocess.check_call([sys.executable, 'setup.py', 'build_ext', '--inplace'])
os.makedirs('/tmp/fixwright/build', exist_ok=True)
for name in ('extension-build.py', 'manifest.json', 'before.json'):
    open('/tmp/fixwright/build/' + name, 'w').write('{"patterns": [], "inputs": {}, "outputs": []}')
os.symlink('/tmp', 'lnk')
`,
];

const patchScale = (factor: number) =>
  [
    'diff --git a/extpkg/_scale.pyx b/extpkg/_scale.pyx',
    '--- a/extpkg/_scale.pyx',
    '+++ b/extpkg/_scale.pyx',
    '@@ -1,2 +1,2 @@',
    ' def scale(double x):',
    '-    return x * 2',
    `+    return x * ${factor}`,
    '',
  ].join('\n');

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
    const [a, b] = await Promise.all([
      prepareExtensionBuild(runtime, env, { image, repo, cacheDir }),
      prepareExtensionBuild(runtime, env, { image, repo, cacheDir }),
    ]);
    const afterFirst = await counts();
    expect(afterFirst.built - before.built).toBe(1);
    expect(afterFirst.shared - before.shared).toBe(1);
    expect(a!.reused || b!.reused).toBe(true);
    expect(a!.key).toBe(b!.key);
    expect(readdirSync(cacheDir)).toEqual([a!.key]);

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
      const check = await s.run(['python3', '-c', 'import extpkg; print(extpkg.scale(2.0))'], {
        timeoutSeconds: 60,
        env: { PYTHONPATH: '/work' },
      });
      return { rebuild, out: check.stdout.text.trim() };
    });
    expect(patched.rebuild).toMatchObject({ rebuilt: true, full: false, changed: ['extpkg/_scale.pyx'] });
    expect(patched.out).toBe('6.0');
    expect((await counts()).rebuilt - before.rebuilt).toBe(1);
  }, 600_000);

  it('a failed build is an image-build error with the log tail, and a sandbox with no cached build builds in place', async () => {
    const failing = environment({
      build: { command: ['python3', '-c', 'import sys; print("compiler says no"); sys.exit(3)'] },
    });
    await expect(prepareExtensionBuild(runtime, failing, { image, repo, cacheDir })).rejects.toMatchObject({
      code: 'FW_ERR_IMAGE_BUILD',
      message: expect.stringContaining('compiler says no'),
    });

    const env = environment();
    const broken = await runtime.withSandbox({ image, repo }, async (s) => {
      const applied = await applyPatch(s, patchScale(3).replace('x * 3', 'x *'), {
        timeoutSeconds: 60,
        asHarness: true,
      });
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

  it(
    'keys and rebuilds on what the setup code was seen to read, and the build cannot forge what is ' +
      'cached; a failure is not remembered, the log is capped, stale temporaries go',
    async () => {
      const dir = makeRepo(KP, { git: true });
      const gitDir = join(dir, '.git');
      const a = headCommit(dir);
      writeFileSync(join(dir, 'buildconf.py'), 'FACTOR = 3\n');
      execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qam', 'B']);
      const b = headCommit(dir);
      // buildconf.py matches no pattern: setup.py's import of it is recorded during the build.
      const env = environment({ build: { command: HOSTILE_BUILD } });
      // A half-written build of a process that is gone, and one of a live process.
      const host = hostname().replace(/[^A-Za-z0-9_-]/g, '_');
      let dead = 999_999;
      while (
        (() => {
          try {
            process.kill(dead, 0);
            return true;
          } catch {
            return false;
          }
        })()
      )
        dead -= 1;
      const stale = join(cacheDir, `x.tmp-${host}-${dead}-0a`);
      const live = join(cacheDir, `y.tmp-${host}-${process.pid}-0b`);
      mkdirSync(stale);
      mkdirSync(live);
      // The first sandbox fails as a busy engine would; the next caller builds (nothing remembered the failure).
      const caps: number[] = [];
      let calls = 0;
      const flaky: BuildRuntime = {
        docker: runtime.docker,
        settings: runtime.settings,
        withSandbox: (options, task) => {
          calls += 1;
          caps.push(options.outputCapBytes ?? Infinity);
          return calls === 1 ? Promise.reject(new Error('engine busy')) : runtime.withSandbox(options, task);
        },
      };
      await expect(
        prepareExtensionBuild(flaky, env, { image, repo: { kind: 'git', gitDir, commit: a }, cacheDir }),
      ).rejects.toThrow('engine busy');
      const ba = (await prepareExtensionBuild(flaky, env, {
        image,
        repo: { kind: 'git', gitDir, commit: a },
        cacheDir,
      }))!;
      expect(calls).toBe(2);
      expect(ba.reused).toBe(false);
      // The build's log is held to a few MiB in this process, not the outputs' cap.
      expect(Math.max(...caps)).toBeLessThanOrEqual(8 << 20);
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(live)).toBe(true);
      rmSync(live, { recursive: true });

      // What the build planted or rewrote is not in the cache: the manifest is the host's.
      const manifest = JSON.parse(ba.manifest) as {
        patterns: string[];
        inputs: Record<string, string>;
        reads: string[];
        outputs: string[];
      };
      expect(manifest.inputs['buildconf.py']).toBe(
        execFileSync('git', ['--git-dir', gitDir, 'rev-parse', `${a}:buildconf.py`])
          .toString()
          .trim(),
      );
      expect(manifest.inputs['kp/_k.c']).toBeDefined();
      expect(manifest.reads).toEqual(['buildconf.py']);
      expect(manifest.outputs).not.toContain('lnk');
      expect(manifest.outputs.some((p) => /^kp\/_k\..*\.so$/.test(p))).toBe(true);
      expect(gunzipSync(ba.tar).includes(Buffer.from('lnk'))).toBe(false);

      // Another buildconf.py: another key (a variant of the patterns' key), built with it.
      const bb = (await prepareExtensionBuild(runtime, env, {
        image,
        repo: { kind: 'git', gitDir, commit: b },
        cacheDir,
      }))!;
      expect(bb.key).not.toBe(ba.key);
      const factor = 'import kp._k; print(kp._k.factor())';
      const atB = await runtime.withSandbox({ image, repo: { kind: 'git', gitDir, commit: b } }, async (s) => {
        await putExtensionBuild(s, bb);
        const rebuild = await prepareCheckout(s, env);
        return {
          rebuild,
          out: (
            await s.run(['python3', '-c', factor], { timeoutSeconds: 60, env: { PYTHONPATH: '/work' } })
          ).stdout.text.trim(),
        };
      });
      expect(atB).toMatchObject({ rebuild: { rebuilt: false }, out: '3' });

      // A patch to buildconf.py (or the setup code) builds everything again in the test's sandbox.
      const patch = [
        'diff --git a/buildconf.py b/buildconf.py',
        '--- a/buildconf.py',
        '+++ b/buildconf.py',
        '@@ -1 +1 @@',
        '-FACTOR = 2',
        '+FACTOR = 7',
        '',
      ].join('\n');
      const patched = await runtime.withSandbox({ image, repo: { kind: 'git', gitDir, commit: a } }, async (s) => {
        await putExtensionBuild(s, ba);
        expect((await applyPatch(s, patch, { timeoutSeconds: 60, asHarness: true })).ok).toBe(true);
        const rebuild = await prepareCheckout(s, env);
        return {
          rebuild,
          out: (
            await s.run(['python3', '-c', factor], { timeoutSeconds: 60, env: { PYTHONPATH: '/work' } })
          ).stdout.text.trim(),
        };
      });
      expect(patched).toMatchObject({ rebuild: { rebuilt: true, full: true, changed: ['buildconf.py'] }, out: '7' });

      // A cancelled caller stops waiting (and builds nothing when cancelled before).
      await expect(
        prepareExtensionBuild(runtime, environment({ build: { command: ['python3', '-c', 'pass'] } }), {
          image,
          repo,
          cacheDir,
          signal: AbortSignal.abort(),
        }),
      ).rejects.toMatchObject({ code: 'FW_ERR_CANCELLED' });
      const slow = environment({ build: { command: ['python3', '-c', 'import time; time.sleep(60)'] } });
      const t0 = Date.now();
      await expect(
        prepareExtensionBuild(runtime, slow, { image, repo, cacheDir, signal: AbortSignal.timeout(3000) }),
      ).rejects.toMatchObject({ code: 'FW_ERR_CANCELLED' });
      expect(Date.now() - t0).toBeLessThan(30_000);
      // A caller that shares a build another caller cancelled builds for itself.
      const short = environment({ build: { command: ['python3', '-c', 'import time; time.sleep(3)'] } });
      const ctl = new AbortController();
      const first = prepareExtensionBuild(runtime, short, { image, repo, cacheDir, signal: ctl.signal });
      await new Promise((r) => setTimeout(r, 500));
      const second = prepareExtensionBuild(runtime, short, { image, repo, cacheDir });
      setTimeout(() => ctl.abort(), 1500);
      await expect(first).rejects.toMatchObject({ code: 'FW_ERR_CANCELLED' });
      expect((await second)!.files).toBe(0);
    },
    600_000,
  );

  it('a rebuild renews the lease by its own time', async () => {
    const env = environment();
    const built = (await prepareExtensionBuild(runtime, env, { image, repo, cacheDir }))!;
    // The same build, slow when the patch is in: past the 12 s lease the sandbox was opened with.
    const slow = environment({
      build: {
        command: [
          'python3',
          '-c',
          "import subprocess, sys, time\nif 'x * 3' in open('extpkg/_scale.pyx').read(): " +
            "time.sleep(15)\nsys.exit(subprocess.call([sys.executable, 'setup.py', 'build_ext', '--inplace']))",
        ],
      },
    });
    const out = await runtime.withSandbox({ image, repo, leaseSeconds: 12, warm: false }, async (s) => {
      await putExtensionBuild(s, built);
      expect((await applyPatch(s, patchScale(3), { timeoutSeconds: 60, asHarness: true })).ok).toBe(true);
      const rebuild = await prepareCheckout(s, slow);
      return {
        rebuild,
        out: (
          await s.run(['python3', '-c', 'import extpkg; print(extpkg.scale(2.0))'], {
            timeoutSeconds: 60,
            env: { PYTHONPATH: '/work' },
          })
        ).stdout.text.trim(),
      };
    });
    expect(out.rebuild?.failed).toBeUndefined();
    expect(out).toMatchObject({ rebuild: { rebuilt: true }, out: '6.0' });
  }, 600_000);

  it('eval: a model patch that does not compile is graded (unresolved, with the build log), not an environment error', async () => {
    const reposDir = mkdtempSync(join(tmpdir(), 'fw-extbuild-repos-'));
    try {
      const dir = join(reposDir, 'x', 'extpkg');
      for (const [p, c] of Object.entries(fixtureFiles())) {
        mkdirSync(dirname(join(dir, p)), { recursive: true });
        writeFileSync(join(dir, p), c);
      }
      const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
      git('init', '-q');
      git('add', '-A');
      git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'base');
      const shipped = JSON.parse(
        execFileSync('git', ['show', 'HEAD:benchmarks/eval/environments.json']).toString(),
      ) as { default: unknown };
      const tablePath = join(reposDir, 'table.json');
      const build = { command: ['python3', 'setup.py', 'build_ext', '--inplace'] };
      writeFileSync(
        tablePath,
        JSON.stringify({
          default: shipped.default,
          repos: {
            'x/extpkg': {
              parser: 'pytest',
              versions: {
                '0.1': { env: TOOLCHAIN, test_cmd: ['python3', '-m', 'pytest', '-rA'], pythonpath: ['.'], build },
              },
            },
          },
        }),
      );
      const row = {
        instance_id: 'x__extpkg-1',
        repo: 'x/extpkg',
        base_commit: git('rev-parse', 'HEAD').toString().trim(),
        version: '0.1',
        test_patch: [
          'diff --git a/tests/test_ext.py b/tests/test_ext.py',
          '--- a/tests/test_ext.py',
          '+++ b/tests/test_ext.py',
          '@@ -9,3 +9,7 @@ def test_scale():',
          ' ',
          ' def test_total():',
          '     assert total(numpy.arange(5, dtype=numpy.float64)) == 10.0',
          '+',
          '+',
          '+def test_scale3():',
          '+    assert scale(2.0) == 6.0',
          '',
        ].join('\n'),
        FAIL_TO_PASS: ['tests/test_ext.py::test_scale3'],
        PASS_TO_PASS: ['tests/test_ext.py::test_total'],
        problem_statement: '',
        patch: '',
      } as never;
      const ctx = {
        runtime,
        docker: runtime.docker,
        table: loadEnvironmentTable(tablePath),
        reposDir,
        timeoutSeconds: 120,
        grading: gradingRule(),
      };
      const prev = process.env.FIXWRIGHT_DATA_DIR;
      process.env.FIXWRIGHT_DATA_DIR = cacheDir;
      try {
        const result = await evaluateInstance(
          row,
          {
            instance_id: 'x__extpkg-1',
            model_patch: patchScale(3).replace('x * 3', 'x *'),
            model_name_or_path: 'm',
          } as never,
          ctx,
        );
        expect(result.status).toBe('unresolved');
        expect(result.reason).toMatch(/the extension build after the patches changed extpkg\/_scale\.pyx exited 1/);
        expect(result.reason).toMatch(/_scale\.pyx:2:\d+/);
      } finally {
        if (prev === undefined) delete process.env.FIXWRIGHT_DATA_DIR;
        else process.env.FIXWRIGHT_DATA_DIR = prev;
      }
    } finally {
      rmSync(reposDir, { recursive: true, force: true });
    }
  }, 600_000);

  it('callers that need one environment image at once share its build (one image id under the tag, so one build key)', async () => {
    const spec = { env: { FW_TEST_MARKER: randomUUID() } };
    const results = await Promise.all([
      ensureEnvironmentImage(runtime.docker, spec),
      ensureEnvironmentImage(runtime.docker, spec),
    ]);
    try {
      expect(results.map((r) => r.built).sort()).toEqual([false, true]);
      expect(results[0]!.tag).toBe(results[1]!.tag);
    } finally {
      await runtime.docker
        .getImage(results[0]!.tag)
        .remove({ force: true })
        .catch(() => undefined);
    }
  }, 120_000);
});
