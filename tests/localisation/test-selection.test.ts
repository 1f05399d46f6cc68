import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { selectRegressionTests } from '../../localisation/index.js';
import { readGitSnapshot } from '../../localisation/snapshot.js';

type Files = Record<string, string>;

function select(files: Files, touched: string[], maxFiles?: number) {
  const list = Object.entries(files).map(([path, text]) => ({ path, text }));
  return selectRegressionTests(list, touched, maxFiles === undefined ? {} : { maxFiles });
}

function paths(files: Files, touched: string[]): string[] {
  return select(files, touched).tests.map((t) => t.path);
}

describe('selectRegressionTests', () => {
  it('follows a package re-export: `from calc import sub` reaches calc/ops.py through calc/__init__.py', () => {
    const files = {
      'calc/__init__.py': 'from .ops import add, sub\n',
      'calc/ops.py': 'def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a - b\n',
      'tests/test_ops.py': 'from calc import sub\n\ndef test_sub():\n    assert sub(2, 1) == 1\n',
      'tests/test_other.py': 'import json\n\ndef test_json():\n    assert json.dumps(1) == "1"\n',
    };
    const result = select(files, ['calc/ops.py']);
    expect(result.tests).toMatchObject([
      {
        path: 'tests/test_ops.py',
        distance: 2,
        reason: 'imports calc (calc/__init__.py), which imports calc/ops.py; named for a touched module',
      },
    ]);
    expect(result.considered).toBe(2);
    expect(result.truncated).toBe(false);
  });

  it('maps a src layout to import names and counts parent packages as imported', () => {
    const files = {
      'src/flask/__init__.py': 'from .app import Flask as Flask\nfrom .helpers import url_for\n',
      'src/flask/app.py': 'from . import helpers\n\nclass Flask:\n    pass\n',
      'src/flask/helpers.py': 'def url_for():\n    pass\n',
      'tests/test_basic.py': 'import flask\n\ndef test_app():\n    flask.Flask()\n',
      'tests/test_x.py': 'from flask.helpers import url_for\n\ndef test_y():\n    url_for()\n',
      'tests/test_unrelated.py': 'import os\n\ndef test_os():\n    assert os.sep\n',
    };
    const result = select(files, ['src/flask/app.py']);
    expect(result.tests).toMatchObject([
      {
        path: 'tests/test_basic.py',
        distance: 2,
        reason: 'imports flask (src/flask/__init__.py), which imports src/flask/app.py',
      },
      {
        path: 'tests/test_x.py',
        distance: 2,
        reason: 'imports flask (src/flask/__init__.py), which imports src/flask/app.py',
      },
    ]);
    // helpers.py is imported directly by one test and through the package by the other.
    expect(select(files, ['src/flask/helpers.py']).tests).toMatchObject([
      { path: 'tests/test_x.py', distance: 1, reason: 'imports flask.helpers (src/flask/helpers.py)' },
      {
        path: 'tests/test_basic.py',
        distance: 2,
        reason: 'imports flask (src/flask/__init__.py), which imports src/flask/helpers.py',
      },
    ]);
  });

  it('resolves `import pkg.mod`, `from pkg import mod`, flat modules and relative imports', () => {
    const files = {
      'calc.py': 'def f():\n    pass\n',
      'pkg/__init__.py': '',
      'pkg/a.py': 'from ..calc import f\n',
      'pkg/sub/__init__.py': '',
      'pkg/sub/b.py': 'from .. import a\n',
      'pkg/sub/c.py': 'from ..a import f\n',
      'pkg/d.py': 'import calc\n',
      'tests/test_flat.py': 'import calc\n',
      'tests/test_dotted.py': 'import pkg.sub.b\n',
      'tests/test_from_sub.py': 'from pkg.sub import c\n',
      'tests/test_from_pkg.py': 'from pkg import d\n',
    };
    expect(select(files, ['pkg/a.py']).tests.map((t) => [t.path, t.distance, t.reason])).toEqual([
      ['tests/test_dotted.py', 2, 'imports pkg.sub.b (pkg/sub/b.py), which imports pkg/a.py'],
      ['tests/test_from_sub.py', 2, 'imports pkg.sub.c (pkg/sub/c.py), which imports pkg/a.py'],
    ]);
    // `from ..calc import f` in pkg/a.py climbs out of pkg to the flat calc.py.
    expect(select(files, ['calc.py']).tests.map((t) => [t.path, t.distance])).toEqual([
      ['tests/test_flat.py', 1],
      ['tests/test_from_pkg.py', 2],
      ['tests/test_dotted.py', 3],
      ['tests/test_from_sub.py', 3],
    ]);
    // Importing pkg.sub.b runs pkg/__init__.py and pkg/sub/__init__.py first.
    expect(paths(files, ['pkg/sub/__init__.py'])).toEqual(['tests/test_dotted.py', 'tests/test_from_sub.py']);
    expect(paths(files, ['pkg/__init__.py'])).toEqual([
      'tests/test_dotted.py',
      'tests/test_from_pkg.py',
      'tests/test_from_sub.py',
    ]);
  });

  it('selects tests under a conftest.py that reaches the touched module, in its directory or below', () => {
    const files = {
      'src/flask/__init__.py': 'from .app import Flask\n',
      'src/flask/app.py': 'class Flask:\n    pass\n',
      'tests/conftest.py': 'import pytest\nimport flask\n\n@pytest.fixture\ndef app():\n    return flask.Flask()\n',
      'tests/test_plain.py': 'def test_app(app):\n    assert app\n',
      'tests/deep/test_nested.py': 'def test_app(app):\n    assert app\n',
      'other/test_elsewhere.py': 'def test_nothing():\n    pass\n',
    };
    const result = select(files, ['src/flask/app.py']);
    expect(result.tests).toMatchObject([
      {
        path: 'tests/deep/test_nested.py',
        distance: 3,
        reason: 'conftest tests/conftest.py imports flask (src/flask/__init__.py), which imports src/flask/app.py',
      },
      {
        path: 'tests/test_plain.py',
        distance: 3,
        reason: 'conftest tests/conftest.py imports flask (src/flask/__init__.py), which imports src/flask/app.py',
      },
    ]);
    // Conftests carry tests but hold none, so they are never selected themselves.
    expect(result.considered).toBe(3);
    expect(select(files, ['tests/conftest.py']).tests.map((t) => [t.path, t.reason])).toEqual([
      ['tests/deep/test_nested.py', 'conftest tests/conftest.py changed by the patch'],
      ['tests/test_plain.py', 'conftest tests/conftest.py changed by the patch'],
    ]);
  });

  it("selects a touched test at distance 0 and follows imports of test helpers on pytest's basedir", () => {
    const files = {
      'lib.py': 'X = 1\n',
      'tests/helpers.py': 'from lib import X\n',
      'tests/test_helped.py': 'from helpers import X\n',
      'tests/test_lib.py': 'import lib\n',
    };
    expect(select(files, ['tests/test_lib.py', 'lib.py']).tests).toMatchObject([
      { path: 'tests/test_lib.py', distance: 0, reason: 'changed by the patch' },
      { path: 'tests/test_helped.py', distance: 2, reason: 'imports helpers (tests/helpers.py), which imports lib.py' },
    ]);
    // helpers.py sits under tests/ but holds no tests.
    expect(paths(files, ['tests/helpers.py'])).toEqual(['tests/test_helped.py']);
  });

  it('runs test suites named by their own settings, but not helpers, data files or documentation examples', () => {
    const files = {
      'pkg/__init__.py': '',
      'pkg/mod.py': 'def mod():\n    pass\n',
      'tests/checkers/unittest_mod.py': 'from pkg.mod import mod\n\ndef test_mod():\n    mod()\n',
      'tests/functional/data_mod.py': 'from pkg.mod import mod\n\nmod()\n',
      'testing/python/mod.py': 'import pkg.mod\n\nclass TestMod:\n    def test_it(self):\n        pass\n',
      'docs/examples/test_example.py': 'import pkg.mod\n',
    };
    const result = select(files, ['pkg/mod.py']);
    expect(result.tests).toMatchObject([
      {
        path: 'testing/python/mod.py',
        distance: 1,
        reason: 'imports pkg.mod (pkg/mod.py); named for a touched module',
      },
      // `from pkg.mod import mod` names the function, not a submodule pkg/mod/mod.py.
      {
        path: 'tests/checkers/unittest_mod.py',
        distance: 1,
        reason: 'imports pkg.mod (pkg/mod.py); named for a touched module',
      },
    ]);
    expect(result.considered).toBe(2);
    expect(paths(files, ['docs/examples/test_example.py'])).toEqual(['docs/examples/test_example.py']);
  });

  it('orders by distance then path, and caps the list', () => {
    const files: Files = { 'core.py': '', 'mid.py': 'import core\n', 'top.py': 'import mid\n' };
    for (let i = 0; i < 5; i++) {
      files[`tests/test_near_${i}.py`] = 'import core\n';
      files[`tests/test_far_${i}.py`] = 'import top\n';
    }
    const all = select(files, ['core.py']);
    expect(all.tests.map((t) => t.distance)).toEqual([1, 1, 1, 1, 1, 3, 3, 3, 3, 3]);
    expect(all.tests[0]!.path).toBe('tests/test_near_0.py');
    expect(all.tests[5]).toMatchObject({
      path: 'tests/test_far_0.py',
      distance: 3,
      reason: 'imports top (top.py), which imports mid.py, which imports core.py',
    });
    expect(all.truncated).toBe(false);
    const capped = select(files, ['core.py'], 6);
    expect(capped.tests.map((t) => t.path)).toEqual([...all.tests.slice(0, 6).map((t) => t.path)]);
    expect(capped.truncated).toBe(true);
    expect(capped.considered).toBe(10);
  });

  it('selects nothing for untouched, unknown or unimported files, and survives import cycles', () => {
    const files = {
      'a.py': 'import b\n',
      'b.py': 'import a\n',
      'tests/test_a.py': 'import a\n',
      'tests/test_none.py': 'import os\n',
    };
    expect(paths(files, [])).toEqual([]);
    expect(paths(files, ['missing.py'])).toEqual([]);
    expect(paths(files, ['b.py'])).toEqual(['tests/test_a.py']);
  });

  const flask = '/work/repos/pallets/flask';
  it.skipIf(!existsSync(flask))(
    'selects the flask tests that import flask when src/flask/app.py changes (local mirror only)',
    async () => {
      const snapshot = await readGitSnapshot(flask, 'HEAD');
      const t0 = performance.now();
      const result = selectRegressionTests(snapshot.files, ['src/flask/app.py'], { maxFiles: 1000 });
      const ms = performance.now() - t0;
      const importingFlask = snapshot.files.filter(
        (f) =>
          /^test_.*\.py$/.test(f.path.split('/').pop()!) &&
          f.path.startsWith('tests/') &&
          /^\s*(import flask|from flask)/m.test(f.text),
      );
      const selected = new Set(result.tests.map((t) => t.path));
      for (const f of importingFlask) expect(selected.has(f.path), f.path).toBe(true);
      console.log(
        `flask: ${result.tests.length} ` +
          `of ${result.considered} test modules selected ` +
          `(${importingFlask.length} import flask directly) in ${ms.toFixed(0)} ms over ${snapshot.files.length} files`,
      );
    },
  );
});
