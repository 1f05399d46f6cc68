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

const passed = (map: Record<string, LogStatus>, id: string) => map[id] === 'PASSED' || map[id] === 'XFAIL';
// A test missing from the log counts as failed; SKIPPED counts as neither (official grading.py).
const failed = (map: Record<string, LogStatus>, id: string) => !(id in map) || map[id] === 'FAILED' || map[id] === 'ERROR';

function sort(ids: readonly string[], map: Record<string, LogStatus>): TestListResult {
  return { success: ids.filter((id) => passed(map, id)), failure: ids.filter((id) => failed(map, id)) };
}

/**
 * The official rule (swebench/harness/grading.py, v4.1.0): resolved when every FAIL_TO_PASS and
 * every PASS_TO_PASS test passes — a ratio of 1 over the tests that passed or failed (skipped ones
 * are left out; an empty list counts as 1).
 */
export function grade(map: Record<string, LogStatus>, failToPass: readonly string[], passToPass: readonly string[]): Grade {
  const f2p = sort(failToPass, map);
  const p2p = sort(passToPass, map);
  const full = (r: TestListResult) => r.success.length + r.failure.length === 0 || r.failure.length === 0;
  return { resolved: full(f2p) && full(p2p), fail_to_pass: f2p, pass_to_pass: p2p };
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
