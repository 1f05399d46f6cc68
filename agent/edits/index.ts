import { firstSyntaxError, isTestFile } from '../../localisation/index.js';
import { checkPatch, pathViolations } from '../../sandbox/index.js';
import { applySearchReplace, EditFailure, type EditFailureCategory } from './apply-edits.js';
import { applyLineRangeEdits, parseLineRangeEdits } from './line-range.js';
import { parseAnswer, type ReproductionTest } from './model-output.js';
import { type FileChange, toUnifiedDiff } from './unified-diff.js';

export { EditFailure, type EditFailureCategory } from './apply-edits.js';
export { parseAnswer, type ParsedAnswer, type ReproductionTest, type SearchReplaceEdit } from './model-output.js';
export { applyLineRangeEdits, parseLineRangeEdits, type LineRangeEdit } from './line-range.js';
export { toUnifiedDiff, type FileChange } from './unified-diff.js';

/** What a model's answer amounts to. */
export type EditOutcome =
  | { kind: 'diff'; diff: string; changes: FileChange[]; tests: ReproductionTest[] }
  | { kind: 'no_edits'; tests: ReproductionTest[] }
  | { kind: 'keep_previous' }
  | { kind: 'failed'; category: EditFailureCategory; message: string };

function failed(category: EditFailureCategory, message: string): EditOutcome {
  return { kind: 'failed', category, message };
}

/** Refuses a path before anything is read from disk for it. */
function checkPath(path: string, allowTests: boolean): void {
  const violation = pathViolations(path)[0];
  if (violation) throw new EditFailure('path_outside_repo', `${violation.message} [rule ${violation.rule}]`);
  // A fix changes library code: editing tests could hide a regression or smuggle the agent's own
  // test into the patch (reproduction tests travel separately, never in the patch).
  if (!allowTests && (isTestFile(path) || /(^|\/)(pytest\.ini|tox\.ini|conftest\.py)$/.test(path))) {
    throw new EditFailure(
      'edits_tests',
      `${path} is a test file; fix the library code, and put the reproduction test in its own python block`,
    );
  }
}

/**
 * Checks the new text of changed files and writes the diff: Python must still parse (unless it
 * did not before), the diff must keep the patch rules, and something must have changed.
 */
function finish(changes: FileChange[], tests: ReproductionTest[]): EditOutcome {
  const real = changes.filter((c) => c.before !== c.after);
  if (real.length === 0) return failed('no_change', 'the edits leave every file as it was');
  for (const change of real) {
    if (!change.path.endsWith('.py') || change.after === undefined) continue;
    const line = firstSyntaxError(change.after);
    if (line !== undefined && (change.before === undefined || firstSyntaxError(change.before) === undefined)) {
      return failed('syntax_error', `${change.path}: the edited file no longer parses as Python (near line ${line})`);
    }
  }
  const diff = toUnifiedDiff(real);
  const violation = checkPatch(diff).violations[0];
  if (violation) return failed('path_outside_repo', `${violation.message} [rule ${violation.rule}]`);
  return { kind: 'diff', diff, changes: real, tests };
}

/**
 * Turns a model's answer (search/replace blocks, or NO_EDITS / KEEP_PREVIOUS) into a unified diff
 * against the files `read` returns (undefined for a missing file). Never throws on bad output:
 * every problem comes back as a failure category with a message for the next attempt.
 */
export function answerToDiff(
  answer: string,
  read: (path: string) => string | undefined,
  options: { allowTests?: boolean } = {},
): EditOutcome {
  const parsed = parseAnswer(answer);
  if (parsed.edits.length === 0) {
    if (parsed.special === 'KEEP_PREVIOUS') return { kind: 'keep_previous' };
    if (parsed.special === 'NO_EDITS') return { kind: 'no_edits', tests: parsed.tests };
    return failed(
      'malformed_output',
      parsed.problems[0] ?? 'no SEARCH/REPLACE block, NO_EDITS or KEEP_PREVIOUS found in the answer',
    );
  }
  if (parsed.problems.length > 0) return failed('malformed_output', parsed.problems.join('; '));
  try {
    for (const edit of parsed.edits) checkPath(edit.path, options.allowTests ?? false);
    const before = new Map<string, string | undefined>();
    const readOnce = (path: string) => {
      if (!before.has(path)) before.set(path, read(path));
      return before.get(path);
    };
    const after = applySearchReplace(parsed.edits, readOnce);
    return finish(
      [...after].map(([path, text]) => ({ path, before: before.get(path), after: text })),
      parsed.tests,
    );
  } catch (err) {
    if (err instanceof EditFailure) return failed(err.category, err.message);
    throw err;
  }
}

/** Applies line-range edits (the quick-fix DSL) to one file and returns the diff. */
export function lineRangeToDiff(path: string, content: string, answer: string): EditOutcome {
  const special = parseAnswer(answer).special;
  const edits = parseLineRangeEdits(answer);
  if (edits.length === 0 && special === 'KEEP_PREVIOUS') return { kind: 'keep_previous' };
  if (edits.length === 0 && special === 'NO_EDITS') return { kind: 'no_edits', tests: [] };
  try {
    checkPath(path, true);
    return finish([{ path, before: content, after: applyLineRangeEdits(path, content, edits) }], []);
  } catch (err) {
    if (err instanceof EditFailure) return failed(err.category, err.message);
    throw err;
  }
}
