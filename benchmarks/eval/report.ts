import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { EvalStatus, InstanceResult } from './evaluate-instance.js';
import type { GradingRule } from './grading.js';

/** report.json (ARCHITECTURE.md, "Harness report"). */
export interface EvalReport {
  created: string;
  dataset: string;
  predictions: string;
  /** The official release's rule the verdicts follow (skipped tests, cut ids, exit status). */
  grading: GradingRule;
  /** The environment table the instances ran in, and its content's hash (a changed table re-runs what it changes). */
  environment_table: { path: string; sha256: string };
  /** Rows selected from the dataset (after --instances, --only-repos, --limit), with or without a prediction. */
  total_instances: number;
  /** Selected rows with no prediction: not evaluated, and not in submitted_ids. */
  no_prediction_ids: string[];
  submitted_ids: string[];
  resolved_ids: string[];
  unresolved_ids: string[];
  empty_patch_ids: string[];
  apply_error_ids: string[];
  env_error_ids: string[];
  test_error_ids: string[];
  /** Unresolved only because tests that need outside hosts failed (offline evaluation). */
  offline_limited_ids: string[];
  /** Resolved over submitted. */
  resolved_rate: number;
  per_repo: Record<
    string,
    { submitted: number; resolved: number; resolved_rate: number } & Partial<Record<EvalStatus, number>>
  >;
  instances: Record<string, Omit<InstanceResult, 'log'>>;
  /** The same run counted as the official harness's final report counts it (schema_version 2). */
  official: OfficialCounts;
  /** For predictions made by `fixwright solve-dataset`: its figures (bench-report.json beside predictions.jsonl). */
  bench?: BenchFigures;
}

/**
 * The official final report's counts (swebench/harness/reporting.py): an instance with a verdict is
 * completed; one the harness stopped on (the patch did not apply, the environment did not build,
 * the tests ran past their time) is an error; an empty patch is counted apart; rows without a
 * prediction are incomplete.
 */
export interface OfficialCounts {
  schema_version: 2;
  total_instances: number;
  submitted_instances: number;
  completed_instances: number;
  resolved_instances: number;
  unresolved_instances: number;
  empty_patch_instances: number;
  error_instances: number;
  completed_ids: string[];
  incomplete_ids: string[];
  error_ids: string[];
}

/** What a bench run adds to the report. */
export interface BenchFigures {
  attempts_histogram: Record<string, number>;
  tokens: { input: number; output: number };
  cost_usd: number;
  wall_ms: number;
  localisation: { recall_at_1: number; recall_at_5: number; conformal_coverage: number; mean_set_size: number };
  instances: Array<{
    instance_id: string;
    status: string;
    attempts: number;
    tokens: { input: number; output: number };
    cost_usd: number;
    wall_ms: number;
    gold_rank: number | null;
    gold_in_set: boolean;
  }>;
}

/** The figures of the `fixwright solve-dataset` run that wrote these predictions (its bench-report.json), when there is one. */
export function benchFiguresBeside(predictionsFile: string): { bench?: BenchFigures; warning?: string } {
  const file = join(dirname(resolve(predictionsFile)), 'bench-report.json');
  if (!existsSync(file)) return {};
  try {
    return { bench: JSON.parse(readFileSync(file, 'utf8')) as BenchFigures };
  } catch (err) {
    return { warning: `${file} is unreadable (${(err as Error).message}); the report leaves the run's figures out` };
  }
}

const ids = (results: readonly InstanceResult[], status: EvalStatus) =>
  results
    .filter((r) => r.status === status)
    .map((r) => r.instance_id)
    .sort();

/**
 * Builds the report. `resolved` is the official verdict only; `unresolved` means graded and not
 * resolved; empty patches, patches that do not apply, environments that did not build and test
 * runs that produced nothing are counted apart (each instance in exactly one list).
 */
export function buildReport(
  results: readonly InstanceResult[],
  meta: {
    dataset: string;
    predictions: string;
    grading: GradingRule;
    environmentTable: EvalReport['environment_table'];
    selectedIds: readonly string[];
    bench?: BenchFigures;
  },
): EvalReport {
  const perRepo: EvalReport['per_repo'] = {};
  for (const r of results) {
    const entry = (perRepo[r.repo] ??= { submitted: 0, resolved: 0, resolved_rate: 0 });
    entry.submitted += 1;
    if (r.status === 'resolved') entry.resolved += 1;
    else entry[r.status] = (entry[r.status] ?? 0) + 1;
  }
  for (const entry of Object.values(perRepo))
    entry.resolved_rate = entry.submitted ? entry.resolved / entry.submitted : 0;
  const resolved = ids(results, 'resolved');
  const submitted = new Set(results.map((r) => r.instance_id));
  const noPrediction = meta.selectedIds.filter((id) => !submitted.has(id)).sort();
  // A test command that could not start is an environment error here, but the official harness
  // grades its empty log (completed, unresolved).
  const gradedThere = results.filter((r) => r.status === 'env_error' && r.official_completed).map((r) => r.instance_id);
  const errors = [...ids(results, 'apply_error'), ...ids(results, 'env_error'), ...ids(results, 'test_error')]
    .filter((id) => !gradedThere.includes(id))
    .sort();
  const unresolvedThere = [...ids(results, 'unresolved'), ...gradedThere].sort();
  const completed = [...resolved, ...unresolvedThere].sort();
  return {
    created: new Date().toISOString(),
    dataset: meta.dataset,
    predictions: meta.predictions,
    grading: meta.grading,
    environment_table: meta.environmentTable,
    total_instances: meta.selectedIds.length,
    no_prediction_ids: noPrediction,
    submitted_ids: [...submitted].sort(),
    resolved_ids: resolved,
    unresolved_ids: ids(results, 'unresolved'),
    empty_patch_ids: ids(results, 'empty_patch'),
    apply_error_ids: ids(results, 'apply_error'),
    env_error_ids: ids(results, 'env_error'),
    test_error_ids: ids(results, 'test_error'),
    offline_limited_ids: results
      .filter((r) => r.offline_limited)
      .map((r) => r.instance_id)
      .sort(),
    resolved_rate: results.length ? resolved.length / results.length : 0,
    per_repo: perRepo,
    instances: Object.fromEntries(results.map(({ log: _log, ...r }) => [r.instance_id, r])),
    official: {
      schema_version: 2,
      total_instances: meta.selectedIds.length,
      submitted_instances: results.length,
      completed_instances: completed.length,
      resolved_instances: resolved.length,
      unresolved_instances: unresolvedThere.length,
      empty_patch_instances: ids(results, 'empty_patch').length,
      error_instances: errors.length,
      completed_ids: completed,
      incomplete_ids: noPrediction,
      error_ids: errors,
    },
    ...(meta.bench ? { bench: meta.bench } : {}),
  };
}

