import type { EvalStatus, InstanceResult } from './evaluate-instance.js';

/** report.json (ARCHITECTURE.md, "Harness report"). */
export interface EvalReport {
  created: string;
  dataset: string;
  predictions: string;
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
  per_repo: Record<string, { submitted: number; resolved: number; resolved_rate: number } & Partial<Record<EvalStatus, number>>>;
  instances: Record<string, Omit<InstanceResult, 'log'>>;
}

const ids = (results: readonly InstanceResult[], status: EvalStatus) => results.filter((r) => r.status === status).map((r) => r.instance_id).sort();

/**
 * Builds the report. `resolved` is the official verdict only; `unresolved` means graded and not
 * resolved; empty patches, patches that do not apply, environments that did not build and test
 * runs that produced nothing are counted apart (each instance in exactly one list).
 */
export function buildReport(results: readonly InstanceResult[], meta: { dataset: string; predictions: string }): EvalReport {
  const perRepo: EvalReport['per_repo'] = {};
  for (const r of results) {
    const entry = (perRepo[r.repo] ??= { submitted: 0, resolved: 0, resolved_rate: 0 });
    entry.submitted += 1;
    if (r.status === 'resolved') entry.resolved += 1;
    else entry[r.status] = (entry[r.status] ?? 0) + 1;
  }
  for (const entry of Object.values(perRepo)) entry.resolved_rate = entry.submitted ? entry.resolved / entry.submitted : 0;
  const resolved = ids(results, 'resolved');
  return {
    created: new Date().toISOString(),
    dataset: meta.dataset,
    predictions: meta.predictions,
    submitted_ids: results.map((r) => r.instance_id).sort(),
    resolved_ids: resolved,
    unresolved_ids: ids(results, 'unresolved'),
    empty_patch_ids: ids(results, 'empty_patch'),
    apply_error_ids: ids(results, 'apply_error'),
    env_error_ids: ids(results, 'env_error'),
    test_error_ids: ids(results, 'test_error'),
    offline_limited_ids: results.filter((r) => r.offline_limited).map((r) => r.instance_id).sort(),
    resolved_rate: results.length ? resolved.length / results.length : 0,
    per_repo: perRepo,
    instances: Object.fromEntries(results.map(({ log: _log, ...r }) => [r.instance_id, r])),
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** report.md: the same figures for people. */
export function reportMarkdown(report: EvalReport): string {
  const lines = [
    `# fixwright eval`,
    '',
    `Dataset \`${report.dataset}\`, predictions \`${report.predictions}\`, ${report.created}.`,
    '',
    `**Resolved ${report.resolved_ids.length} / ${report.submitted_ids.length} (${pct(report.resolved_rate)})**; unresolved ${report.unresolved_ids.length}, empty patch ${report.empty_patch_ids.length}, apply errors ${report.apply_error_ids.length}, env errors ${report.env_error_ids.length}, test errors ${report.test_error_ids.length}${report.offline_limited_ids.length ? `; ${report.offline_limited_ids.length} unresolved only because tests need outside hosts` : ''}.`,
    '',
    '| repository | submitted | resolved | rate | unresolved | apply error | env error | test error |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...Object.entries(report.per_repo)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([repo, r]) => `| ${repo} | ${r.submitted} | ${r.resolved} | ${pct(r.resolved_rate)} | ${r.unresolved ?? 0} | ${r.apply_error ?? 0} | ${r.env_error ?? 0} | ${r.test_error ?? 0} |`),
    '',
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
