import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadEnvironmentTable } from '../../../benchmarks/eval/environments.js';
import type { InstanceResult } from '../../../benchmarks/eval/evaluate-instance.js';
import { gradingRule } from '../../../benchmarks/eval/grading.js';
import type { EvalRow, Prediction } from '../../../benchmarks/eval/instances.js';
import { runEvaluation } from '../../../benchmarks/eval/run-eval.js';

/**
 * Resuming an evaluation and what report.json counts, with the sandbox left out: an evaluator that
 * records what it was asked stands in for it (the real one is covered in eval.test.ts).
 */
const row = (id: string, over: Partial<EvalRow> = {}): EvalRow =>
  ({
    repo: 'acme/calc',
    instance_id: id,
    base_commit: 'a'.repeat(40),
    patch: '',
    test_patch: 'diff --git a/tests/test_x.py b/tests/test_x.py\n',
    problem_statement: 'p',
    version: '1.0',
    FAIL_TO_PASS: ['tests/test_x.py::test_a'],
    PASS_TO_PASS: [],
    ...over,
  }) as EvalRow;

const verdict = (r: EvalRow, status: InstanceResult['status']): InstanceResult => ({
  instance_id: r.instance_id,
  repo: r.repo,
  version: r.version ?? null,
  status,
  reason: status === 'resolved' ? null : status,
  environment: `${r.repo}@${r.version}`,
  tests: {},
  fail_to_pass: null,
  pass_to_pass: null,
  log: `log of ${r.instance_id}`,
  duration_ms: 1,
});

/** A run that ended with its FAIL_TO_PASS test skipped: unresolved under swebench-5, resolved under swebench-4. */
const skipped = (r: EvalRow): InstanceResult => ({
  ...verdict(r, 'unresolved'),
  reason: 'failing: FAIL_TO_PASS tests/test_x.py::test_a',
  tests: { 'tests/test_x.py::test_a': 'SKIPPED', 'tests/test_x.py::test_other': 'PASSED' },
  exit_code: 0,
  fail_to_pass: { success: [], failure: ['tests/test_x.py::test_a'] },
  pass_to_pass: { success: [], failure: [] },
});

