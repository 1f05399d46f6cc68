import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { instanceFileName } from '../../core/index.js';
import { environmentFor, type loadEnvironmentTable } from './environments.js';
import { evaluateInstance, verdictOf, type EvalContext, type InstanceResult } from './evaluate-instance.js';
import { gradingRule, type GradingRule } from './grading.js';
import type { EvalRow, Prediction } from './instances.js';
import { buildReport, reportMarkdown, type BenchFigures, type EvalReport } from './report.js';

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

const sha256 = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

/**
 * The version of fixwright's own reading of logs (parsers) and grading: raise it when either
 * changes what a log yields, so that kept verdicts are graded again.
 */
export const GRADER_VERSION = 2;

/**
 * What a verdict was reached from, besides the patch: the row's tests, the environment the table
 * gave it, the grading rule. A kept verdict is reused only when all three are the same now.
 */
export interface VerdictInputs {
  /** Hash of base_commit, test_patch, FAIL_TO_PASS and PASS_TO_PASS. */
  tests: string;
  /** Hash of the environment entry (image recipe, test command, parser, files…; not its notes). */
  environment: string;
  grading: GradingRule['name'];
  /** Hash of the rule's terms and GRADER_VERSION: a kept run is graded again when either changed. */
  grader: string;
}

/** The inputs of a row's verdict under this table and rule. */
export function verdictInputs(
  row: EvalRow,
  table: ReturnType<typeof loadEnvironmentTable>,
  grading: GradingRule,
): VerdictInputs {
  const env = environmentFor(table, row.repo, row.version);
  // Notes are for readers: a changed note changes no run.
  const runs = env.supported ? { ...env, notes: undefined } : env;
  return {
    tests: sha256([row.base_commit, row.test_patch, row.FAIL_TO_PASS, row.PASS_TO_PASS]),
    environment: sha256(runs),
    grading: grading.name,
    grader: sha256([grading, GRADER_VERSION]),
  };
}

/** Why a kept result is evaluated again (none: it is kept). */
export type RerunReason = 'new' | 'env_error' | 'test_error' | 'patch' | 'tests' | 'environment';

type KeptResult = Omit<InstanceResult, 'log'> & { model_patch?: string; inputs?: VerdictInputs };

/**
 * Whether a finished result in `file` stands for this prediction now: the same patch, tests and
 * environment, and not an environment failure or a run past its time (the official harness writes
 * no report for those, so a resumed run evaluates them again). A run graded under another rule (or
 * by another version of the grader) is kept and graded again from its recorded log (`regrade`). A
 * result from before the inputs were recorded is evaluated again: what it rests on is unknown.
 */
export function keptVerdict(
  file: string,
  prediction: Prediction,
  inputs: VerdictInputs,
): { kept: KeptResult; regrade: boolean } | { rerun: RerunReason } {
  if (!existsSync(file)) return { rerun: 'new' };
  let cached: KeptResult;
  try {
    cached = JSON.parse(readFileSync(file, 'utf8')) as KeptResult;
  } catch {
    return { rerun: 'new' };
  }
  if (cached.status === 'env_error') return { rerun: 'env_error' };
  if (cached.status === 'test_error') return { rerun: 'test_error' };
  if (cached.model_patch !== prediction.model_patch) return { rerun: 'patch' };
  if (cached.inputs?.tests !== inputs.tests) return { rerun: 'tests' };
  if (cached.inputs.environment !== inputs.environment) return { rerun: 'environment' };
  return { kept: cached, regrade: cached.inputs.grader !== inputs.grader };
}

/**
 * A kept result graded under the rule of `inputs`: a run that ended is graded again from its
 * recorded test outcomes and exit status (without running it); an empty patch or one that did not
 * apply depends on no rule.
 */
