import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tableFromJSON, tableToIPC } from 'apache-arrow';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grade, gradingRule, logDescribesRun, testDirectives } from '../../benchmarks/eval/grading.js';
import { environmentFor, loadEnvironmentTable } from '../../benchmarks/eval/environments.js';
import {
  parseDjangoLog,
  parseMatplotlibLog,
  parsePytestLog,
  parsePytestOptionsLog,
  parsePytestV2Log,
  parseSeabornLog,
  parseSympyLog,
} from '../../sandbox/environment/log-parsers.js';
import { environmentDockerfile, parseEnvironmentSpec } from '../../sandbox/index.js';
import { runCli } from '../helpers/cli.js';
import { makeSwebenchFixture } from '../helpers/swebench-fixture.js';
import { buildWheel } from '../helpers/wheel.js';

describe('log parsers and grading (the official rules, quirks included)', () => {
  it('reads -rA status lines; an id with a space is cut there; later lines win', () => {
    const log = [
      'tests/test_a.py::test_one PASSED                                  [ 50%]',
      'PASSED tests/test_a.py::test_one',
      'FAILED tests/test_a.py::test_two - AssertionError: boom',
      'XFAIL tests/test_a.py::test_three - reason',
      'SKIPPED [1] tests/test_a.py:9: unconditional skip',
      'PASSED tests/test_a.py::test_param[a b-c]',
      'ERROR tests/test_a.py::test_four',
      'FAILED tests/test_a.py::test_one',
    ].join('\n');
    expect(parsePytestLog(log)).toEqual({
      'tests/test_a.py::test_one': 'FAILED',
      'tests/test_a.py::test_two': 'FAILED',
      'tests/test_a.py::test_three': 'XFAIL',
      '[1]': 'SKIPPED',
      'tests/test_a.py::test_param[a': 'PASSED',
      'tests/test_a.py::test_four': 'ERROR',
    });
  });

  it('pytest_options cuts absolute paths in brackets; seaborn reads PASSED and FAILED only', () => {
    expect(parsePytestOptionsLog('PASSED t.py::test_x[/tmp/a/b.txt]\nPASSED t.py::test_y[//net/x]')).toEqual({
      't.py::test_x[/b.txt]': 'PASSED',
      't.py::test_y[//net/x]': 'PASSED',
    });
    expect(parseSeabornLog('t.py::test_a PASSED [ 10%]\nFAILED t.py::test_b - x\nXFAIL t.py::test_c')).toEqual({
      't.py::test_a': 'PASSED',
      't.py::test_b': 'FAILED',
    });
  });

  it('django: verbosity-2 lines, FAIL:/ERROR: headers (cut at the first space, as the official parser does), output between ... and ok', () => {
    const log = [
      'test_probe (utils_tests.test_text.FixwrightProbeTests) ... FAIL',
      'test_compress_sequence (utils_tests.test_text.TestUtilsText) ... ok',
      'test_slow (utils_tests.test_text.TestUtilsText) ... skipped "needs numpy"',
      'test_broken (utils_tests.test_text.TestUtilsText) ... ERROR',
      'test_noisy (admin_scripts.tests.Noisy) ... Some output of the test',
      'ok',
      'test_interrupted (check_framework.tests.X) ... System check identified no issues (0 silenced)',
      'ok',
      '======================================================================',
      "FAIL: test_slugify (utils_tests.test_text.TestUtilsText) (value='spam & eggs')",
    ].join('\n');
    expect(parseDjangoLog(log)).toEqual({
      'test_probe (utils_tests.test_text.FixwrightProbeTests)': 'FAILED',
      'test_compress_sequence (utils_tests.test_text.TestUtilsText)': 'PASSED',
      'test_slow (utils_tests.test_text.TestUtilsText)': 'SKIPPED',
      'test_broken (utils_tests.test_text.TestUtilsText)': 'ERROR',
      'test_noisy (admin_scripts.tests.Noisy)': 'PASSED',
      'test_interrupted (check_framework.tests.X)': 'PASSED',
      test_slugify: 'FAILED',
    });
  });

  it("sympy: `name ok|F|E` lines and `____ path.py:name ____` failure headers; a file's last test carries [OK] and is not read", () => {
    const log = [
      'sympy/core/tests/test_basic.py[3] ',
      'test_fixwright_probe F',
      'test_structure ok',
      'test_equality E',
      'test_last ok                                                     [OK]',
      '_____________ sympy/core/tests/test_basic.py:test_fixwright_probe ______________',
    ].join('\n');
    expect(parseSympyLog(log)).toEqual({
      'sympy/core/tests/test_basic.py:test_fixwright_probe': 'FAILED',
      test_fixwright_probe: 'FAILED',
      test_structure: 'PASSED',
      test_equality: 'ERROR',
    });
  });

  it('pytest_v2 strips colour codes and reads old `id STATUS` lines; matplotlib writes mouse buttons as numbers', () => {
    expect(
      parsePytestV2Log(
        '\x1b[32mPASSED\x1b[0m tests/test_a.py::test_x\ntests/test_a.py::test_y FAILED\nFAILED tests/test_a.py::test_z - boom',
      ),
    ).toEqual({
      'tests/test_a.py::test_x': 'PASSED',
      'tests/test_a.py::test_y': 'FAILED',
      'tests/test_a.py::test_z': 'FAILED',
    });
    expect(parsePytestV2Log('sklearn/tests/test_a.py::test_x PASSED [ 50%]')).toEqual({
      'sklearn/tests/test_a.py::test_x': 'PASSED',
    });
    expect(parsePytestOptionsLog('PASSED t.py::test_a[x]::sub')).toEqual({ 't.py::test_a[x]': 'PASSED' });
    expect(parseSeabornLog('   t.py::test_lead PASSED [ 5%]')).toEqual({ 't.py::test_lead': 'PASSED' });
    expect(parseMatplotlibLog('PASSED lib/t.py::test_press[MouseButton.LEFT]')).toEqual({
      'lib/t.py::test_press[1]': 'PASSED',
    });
  });

  it("resolves only when every FAIL_TO_PASS and PASS_TO_PASS test passes; missing counts as failed; skipped as the release's rule says", () => {
    const map = { a: 'PASSED', b: 'XFAIL', c: 'SKIPPED', d: 'FAILED' } as const;
    const [v5, v4] = [gradingRule('swebench-5'), gradingRule('swebench-4')];
    for (const rule of [v5, v4]) {
      expect(grade(map, ['a', 'b'], ['c'], rule).resolved).toBe(true);
      expect(grade(map, ['a'], ['d'], rule).resolved).toBe(false);
      expect(grade(map, ['a', 'missing'], [], rule).fail_to_pass.failure).toEqual(['missing']);
    }
    // 4.1.0 and before: a skipped test is left out of both lists, so a fix that makes its
    // FAIL_TO_PASS test skip is resolved. 5.0: that test fails; a skipped PASS_TO_PASS test is kept.
    expect(grade(map, ['a', 'c'], [], v4)).toMatchObject({
      resolved: true,
      fail_to_pass: { success: ['a'], failure: [] },
    });
    expect(grade(map, ['a', 'c'], [], v5)).toMatchObject({
      resolved: false,
      fail_to_pass: { success: ['a'], failure: ['c'] },
    });
    expect(grade(map, ['a'], ['c'], v4).pass_to_pass).toEqual({ success: [], failure: [] });
    expect(grade(map, ['a'], ['c'], v5).pass_to_pass).toEqual({ success: ['c'], failure: [] });
    expect(grade(map, ['a'], ['c'])).toEqual(grade(map, ['a'], ['c'], v5));
  });

  it('swebench-5 matches an id cut mid-parameter by prefix when every match agrees, and refuses a non-zero exit whose log shows no failure', () => {
    const map = {
      't.py::test_g[log(photon)]': 'PASSED',
      't.py::test_g[log(photon)-2]': 'XFAIL',
      't.py::test_h[a]': 'PASSED',
      't.py::test_h[ab]': 'FAILED',
    } as const;
    const [v5, v4] = [gradingRule('swebench-5'), gradingRule('swebench-4')];
    expect(grade(map, ['t.py::test_g[log(photon'], [], v5).resolved).toBe(true);
    expect(grade(map, ['t.py::test_g[log(photon'], [], v4).resolved).toBe(false);
    // Matches that disagree on pass/fail decide nothing: the id is missing, so it fails.
    expect(grade(map, ['t.py::test_h[a'], [], v5).fail_to_pass.failure).toEqual(['t.py::test_h[a']);
    // A whole id never reaches the prefix match.
    expect(grade({ 't.py::test_x[1]-extra': 'PASSED' }, ['t.py::test_x[1]'], [], v5).resolved).toBe(false);
    expect(logDescribesRun({ a: 'PASSED' }, 1, v5)).toBe(false);
    expect(logDescribesRun({ a: 'PASSED' }, 1, v4)).toBe(true);
    expect(logDescribesRun({ a: 'PASSED', b: 'ERROR' }, 1, v5)).toBe(true);
    expect(logDescribesRun({ a: 'PASSED' }, 0, v5)).toBe(true);
  });

  it('runs the test files the test patch touches, not its data files', () => {
    const patch =
      'diff --git a/tests/test_x.py b/tests/test_x.py\n--- a/x\n+++ b/x\ndiff --git ' +
      'a/tests/data.toml b/tests/data.toml\ndiff --git a/tests/test_y.py b/tests/test_y.py\n';
    expect(testDirectives(patch)).toEqual(['tests/test_x.py', 'tests/test_y.py']);
    const django =
      'diff --git a/tests/utils_tests/test_text.py b/tests/utils_tests/test_text.py\ndiff --git ' +
      'a/tests/i18n/sampleproject/x.py b/tests/i18n/sampleproject/x.py\n';
    expect(testDirectives(django, 'django_labels')).toEqual(['utils_tests.test_text', 'i18n.sampleproject.x']);
  });

  it(
    'the shipped environment table: every spec is valid, Django runs its own runner with module ' +
      'labels, SymPy bin/test, unbuildable repositories say why',
    () => {
      const table = loadEnvironmentTable();
      for (const [repo, entry] of Object.entries(table.repos)) {
        for (const version of Object.keys(entry.versions)) {
          const env = environmentFor(table, repo, version);
          if (!env.supported) throw new Error(`${repo}@${version}: ${env.reason}`);
          if (env.env !== null)
            expect(() => environmentDockerfile(parseEnvironmentSpec(env.env)), `${repo}@${version}`).not.toThrow();
        }
      }
      const django = environmentFor(table, 'django/django', '4.2');
      expect(django).toMatchObject({
        supported: true,
        parser: 'django',
        directives: 'django_labels',
        testCmd: expect.arrayContaining(['tests/runtests.py', '--settings=test_sqlite']),
      });
      // Django 4.x needs a newer asgiref than Python 3.9's Debian has: borrowed, unpacked, from bookworm.
      const dockerfile = environmentDockerfile(parseEnvironmentSpec((django as { env: unknown }).env));
      expect(dockerfile).toMatch(/apt-get download python3-asgiref\/bookworm && for f in \*\.deb; do dpkg -x/);
      expect(environmentFor(table, 'sympy/sympy', '1.12')).toMatchObject({
        parser: 'sympy',
        testCmd: ['python3', 'bin/test', '-C', '--verbose'],
      });
      expect(environmentFor(table, 'django/django', '1.9')).toMatchObject({
        supported: false,
        reason: expect.stringMatching(/3\.0 to 5\.0/),
      });
      expect(environmentFor(table, 'pylint-dev/pylint', '3.0')).toMatchObject({
        supported: false,
        reason: expect.stringMatching(/astroid/),
      });
      const bad = join(mkdtempSync(join(tmpdir(), 'fw-table-')), 'table.json');
      writeFileSync(
        bad,
        JSON.stringify({ default: { test_cmd: ['pytest'], parser: 'nose', pythonpath: ['.'] }, repos: {} }),
      );
      expect(() => loadEnvironmentTable(bad)).toThrow(/environment table .*table\.json is invalid: default\.parser: /);
      // Each entry's image recipe and helpers are checked when the table is read, not when an instance builds.
      writeFileSync(
        bad,
        JSON.stringify({
          default: table.default,
          repos: {
            'acme/calc': {
              versions: { '1.0': { env: { pip: ['not a requirement!'] } }, '2.0': { helpers: ['no-such-helper.py'] } },
            },
          },
        }),
      );
      expect(() => loadEnvironmentTable(bad)).toThrow(
        /is invalid: repos\.acme\/calc\.versions\.1\.0\.env: pip\.0: not a pip requirement.*; repos\.acme\/calc\.versions\.2\.0\.helpers: no helper no-such-helper\.py/,
      );
    },
  );
});

