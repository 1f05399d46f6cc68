// Checks the build recipe of every environment-table entry that builds extensions (the unverified
// scikit-learn and matplotlib ones among them) on fixwright's own small extension package
// (tests/fixtures/extpkg: a Cython module and a C module on numpy's headers): the entry's image is
// built, the package is built by the entry's own build command through prepareExtensionBuild (a
// sandbox, then the cache), and its tests run in a sandbox of that image. One JSON line per entry.
//
//     npm run build && node scripts/extension-recipe-check.mjs [FILTER...]
//
// (FIXWRIGHT_DIST_DIR names another build output than dist/.)
//
// FILTER keeps entries whose "owner/name@version" contains it (such as scikit-learn or @3.5).
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = resolve(process.env.FIXWRIGHT_DIST_DIR ?? join(root, 'dist'));
const { loadSettings } = await import(`${dist}/core/config.js`);
const {
  createSandboxRuntime,
  prepareEnvironmentImage,
  prepareExtensionBuild,
  putExtensionBuild,
  prepareCheckout,
  runEnvironmentTests,
} = await import(`${dist}/sandbox/index.js`);
const { loadEnvironmentTable, environmentFor } = await import(`${dist}/benchmarks/eval/environments.js`);
const table = loadEnvironmentTable(join(root, 'benchmarks/eval/environments.json'));
const runtime = await createSandboxRuntime(loadSettings({ ...process.env, FIXWRIGHT_LOG_LEVEL: 'silent' }), {
  warm: 0,
});
const cacheDir = mkdtempSync(join(tmpdir(), 'fw-recipe-'));
const wanted = process.argv.slice(2);
for (const [repo, entry] of Object.entries(table.repos)) {
  for (const version of Object.keys(entry.versions)) {
    if (wanted.length && !wanted.some((w) => `${repo}@${version}`.includes(w))) continue;
    const env = environmentFor(table, repo, version);
    if (!env.supported || !env.build) continue;
    const dir = mkdtempSync(join(tmpdir(), 'fw-extpkg-'));
    cpSync(join(root, 'tests/fixtures/extpkg'), dir, { recursive: true });
    if (repo.startsWith('matplotlib')) {
      // matplotlib's environment has no Cython (matplotlib needs none): the C module only.
      const setupPy = [
        'import numpy',
        'from setuptools import Extension, setup',
        "setup(name='extpkg', version='0.1', packages=['extpkg'], " +
          "ext_modules=[Extension('extpkg._csum', ['extpkg/_csum.c'], include_dirs=[numpy.get_include()])])",
        '',
      ].join('\n');
      writeFileSync(join(dir, 'setup.py'), setupPy);
      writeFileSync(
        join(dir, 'extpkg/__init__.py'),
        'from extpkg._csum import total\n\ndef scale(x):\n    return x * 2\n',
      );
    }
    const t0 = Date.now();
    try {
      const { image } = await prepareEnvironmentImage(runtime.docker, env);
      const t1 = Date.now();
      const test = { ...env, pythonpath: ['.'] };
      const built = await prepareExtensionBuild(runtime, test, { image, repo: { kind: 'dir', path: dir }, cacheDir });
      const t2 = Date.now();
      const again = await prepareExtensionBuild(runtime, test, { image, repo: { kind: 'dir', path: dir }, cacheDir });
      const run = await runtime.withSandbox({ image, repo: { kind: 'dir', path: dir } }, async (s) => {
        await putExtensionBuild(s, again);
        const r = await prepareCheckout(s, test);
        const out = await runEnvironmentTests(s, test, ['tests/test_ext.py'], { timeoutSeconds: 300 });
        return {
          rebuilt: r?.rebuilt,
          outcomes: Object.fromEntries(Object.entries(out.outcomes).map(([k, v]) => [k.split('::')[1], v.status])),
        };
      });
      const ver = await runtime.withSandbox({ image }, (s) =>
        s.run(['python3', '-c', 'import sys, numpy; print(sys.version.split()[0], "numpy", numpy.__version__)'], {
          timeoutSeconds: 60,
        }),
      );
      console.log(
        JSON.stringify({
          key: env.key,
          image,
          imageSeconds: (t1 - t0) / 1000,
          buildSeconds: (t2 - t1) / 1000,
          reused: again.reused,
          files: built.files,
          ...run,
          python: ver.stdout.text.trim(),
        }),
      );
    } catch (err) {
      console.log(JSON.stringify({ key: env.key, error: err.message.slice(-1500) }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
await runtime.close();
rmSync(cacheDir, { recursive: true, force: true });