function benchMarkdown(report: EvalReport, bench: BenchFigures): string[] {
  const verdict = (id: string) => report.instances[id]?.status ?? '–';
  return [
    '## The agent run (fixwright solve-dataset)',
    '',
    `Localisation: ` +
      `R@1 ${pct(bench.localisation.recall_at_1)}, ` +
      `R@5 ${pct(bench.localisation.recall_at_5)}, conformal ` +
      `coverage ${pct(bench.localisation.conformal_coverage)} (mean set ${bench.localisation.mean_set_size.toFixed(1)} files). ` +
      `Tokens ${(bench.tokens.input + bench.tokens.output).toLocaleString('en')}, cost ` +
      `$${bench.cost_usd.toFixed(2)}, wall time ${(bench.wall_ms / 1000).toFixed(0)} s. ` +
      `Attempts: ${Object.entries(bench.attempts_histogram)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([k, n]) => `${k}×${n}`)
        .join(', ')}.`,
    '',
    '| instance | verdict | agent | attempts | gold rank | in set | tokens | cost | wall |',
    '| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: |',
    ...bench.instances
      .slice()
      .sort((a, b) => a.instance_id.localeCompare(b.instance_id))
      .map(
        (i) =>
          `| ${i.instance_id} ` +
          `| ${verdict(i.instance_id)} ` +
          `| ${i.status} ` +
          `| ${i.attempts} ` +
          `| ${i.gold_rank ?? '–'} ` +
          `| ${i.gold_in_set ? 'yes' : 'no'} | ${i.tokens.input + i.tokens.output} | $${i.cost_usd.toFixed(3)} | ${(i.wall_ms / 1000).toFixed(1)} s |`,
      ),
    '',
  ];
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** report.md: the same figures for people. */
export function reportMarkdown(report: EvalReport): string {
  const offline = report.offline_limited_ids.length;
  const offlineNote = offline ? `; ${offline} unresolved only because tests need outside hosts` : '';
  const lines = [
    `# fixwright eval`,
    '',
    `Dataset \`${report.dataset}\`, predictions ` +
      `\`${report.predictions}` +
      `\`, ${report.created}. Graded by the ${report.grading.name} rule (${report.grading.harness}); environment table \`${report.environment_table.path}\`.`,
    '',
    `${report.total_instances} instance(s) ` +
      `selected, ${report.submitted_ids.length} with a ` +
      `prediction${report.no_prediction_ids.length ? ` (${report.no_prediction_ids.length} without one, not evaluated)` : ''}. ` +
      `As the official report counts them: ` +
      `completed ${report.official.completed_instances}, ` +
      `resolved ${report.official.resolved_instances}, ` +
      `unresolved ${report.official.unresolved_instances}, empty patch ${report.official.empty_patch_instances}, errors ${report.official.error_instances}.`,
    '',
    `**Resolved ${report.resolved_ids.length} / ${report.submitted_ids.length} (${pct(report.resolved_rate)})**; ` +
      `unresolved ${report.unresolved_ids.length}, empty patch ${report.empty_patch_ids.length}, ` +
      `apply errors ${report.apply_error_ids.length}, env errors ${report.env_error_ids.length}, ` +
      `test errors ${report.test_error_ids.length}${offlineNote}.`,
    '',
    '| repository | submitted | resolved | rate | unresolved | apply error | env error | test error |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...Object.entries(report.per_repo)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(
        ([repo, r]) =>
          `| ${repo} ` +
          `| ${r.submitted} ` +
          `| ${r.resolved} | ${pct(r.resolved_rate)} | ${r.unresolved ?? 0} | ${r.apply_error ?? 0} | ${r.env_error ?? 0} | ${r.test_error ?? 0} |`,
      ),
    '',
    ...(report.bench ? benchMarkdown(report, report.bench) : []),
    '## Not resolved, and why',
    '',
    ...Object.values(report.instances)
      .filter((r) => r.status !== 'resolved')
      .sort((a, b) => a.instance_id.localeCompare(b.instance_id))
      .map((r) => `- \`${r.instance_id}\` (${r.environment}): **${r.status}** — ${r.reason ?? ''}`),
    '',
  ];
  return lines.join('\n');
}