describe('eval resume and report counts', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  async function run(
    rows: EvalRow[],
    predictions: Map<string, Prediction>,
    out: string,
    options: {
      table?: ReturnType<typeof loadEnvironmentTable>;
      grading?: 'swebench-4' | 'swebench-5';
      status?: (r: EvalRow) => InstanceResult['status'];
      result?: (r: EvalRow) => InstanceResult | undefined;
    } = {},
  ) {
    const asked: string[] = [];
    const lines: string[] = [];
    const report = await runEvaluation(
      rows,
      predictions,
      { table: options.table ?? loadEnvironmentTable(), grading: gradingRule(options.grading) },
      {
        out,
        workers: 2,
        dataset: 'rows.jsonl',
        predictions: 'p.jsonl',
        onPlan: (l) => lines.push(...l),
        evaluate: async (r) => {
          asked.push(r.instance_id);
          return options.result?.(r) ?? verdict(r, options.status?.(r) ?? 'resolved');
        },
      },
    );
    return { asked: asked.sort(), lines, report };
  }

  it('keeps a run only while its patch, tests and environment are unchanged (not for a changed note), and says why it evaluates the others again', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fw-eval-resume-'));
    dirs.push(out);
    const rows = [row('a-1'), row('a-2'), row('a-3'), row('a-4'), row('a-5')];
    const predictions = new Map(
      rows.map((r) => [
        r.instance_id,
        { instance_id: r.instance_id, model_name_or_path: 'm', model_patch: `patch ${r.instance_id}` },
      ]),
    );
    const first = await run(rows, predictions, out, {
      status: (r) => (r.instance_id === 'a-5' ? 'env_error' : 'resolved'),
    });
    expect(first.asked).toEqual(['a-1', 'a-2', 'a-3', 'a-4', 'a-5']);
    expect(first.lines).toEqual([]);

    // Nothing changed: every verdict is kept but the environment error.
    const same = await run(rows, predictions, out);
    expect(same.asked).toEqual(['a-5']);
    expect(same.lines.join('')).toMatch(
      /keeping 4 run\(s\) of 5; 1 to evaluate[\s\S]*again 1 instance\(s\) that ended in an environment error/,
    );

    // Another test patch (a-1), another test list (a-2), another patch (a-3).
    const changed = [
      row('a-1', { test_patch: `${rows[0]!.test_patch}+x\n` }),
      row('a-2', { FAIL_TO_PASS: ['tests/test_x.py::test_b'] }),
      rows[2]!,
      rows[3]!,
      rows[4]!,
    ];
    const newPatch = new Map(predictions).set('a-3', {
      instance_id: 'a-3',
      model_name_or_path: 'm',
      model_patch: 'another',
    });
    const again = await run(changed, newPatch, out);
    expect(again.asked).toEqual(['a-1', 'a-2', 'a-3']);
    expect(again.lines.join('')).toMatch(/again 2 instance\(s\) that have another test patch or test list/);
    expect(again.lines.join('')).toMatch(/again 1 instance\(s\) that have another patch now/);

    // Another environment for the row's repository re-evaluates; a changed note does not.
    const table = loadEnvironmentTable();
    const other = { ...table, default: { ...table.default, test_cmd: ['python3', '-m', 'pytest', '-rA', '-x'] } };
    const envRun = await run(changed, newPatch, out, { table: other });
    expect(envRun.asked).toHaveLength(5);
    expect(envRun.lines.join('')).toMatch(/again 5 instance\(s\) that have another environment in the table/);
    const noted = { ...other, default: { ...other.default, notes: ['a note for readers'] } };
    expect((await run(changed, newPatch, out, { table: noted })).asked).toEqual([]);
    // A result written before the inputs were recorded is evaluated again.
    const file = join(out, 'instances', 'a-4', 'result.json');
    const { inputs: _inputs, ...old } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify(old));
    expect((await run(changed, newPatch, out, { table: noted })).asked).toEqual(['a-4']);
  });

  it('a run past its time is evaluated again; another grading rule grades kept runs again from their recorded outcomes, without running them', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fw-eval-regrade-'));
    dirs.push(out);
    const rows = [row('s-1'), row('s-2'), row('s-3')];
    const predictions = new Map(
      rows.map((r) => [r.instance_id, { instance_id: r.instance_id, model_name_or_path: 'm', model_patch: 'p' }]),
    );
    const outcome = (r: EvalRow) =>
      r.instance_id === 's-1'
        ? skipped(r)
        : r.instance_id === 's-2'
          ? verdict(r, 'test_error')
          : verdict(r, 'apply_error');
    const v5 = await run(rows, predictions, out, { result: outcome });
    expect(v5.report.unresolved_ids).toEqual(['s-1']);
    const v4 = await run(rows, predictions, out, { grading: 'swebench-4', result: outcome });
    // Only the run past its time runs again (the official harness wrote no report for it).
    expect(v4.asked).toEqual(['s-2']);
    expect(v4.lines.join('')).toMatch(
      /grading again 2 kept run\(s\) from their recorded test outcomes[\s\S]*again 1 instance\(s\) that ran past their time/,
    );
    expect(v4.report.resolved_ids).toEqual(['s-1']);
    expect(v4.report.apply_error_ids).toEqual(['s-3']);
    expect(JSON.parse(readFileSync(join(out, 'instances', 's-1', 'result.json'), 'utf8'))).toMatchObject({
      status: 'resolved',
      reason: null,
      fail_to_pass: { success: [], failure: [] },
      inputs: { grading: 'swebench-4' },
    });
    // Back under swebench-5: graded again, unresolved again, still nothing run but the timeout.
    const back = await run(rows, predictions, out, { result: outcome });
    expect(back.asked).toEqual(['s-2']);
    expect(back.report.unresolved_ids).toEqual(['s-1']);
    expect(back.report.instances['s-1']!.fail_to_pass).toEqual({ success: [], failure: ['tests/test_x.py::test_a'] });
  });

  it('report.json names its grading rule and table, counts the selected rows without a prediction, and counts as the official report does', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fw-eval-report-'));
    dirs.push(out);
    const rows = ['ok', 'no', 'apply', 'env', 'nostart', 'slow', 'empty', 'unpredicted'].map((id) => row(id));
    const status: Record<string, InstanceResult['status']> = {
      ok: 'resolved',
      no: 'unresolved',
      apply: 'apply_error',
      env: 'env_error',
      nostart: 'env_error',
      slow: 'test_error',
      empty: 'empty_patch',
    };
    const predictions = new Map(
      rows
        .filter((r) => r.instance_id !== 'unpredicted')
        .map((r) => [r.instance_id, { instance_id: r.instance_id, model_name_or_path: 'm', model_patch: 'p' }]),
    );
    // A test command that could not start: an environment error here, a graded (empty) log to the official harness.
    const { report } = await run(rows, predictions, out, {
      grading: 'swebench-4',
      status: (r) => status[r.instance_id]!,
      result: (r) =>
        r.instance_id === 'nostart' ? { ...verdict(r, 'env_error'), official_completed: true } : undefined,
    });
    expect(report.grading).toMatchObject({ name: 'swebench-4', skipped_fail_to_pass: 'neither' });
    expect(report.environment_table.path).toMatch(/benchmarks\/eval\/environments\.json$/);
    expect(report.environment_table.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(report.total_instances).toBe(8);
    expect(report.no_prediction_ids).toEqual(['unpredicted']);
    expect(report.submitted_ids).toHaveLength(7);
    expect(report.env_error_ids).toEqual(['env', 'nostart']);
    expect(report.official).toEqual({
      schema_version: 2,
      total_instances: 8,
      submitted_instances: 7,
      completed_instances: 3,
      resolved_instances: 1,
      unresolved_instances: 2,
      empty_patch_instances: 1,
      error_instances: 3,
      completed_ids: ['no', 'nostart', 'ok'],
      incomplete_ids: ['unpredicted'],
      error_ids: ['apply', 'env', 'slow'],
    });
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/Graded by the swebench-4 rule \(SWE-bench 3\.x to 4\.1\.0\)/);
    expect(md).toMatch(/8 instance\(s\) selected, 7 with a prediction \(1 without one, not evaluated\)/);
    expect(md).toMatch(/completed 3, resolved 1, unresolved 2, empty patch 1, errors 3/);
  });
});