/** A SWE-bench-format instance built from a real git repository: base commit, gold patch, test patch. */
describe('fixwright eval on fixture instances (real sandbox)', () => {
  let dir: string;
  let reposDir: string;
  let dataset: string;
  const diffs: Record<string, string> = {};

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fw-eval-'));
    ({ reposDir, dataset } = makeSwebenchFixture(dir, diffs));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the official verdict for a right patch, a wrong one, a regression, a stale one, an empty one and a missing repository', async () => {
    const out = join(dir, 'out');
    const r = await runCli([
      'eval',
      '--dataset',
      dataset,
      '--predictions',
      join(dir, 'predictions.jsonl'),
      '--repos',
      reposDir,
      '--workers',
      '2',
      '--timeout',
      '120',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/dataset\.jsonl:7: skipped: not JSON/);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.resolved_ids).toEqual(['acme__calc-gold']);
    expect(report.unresolved_ids).toEqual(['acme__calc-regression', 'acme__calc-wrong']);
    expect(report.apply_error_ids).toEqual(['acme__calc-stale']);
    expect(report.empty_patch_ids).toEqual(['acme__calc-empty']);
    expect(report.env_error_ids).toEqual(['ghost__repo-1']);
    expect(report.instances['acme__calc-regression'].pass_to_pass.failure).toEqual(['tests/test_calc.py::test_mul']);
    expect(report.instances['acme__calc-wrong'].fail_to_pass.failure).toEqual(['tests/test_calc.py::test_add']);
    expect(report.instances['acme__calc-gold'].tests).toMatchObject({
      'tests/test_calc.py::test_add': 'PASSED',
      'tests/test_calc.py::test_mul': 'PASSED',
    });
    expect(report.per_repo['acme/calc']).toMatchObject({
      submitted: 5,
      resolved: 1,
      unresolved: 2,
      apply_error: 1,
      empty_patch: 1,
    });
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/Resolved 1 \/ 6/);
    expect(readFileSync(join(out, 'instances', 'acme__calc-gold', 'test.log'), 'utf8')).toMatch(
      /PASSED tests\/test_calc.py::test_add/,
    );

    // --predictions gold validates the harness itself; a rerun keeps finished verdicts.
    const gold = await runCli([
      'eval',
      '--dataset',
      dataset,
      '--predictions',
      'gold',
      '--repos',
      reposDir,
      '--instances',
      'acme__calc-gold,acme__calc-wrong',
      '--out',
      out,
    ]);
    expect(gold.code, gold.stderr).toBe(0);
    const again = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(again.resolved_ids).toEqual(['acme__calc-gold', 'acme__calc-wrong']);
  }, 240_000);

  it(
    "resets the test patch's files to base_commit first, as the official harness does: a model " +
      'patch that writes its own test_add does not get graded on it',
    async () => {
      const cheat =
        `${diffs.wrong}diff --git a/tests/test_calc.py b/tests/test_calc.py\n--- ` +
        `a/tests/test_calc.py\n+++ b/tests/test_calc.py\n@@ -3,3 +3,7 @@\n \n def test_mul():\n     ` +
        `assert mul(2, 3) == 6\n+\n+\n+def test_add():\n+    assert True\n`;
      const predictions = join(dir, 'cheat.jsonl');
      writeFileSync(
        predictions,
        `${JSON.stringify({ instance_id: 'acme__calc-wrong', model_name_or_path: 'cheat', model_patch: cheat })}` +
          `\n${JSON.stringify({ instance_id: 'typo-id', model_patch: 'x' })}\n`,
      );
      const out = join(dir, 'out-cheat');
      const r = await runCli([
        'eval',
        '--dataset',
        dataset,
        '--predictions',
        predictions,
        '--repos',
        reposDir,
        '--instances',
        'acme__calc-wrong',
        '--timeout',
        '120',
        '--out',
        out,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
      expect(r.stderr).toMatch(/1 prediction\(s\) name instances not in the dataset and are not evaluated: typo-id/);
      expect(report.unresolved_ids).toEqual(['acme__calc-wrong']);
      expect(report.instances['acme__calc-wrong'].fail_to_pass.failure).toEqual(['tests/test_calc.py::test_add']);
    },
  );

  it(
    'a log with no result is unresolved, as the official report counts it; a patch that prints ' +
      'PASSED lines and exits non-zero is graded only under swebench-4',
    async () => {
      const conftest = (body: string) =>
        `diff --git a/conftest.py b/conftest.py\nnew file mode 100644\n--- /dev/null\n+++ b/conftest.py\n@@ -0,0 +1,${body.split('\n').length} @@\n${body
          .split('\n')
          .map((l) => `+${l}`)
          .join('\n')}\n`;
      // After pytest's own summary (capture is over by then), lines that claim the failing test passed; later lines win in the parser.
      const spoof = conftest("import atexit\natexit.register(lambda: print('PASSED tests/test_calc.py::test_add'))");
      const silent = conftest('import os\nos._exit(3)');
      const predictions = join(dir, 'spoof.jsonl');
      writeFileSync(
        predictions,
        [
          ['acme__calc-wrong', `${diffs.wrong}${spoof}`],
          ['acme__calc-regression', silent],
        ]
          .map(([id, patch]) => JSON.stringify({ instance_id: id, model_name_or_path: 'spoof', model_patch: patch }))
          .join('\n') + '\n',
      );
      const out = join(dir, 'out-spoof');
      const args = [
        'eval',
        '--dataset',
        dataset,
        '--predictions',
        predictions,
        '--repos',
        reposDir,
        '--instances',
        'acme__calc-wrong,acme__calc-regression,acme__calc-gold',
        '--timeout',
        '120',
        '--out',
        out,
      ];
      const v5 = await runCli(args);
      expect(v5.code, v5.stderr).toBe(0);
      expect(v5.stderr).toMatch(/1 instance\(s\) have no prediction/);
      const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
      expect(report.grading.name).toBe('swebench-5');
      expect(report.unresolved_ids).toEqual(['acme__calc-regression', 'acme__calc-wrong']);
      expect(report.test_error_ids).toEqual([]);
      expect(report.instances['acme__calc-regression']).toMatchObject({
        exit_code: 3,
        reason: expect.stringMatching(/^no test results in the log \(exit 3\)/),
      });
      expect(report.instances['acme__calc-wrong'].reason).toMatch(
        /exited 1 while its log shows no failing test: under swebench-5/,
      );
      expect(report).toMatchObject({
        total_instances: 3,
        no_prediction_ids: ['acme__calc-gold'],
        official: {
          completed_ids: ['acme__calc-regression', 'acme__calc-wrong'],
          error_ids: [],
          incomplete_ids: ['acme__calc-gold'],
        },
      });
      // The older rule reads the printed lines as the run's (which is why 5.0 checks the exit status); a changed rule grades the kept runs again.
      const v4 = await runCli([...args, '--grading', 'swebench-4']);
      expect(v4.code, v4.stderr).toBe(0);
      expect(v4.stderr).toMatch(/grading again 2 kept run\(s\) from their recorded test outcomes/);
      const old = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
      expect(old.resolved_ids).toEqual(['acme__calc-wrong']);
      expect(old.grading.name).toBe('swebench-4');
    },
    180_000,
  );

  it(
    '--env-table: a table whose entry pins a package with pip builds it from FIXWRIGHT_PIP_WHEELS ' +
      '(the stand-in for a package index); without a source the build fails as an env error; the report names the table',
    async () => {
      const wheels = buildWheel(mkdtempSync(join(tmpdir(), 'fw-pins-')), 'fwpinned', "__version__ = '2.5'\n", '2.5');
      const table = join(dir, 'pinned.json');
      const shipped = loadEnvironmentTable();
      writeFileSync(
        table,
        JSON.stringify({
          default: shipped.default,
          repos: {
            'acme/calc': {
              versions: {
                // The pinned package must be the one the tests see: conftest.py refuses any other.
                '1.0': {
                  env: { pip: ['fwpinned==2.5'], allow_source_builds: true },
                  files: { 'conftest.py': "import fwpinned\nassert fwpinned.__version__ == '2.5'\n" },
                  notes: ['pinned for the test'],
                },
              },
            },
          },
        }),
      );
      const args = [
        'eval',
        '--dataset',
        dataset,
        '--predictions',
        'gold',
        '--repos',
        reposDir,
        '--instances',
        'acme__calc-gold',
        '--env-table',
        table,
        '--timeout',
        '120',
      ];
      const pinned = await runCli([...args, '--out', join(dir, 'out-pinned')], { FIXWRIGHT_PIP_WHEELS: wheels });
      expect(pinned.code, pinned.stderr).toBe(0);
      const report = JSON.parse(readFileSync(join(dir, 'out-pinned', 'report.json'), 'utf8'));
      expect(report.resolved_ids).toEqual(['acme__calc-gold']);
      expect(report.environment_table.path).toBe(table);
      const bare = await runCli([...args, '--out', join(dir, 'out-unpinned')], { FIXWRIGHT_PIP_WHEELS: '' });
      expect(bare.code, bare.stderr).toBe(0);
      expect(bare.stderr).toMatch(
        /warning: 1 environment\(s\) of .*pinned\.json install pinned packages with pip, and no package index or wheel directory is set/,
      );
      const failed = JSON.parse(readFileSync(join(dir, 'out-unpinned', 'report.json'), 'utf8'));
      expect(failed.env_error_ids).toEqual(['acme__calc-gold']);
      expect(failed.instances['acme__calc-gold'].reason).toMatch(/fwpinned==2\.5/);
      writeFileSync(join(dir, 'bad-table.json'), '{"default": {}}');
      const bad = await runCli([...args, '--env-table', join(dir, 'bad-table.json'), '--out', join(dir, 'out-bad')]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/environment table .*bad-table\.json is invalid: default\.test_cmd/);
    },
    300_000,
  );

  it('without --repos reads the clone cache in FIXWRIGHT_DATA_DIR/repos, and clones nothing when it holds the base commits', async () => {
    const dataDir = join(dir, 'data');
    mkdirSync(join(dataDir, 'repos'), { recursive: true });
    symlinkSync(join(reposDir, 'acme'), join(dataDir, 'repos', 'acme'));
    const r = await runCli(
      [
        'eval',
        '--dataset',
        dataset,
        '--predictions',
        'gold',
        '--instances',
        'acme__calc-gold',
        '--out',
        join(dir, 'out-cache'),
      ],
      { FIXWRIGHT_DATA_DIR: dataDir },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/cloning/);
    expect(r.stdout).toMatch(/resolved 1\/1/);
  });

  it('reads the rows from parquet in a Hugging Face cache directory (split test)', async () => {
    const rows = readFileSync(dataset, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{"repo"'))
      .map((l) => JSON.parse(l) as Record<string, string>)
      .slice(0, 2);
    const data = join(dir, 'hub', 'datasets--acme--calc_bench', 'snapshots', 'abc123', 'data');
    mkdirSync(data, { recursive: true });
    const columns = Object.keys(rows[0]!);
    parquetWriteFile({
      filename: join(data, 'test-00000-of-00001.parquet'),
      columnData: columns.map((name) => ({ name, data: rows.map((r) => String(r[name])), type: 'STRING' as const })),
    });
    parquetWriteFile({
      filename: join(data, 'dev-00000-of-00001.parquet'),
      columnData: columns.map((name) => ({
        name,
        data: rows.slice(0, 1).map((r) => String(r[name])),
        type: 'STRING' as const,
      })),
    });
    const out = join(dir, 'out-parquet');
    const r = await runCli([
      'eval',
      '--dataset',
      join(dir, 'hub'),
      '--split',
      'test',
      '--predictions',
      'gold',
      '--repos',
      reposDir,
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.submitted_ids).toEqual(['acme__calc-gold', 'acme__calc-wrong']);
    expect(report.resolved_ids).toEqual(['acme__calc-gold', 'acme__calc-wrong']);
  }, 120_000);

  it('reads the rows from Arrow files in a datasets library cache directory (split dev)', async () => {
    const rows = readFileSync(dataset, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{"repo"'))
      .map((l) => JSON.parse(l) as Record<string, string>)
      .slice(0, 2);
    const data = join(dir, 'datasets', 'acme___calc_bench', 'default', '0.0.0', 'deadbeef');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'calc_bench-test.arrow'), tableToIPC(tableFromJSON(rows), 'stream'));
    writeFileSync(join(data, 'calc_bench-dev.arrow'), tableToIPC(tableFromJSON(rows.slice(0, 1)), 'stream'));
    const out = join(dir, 'out-arrow');
    const r = await runCli([
      'eval',
      '--dataset',
      join(dir, 'datasets'),
      '--split',
      'dev',
      '--predictions',
      'gold',
      '--repos',
      reposDir,
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).resolved_ids).toEqual(['acme__calc-gold']);
  }, 120_000);

  it('refuses bad flags and unknown instances with one clear line', async () => {
    const r = await runCli([
      'eval',
      '--dataset',
      dataset,
      '--predictions',
      'gold',
      '--repos',
      reposDir,
      '--instances',
      'nope-1',
      '--out',
      join(dir, 'x'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--instances names ids not in the dataset: nope-1/);
    const w = await runCli([
      'eval',
      '--dataset',
      dataset,
      '--predictions',
      'gold',
      '--repos',
      join(dir, 'missing'),
      '--out',
      join(dir, 'x'),
    ]);
    expect(w.code).toBe(2);
    expect(w.stderr).toMatch(/--repos .* does not exist/);
  });
});
