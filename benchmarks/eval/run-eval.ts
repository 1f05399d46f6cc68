import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { instanceFileName } from '../../core/instance-name.js';
import { environmentFor, type loadEnvironmentTable } from './environments.js';
import { evaluateInstance, type EvalContext, type InstanceResult } from './evaluate-instance.js';
import { gradingRule, type GradingRule } from './grading.js';
import type { EvalRow, Prediction } from './instances.js';
import { buildReport, reportMarkdown, type BenchFigures, type EvalReport } from './report.js';

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

const sha256 = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

/**
 * What a verdict was reached from, besides the patch: the row's tests, the environment the table
 * gave it, the grading rule. A kept verdict is reused only when all three are the same now.
 */
export interface VerdictInputs {
  /** Hash of base_commit, test_patch, FAIL_TO_PASS and PASS_TO_PASS. */
  tests: string;
  /** Hash of the environment entry (image recipe, test command, parser, files…). */
  environment: string;
  grading: GradingRule['name'];
}

/** The inputs of a row's verdict under this table and rule. */
export function verdictInputs(row: EvalRow, table: ReturnType<typeof loadEnvironmentTable>, grading: GradingRule): VerdictInputs {
  return {
    tests: sha256([row.base_commit, row.test_patch, row.FAIL_TO_PASS, row.PASS_TO_PASS]),
    environment: sha256(environmentFor(table, row.repo, row.version)),
    grading: grading.name,
  };
}

/** Why a kept result is evaluated again (none: it is kept). */
export type RerunReason = 'new' | 'env_error' | 'patch' | 'tests' | 'environment' | 'grading';

type KeptResult = Omit<InstanceResult, 'log'> & { model_patch?: string; inputs?: VerdictInputs };

/**
 * Whether a finished result in `file` stands for this prediction now: the same patch, tests,
 * environment and grading rule, and not an environment or sandbox failure (those are retried).
 * A result from before the inputs were recorded is evaluated again: what it was graded on is unknown.
 */
export function keptVerdict(file: string, prediction: Prediction, inputs: VerdictInputs): { kept: KeptResult } | { rerun: RerunReason } {
  if (!existsSync(file)) return { rerun: 'new' };
  let cached: KeptResult;
  try {
    cached = JSON.parse(readFileSync(file, 'utf8')) as KeptResult;
  } catch {
    return { rerun: 'new' };
  }
  if (cached.status === 'env_error') return { rerun: 'env_error' };
  if (cached.model_patch !== prediction.model_patch) return { rerun: 'patch' };
  if (cached.inputs?.tests !== inputs.tests) return { rerun: 'tests' };
  if (cached.inputs.environment !== inputs.environment) return { rerun: 'environment' };
  if (cached.inputs.grading !== inputs.grading) return { rerun: 'grading' };
  return { kept: cached };
}

const REASON_TEXT: Record<Exclude<RerunReason, 'new'>, string> = {
  env_error: 'ended in an environment error',
  patch: 'have another patch now',
  tests: 'have another test patch or test list (or were kept before these were recorded)',
  environment: 'have another environment in the table',
  grading: 'were graded by another rule',
};

/**
 * What a rerun into `out` says before it starts (nothing for a fresh run): how many verdicts it
 * keeps, and why it evaluates the others again.
 */
export function evalResumeLines(plan: ReadonlyMap<string, RerunReason | 'kept'>, out: string): string[] {
  const counts = new Map<RerunReason | 'kept', number>();
  for (const why of plan.values()) counts.set(why, (counts.get(why) ?? 0) + 1);
  const kept = counts.get('kept') ?? 0;
  const again = [...counts].filter(([why]) => why !== 'kept' && why !== 'new') as Array<[Exclude<RerunReason, 'new'>, number]>;
  if (kept === 0 && again.length === 0) return [];
  const lines = [`fixwright: resuming ${out}: keeping ${kept} verdict(s) of ${plan.size}; ${plan.size - kept} to evaluate\n`];
  for (const [why, n] of again) lines.push(`fixwright: evaluating again ${n} instance(s) that ${REASON_TEXT[why]}\n`);
  return lines;
}

/** What runEvaluation needs to know about the run as a whole. */
export interface EvaluationOptions {
  out: string;
  workers: number;
  dataset: string;
  predictions: string;
  bench?: BenchFigures;
  onDone?: (result: InstanceResult, fromCache: boolean) => void;
  /** Told once, before any instance runs, what a rerun keeps and why it evaluates the rest again. */
  onPlan?: (lines: string[]) => void;
  /** Where an instance is evaluated: in this process (the default) or by a worker elsewhere (the run's queue). */
  evaluate?: (row: EvalRow, prediction: Prediction) => Promise<InstanceResult>;
}

/**
 * Evaluates every row that has a prediction, `workers` at a time, keeping each instance's result
 * and log under `out/instances/<id>/` as it finishes; a rerun with the same `out` keeps a verdict
 * whose patch, tests, environment and grading rule are unchanged (environment errors are tried
 * again). Writes report.json and report.md at the end; `rows` are all the selected rows, with or
 * without a prediction (the report counts those without one).
 */
export async function runEvaluation(
  rows: readonly EvalRow[],
  predictions: ReadonlyMap<string, Prediction>,
  context: Pick<EvalContext, 'table'> & Partial<EvalContext>,
  options: EvaluationOptions,
): Promise<EvalReport> {
  // The rule of the harness's current release unless the caller names one.
  const ctx = { ...context, grading: context.grading ?? gradingRule() };
  const evaluate = options.evaluate ?? ((row: EvalRow, prediction: Prediction) => evaluateInstance(row, prediction, ctx as EvalContext));
  mkdirSync(join(options.out, 'instances'), { recursive: true });
  const submitted = rows.filter((row) => predictions.has(row.instance_id));
  const plans = submitted.map((row) => {
    const dir = join(options.out, 'instances', instanceFileName(row.instance_id));
    const prediction = predictions.get(row.instance_id)!;
    const inputs = verdictInputs(row, ctx.table, ctx.grading);
    return { row, dir, prediction, inputs, verdict: keptVerdict(join(dir, 'result.json'), prediction, inputs) };
  });
  options.onPlan?.(evalResumeLines(new Map(plans.map((p) => [p.row.instance_id, 'kept' in p.verdict ? 'kept' : p.verdict.rerun])), options.out));
  const limit = pLimit(options.workers);
  const results = await Promise.all(
    plans.map(({ row, dir, prediction, inputs, verdict }) =>
      limit(async (): Promise<InstanceResult> => {
        if ('kept' in verdict) {
          const { model_patch: _patch, inputs: _inputs, ...kept } = verdict.kept;
          const result = { ...kept, log: '' };
          options.onDone?.(result, true);
          return result;
        }
        const result = await evaluate(row, prediction);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'test.log'), result.log);
        writeFileSync(join(dir, 'patch.diff'), prediction.model_patch);
        const { log: _log, ...kept } = result;
        writeAtomic(join(dir, 'result.json'), `${JSON.stringify({ ...kept, model_patch: prediction.model_patch, inputs }, null, 1)}\n`);
        options.onDone?.(result, false);
        return result;
      }),
    ),
  );
  const report = buildReport(results, {
    dataset: options.dataset,
    predictions: options.predictions,
    grading: ctx.grading,
    environmentTable: ctx.table.source,
    selectedIds: rows.map((r) => r.instance_id),
    bench: options.bench,
  });
  writeAtomic(join(options.out, 'report.json'), `${JSON.stringify(report, null, 1)}\n`);
  writeAtomic(join(options.out, 'report.md'), reportMarkdown(report));
  return report;
}
