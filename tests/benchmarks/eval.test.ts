import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grade, testDirectives } from '../../benchmarks/eval/grading.js';
import { parsePytestLog, parsePytestOptionsLog, parseSeabornLog } from '../../benchmarks/eval/log-parsers.js';
import { runCli } from '../helpers/cli.js';
import { makeSwebenchFixture } from '../helpers/swebench-fixture.js';

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
    expect(parsePytestOptionsLog('PASSED t.py::test_x[/tmp/a/b.txt]\nPASSED t.py::test_y[//net/x]')).toEqual({ 't.py::test_x[/b.txt]': 'PASSED', 't.py::test_y[//net/x]': 'PASSED' });
    expect(parseSeabornLog('t.py::test_a PASSED [ 10%]\nFAILED t.py::test_b - x\nXFAIL t.py::test_c')).toEqual({ 't.py::test_a': 'PASSED', 't.py::test_b': 'FAILED' });
  });

  it('resolves only when every FAIL_TO_PASS and PASS_TO_PASS test passes; missing counts as failed, skipped as neither', () => {
    const map = { a: 'PASSED', b: 'XFAIL', c: 'SKIPPED', d: 'FAILED' } as const;
    expect(grade(map, ['a', 'b'], ['c']).resolved).toBe(true);
    expect(grade(map, ['a'], ['d']).resolved).toBe(false);
    expect(grade(map, ['a', 'missing'], []).fail_to_pass.failure).toEqual(['missing']);
  });

  it('runs the test files the test patch touches, not its data files', () => {
    const patch = 'diff --git a/tests/test_x.py b/tests/test_x.py\n--- a/x\n+++ b/x\ndiff --git a/tests/data.toml b/tests/data.toml\ndiff --git a/tests/test_y.py b/tests/test_y.py\n';
    expect(testDirectives(patch)).toEqual(['tests/test_x.py', 'tests/test_y.py']);
  });
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
    const r = await runCli(['eval', '--dataset', dataset, '--predictions', join(dir, 'predictions.jsonl'), '--repos', reposDir, '--workers', '2', '--timeout', '120', '--out', out]);
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
    expect(report.instances['acme__calc-gold'].tests).toMatchObject({ 'tests/test_calc.py::test_add': 'PASSED', 'tests/test_calc.py::test_mul': 'PASSED' });
    expect(report.per_repo['acme/calc']).toMatchObject({ submitted: 5, resolved: 1, unresolved: 2, apply_error: 1, empty_patch: 1 });
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/Resolved 1 \/ 6/);
    expect(readFileSync(join(out, 'instances', 'acme__calc-gold', 'test.log'), 'utf8')).toMatch(/PASSED tests\/test_calc.py::test_add/);

    // --predictions gold validates the harness itself; a rerun keeps finished verdicts.
    const gold = await runCli(['eval', '--dataset', dataset, '--predictions', 'gold', '--repos', reposDir, '--instances', 'acme__calc-gold,acme__calc-wrong', '--out', out]);
    expect(gold.code, gold.stderr).toBe(0);
    const again = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(again.resolved_ids).toEqual(['acme__calc-gold', 'acme__calc-wrong']);
  }, 240_000);

  it('reads the rows from parquet in a Hugging Face cache directory (split test)', async () => {
    const rows = readFileSync(dataset, 'utf8').split('\n').filter((l) => l.startsWith('{"repo"')).map((l) => JSON.parse(l) as Record<string, string>).slice(0, 2);
    const data = join(dir, 'hub', 'datasets--acme--calc_bench', 'snapshots', 'abc123', 'data');
    mkdirSync(data, { recursive: true });
    const columns = Object.keys(rows[0]!);
    parquetWriteFile({ filename: join(data, 'test-00000-of-00001.parquet'), columnData: columns.map((name) => ({ name, data: rows.map((r) => String(r[name])), type: 'STRING' as const })) });
    parquetWriteFile({ filename: join(data, 'dev-00000-of-00001.parquet'), columnData: columns.map((name) => ({ name, data: rows.slice(0, 1).map((r) => String(r[name])), type: 'STRING' as const })) });
    const out = join(dir, 'out-parquet');
    const r = await runCli(['eval', '--dataset', join(dir, 'hub'), '--split', 'test', '--predictions', 'gold', '--repos', reposDir, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.submitted_ids).toEqual(['acme__calc-gold', 'acme__calc-wrong']);
    expect(report.resolved_ids).toEqual(['acme__calc-gold', 'acme__calc-wrong']);
  }, 120_000);

  it('refuses bad flags and unknown instances with one clear line', async () => {
    const r = await runCli(['eval', '--dataset', dataset, '--predictions', 'gold', '--repos', reposDir, '--instances', 'nope-1', '--out', join(dir, 'x')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--instances names ids not in the dataset: nope-1/);
    const w = await runCli(['eval', '--dataset', dataset, '--predictions', 'gold', '--repos', join(dir, 'missing'), '--out', join(dir, 'x')]);
    expect(w.code).toBe(2);
    expect(w.stderr).toMatch(/--repos .* does not exist/);
  });
});
