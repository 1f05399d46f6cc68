import { type LogStatus, testDirectives as targetsFor } from '../../sandbox/index.js';

/** How one list of tests fared. */
export interface TestListResult {
  success: string[];
  failure: string[];
}

/** The official verdict's inputs and the verdict. */
export interface Grade {
  resolved: boolean;
  fail_to_pass: TestListResult;
  pass_to_pass: TestListResult;
}

/**
 * The official harness's grading rules differ by release (swebench/harness/grading.py): which one
 * a verdict follows is named in every report, and a resumed run re-evaluates under a changed rule.
 */
export const GRADING_RULES = ['swebench-5', 'swebench-4'] as const;
export type GradingRuleName = (typeof GRADING_RULES)[number];
/** The rule of the harness's current release, and so the default. */
export const DEFAULT_GRADING_RULE: GradingRuleName = 'swebench-5';

/** A grading rule as report.json names it. */
export interface GradingRule {
  name: GradingRuleName;
  /** The official releases that grade this way. */
  harness: string;
  /** What a SKIPPED test counts as, per list ('neither': left out of the ratio). */
  skipped_fail_to_pass: 'failed' | 'neither';
  skipped_pass_to_pass: 'passed' | 'neither';
  /** Expected ids cut mid-parameter (`test_x[log(photon`) matched by prefix when every match agrees on pass/fail. */
  truncated_ids: 'prefix' | 'exact';
  /** A test command that exits non-zero while its log shows no failure: the log does not describe the run (unresolved). */
  exit_code_check: boolean;
}

const RULES: Record<GradingRuleName, GradingRule> = {
  'swebench-5': {
    name: 'swebench-5',
    harness: 'SWE-bench 5.0.0 and 5.0.1 (Aug 2026)',
    skipped_fail_to_pass: 'failed',
    skipped_pass_to_pass: 'passed',
    truncated_ids: 'prefix',
    exit_code_check: true,
  },
  'swebench-4': {
    name: 'swebench-4',
    harness: 'SWE-bench 3.x to 4.1.0',
    skipped_fail_to_pass: 'neither',
    skipped_pass_to_pass: 'neither',
    truncated_ids: 'exact',
    exit_code_check: false,
  },
};

/** A rule by name (names come from validated flags). */
export function gradingRule(name: GradingRuleName = DEFAULT_GRADING_RULE): GradingRule {
  return RULES[name];
}

const PASSING = new Set<LogStatus>(['PASSED', 'XFAIL']);

/**
 * The log's key for an expected id: the id itself, or (rule permitting) the one test an id cut
 * mid-parameter names — when every test it prefixes agrees on passing or not, as the official
 * `_resolve_case` decides. `[` must outnumber `]`, so whole ids never reach the prefix match.
 */
function keyOf(id: string, map: Record<string, LogStatus>, rule: GradingRule): string | undefined {
  if (id in map) return id;
  if (rule.truncated_ids !== 'prefix' || id.split('[').length <= id.split(']').length) return undefined;
  const matches = Object.keys(map).filter((k) => k.startsWith(id));
  return matches.length > 0 && new Set(matches.map((k) => PASSING.has(map[k]!))).size === 1 ? matches[0] : undefined;
}

function sort(
  ids: readonly string[],
  map: Record<string, LogStatus>,
  rule: GradingRule,
  skipped: 'passed' | 'failed' | 'neither',
): TestListResult {
  const result: TestListResult = { success: [], failure: [] };
  for (const id of ids) {
    const key = keyOf(id, map, rule);
    const status = key === undefined ? undefined : map[key];
    // A test missing from the log counts as failed, in every release.
    if (status === undefined || status === 'FAILED' || status === 'ERROR') result.failure.push(id);
    else if (PASSING.has(status)) result.success.push(id);
    else if (status === 'SKIPPED' && skipped !== 'neither')
      result[skipped === 'passed' ? 'success' : 'failure'].push(id);
  }
  return result;
}

/**
 * The official rule: resolved when every FAIL_TO_PASS and every PASS_TO_PASS test passes — a
 * ratio of 1 over the tests counted (an empty list counts as 1). Skipped tests and cut ids count
 * as the rule says.
 */
export function grade(
  map: Record<string, LogStatus>,
  failToPass: readonly string[],
  passToPass: readonly string[],
  rule: GradingRule = gradingRule(),
): Grade {
  const f2p = sort(failToPass, map, rule, rule.skipped_fail_to_pass);
  const p2p = sort(passToPass, map, rule, rule.skipped_pass_to_pass);
  return { resolved: f2p.failure.length === 0 && p2p.failure.length === 0, fail_to_pass: f2p, pass_to_pass: p2p };
}

/**
 * Whether a log can be graded under the rule: swebench-5 refuses one whose command exited
 * non-zero while no test in it failed (a patch printing its own PASSED lines), as unresolved.
 */
export function logDescribesRun(map: Record<string, LogStatus>, exitCode: number | null, rule: GradingRule): boolean {
  if (!rule.exit_code_check || exitCode === null || exitCode === 0 || Object.keys(map).length === 0) return true;
  return Object.values(map).some((s) => s === 'FAILED' || s === 'ERROR');
}

const NON_TEST_EXTS = ['.json', '.png', 'csv', '.txt', '.md', '.jpg', '.jpeg', '.pkl', '.yml', '.yaml', '.toml'];

/**
 * The test files a test patch touches, as the official harness passes them to the test command:
 * paths, or for Django's runner module labels (`tests/a/test_b.py` → `a.test_b`).
 */
export function testDirectives(testPatch: string, style: 'paths' | 'django_labels' = 'paths'): string[] {
  const files = [...testPatch.matchAll(/^diff --git a\/.* b\/(.*)$/gm)].map((m) => m[1]!.trim());
  const paths = [...new Set(files.filter((f) => !NON_TEST_EXTS.some((ext) => f.endsWith(ext))))];
  return targetsFor(paths, style);
}