function regraded(
  kept: KeptResult,
  row: EvalRow,
  needsNetwork: readonly string[],
  grading: GradingRule,
): Omit<InstanceResult, 'log'> {
  const { model_patch: _patch, inputs: _inputs, ...result } = kept;
  if ((result.status !== 'resolved' && result.status !== 'unresolved') || result.exit_code === undefined) return result;
  // A run whose test patch did not apply, or whose log held nothing, is unresolved under every rule.
  if (Object.keys(result.tests).length === 0) return result;
  const { offline_limited: _offline, ...rest } = result;
  return { ...rest, ...verdictOf(result.tests, result.exit_code, '', row, needsNetwork, grading) };
}

const REASON_TEXT: Record<Exclude<RerunReason, 'new'>, string> = {
  env_error: 'ended in an environment error',
  test_error: 'ran past their time',
  patch: 'have another patch now',
  tests: 'have another test patch or test list (or were kept before these were recorded)',
  environment: 'have another environment in the table',
};

/**
 * What a rerun into `out` says before it starts (nothing for a fresh run): how many verdicts it
 * keeps, and why it evaluates the others again.
 */
export function evalResumeLines(plan: ReadonlyMap<string, RerunReason | 'kept' | 'regrade'>, out: string): string[] {
  const counts = new Map<RerunReason | 'kept' | 'regrade', number>();
  for (const why of plan.values()) counts.set(why, (counts.get(why) ?? 0) + 1);
  const kept = (counts.get('kept') ?? 0) + (counts.get('regrade') ?? 0);
  const again = [...counts].filter(([why]) => why !== 'kept' && why !== 'regrade' && why !== 'new') as Array<
    [Exclude<RerunReason, 'new'>, number]
  >;
  if (kept === 0 && again.length === 0) return [];
  const lines = [
    `fixwright: resuming ${out}: keeping ${kept} run(s) of ${plan.size}; ${plan.size - kept} to evaluate\n`,
  ];
  const regrade = counts.get('regrade') ?? 0;
  if (regrade > 0)
    lines.push(
      `fixwright: grading again ${regrade} kept run(s) from their recorded test outcomes (another grading rule or grader version), without running them\n`,
    );
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
  const evaluate =
    options.evaluate ??
    ((row: EvalRow, prediction: Prediction) => evaluateInstance(row, prediction, ctx as EvalContext));
  mkdirSync(join(options.out, 'instances'), { recursive: true });
  const submitted = rows.filter((row) => predictions.has(row.instance_id));
  const plans = submitted.map((row) => {
    const dir = join(options.out, 'instances', instanceFileName(row.instance_id));
    const prediction = predictions.get(row.instance_id)!;
    const inputs = verdictInputs(row, ctx.table, ctx.grading);
    return { row, dir, prediction, inputs, verdict: keptVerdict(join(dir, 'result.json'), prediction, inputs) };
  });
  options.onPlan?.(
    evalResumeLines(
      new Map(
        plans.map((p) => [
          p.row.instance_id,
          'kept' in p.verdict ? (p.verdict.regrade ? 'regrade' : 'kept') : p.verdict.rerun,
        ]),
      ),
      options.out,
    ),
  );
  const limit = pLimit(options.workers);
  const results = await Promise.all(
    plans.map(({ row, dir, prediction, inputs, verdict }) =>
      limit(async (): Promise<InstanceResult> => {
        if ('kept' in verdict) {
          const { model_patch: _patch, inputs: _inputs, ...kept } = verdict.kept;
          let result: InstanceResult = { ...kept, log: '' };
          if (verdict.regrade) {
            const env = environmentFor(ctx.table, row.repo, row.version);
            const again = regraded(verdict.kept, row, env.supported ? env.needsNetwork : [], ctx.grading);
            writeAtomic(
              join(dir, 'result.json'),
              `${JSON.stringify({ ...again, model_patch: prediction.model_patch, inputs }, null, 1)}\n`,
            );
            result = { ...again, log: '' };
          }
          options.onDone?.(result, true);
          return result;
        }
        const result = await evaluate(row, prediction);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'test.log'), result.log);
        writeFileSync(join(dir, 'patch.diff'), prediction.model_patch);
        const { log: _log, ...kept } = result;
        writeAtomic(
          join(dir, 'result.json'),
          `${JSON.stringify({ ...kept, model_patch: prediction.model_patch, inputs }, null, 1)}\n`,
        );
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
