import { applyLineRangeEdits, type LineRangeEdit } from '../../agent/index.js';
import type { AnalysisResult, Analyser } from '../analysis-container.js';
import type { LanguageAdapter, RuleFixer } from '../language-adapter.js';
import { isTopImportEdit } from './imports.js';
import { missingImport } from './rules/missing-import.js';
import { nearMissName } from './rules/near-miss-name.js';
import { keywordTypo, missingColon } from './rules/syntax-typos.js';
import { unusedImport } from './rules/unused-import.js';
import { unusedLocal } from './rules/unused-local.js';
import { firstErrorLine } from '../../localisation/index.js';
import { treeOf } from './text.js';
import { editFoci } from './edit-focus.js';
import { describePlan, keptBySkeleton, planSkeleton } from './skeleton.js';

/** pyflakes results kept per adapter (by text). */
const CHECKS_KEPT = 16;

/** Python's rule fixers, in the order they are tried for a diagnostic. */
export const PYTHON_RULES: readonly RuleFixer[] = [
  nearMissName,
  missingImport,
  unusedImport,
  unusedLocal,
  missingColon,
  keywordTypo,
];

/** How the Python adapter analyses code. */
export interface PythonAdapterOptions {
  /** false: pyflakes always reads the whole file (the reference the skeleton analysis is tested against). Default true. */
  skeletons?: boolean;
}

/**
 * Python: tree-sitter on the host for parsing and scopes, pyflakes in the analysis container for
 * diagnostics — on a skeleton of the file (quickfix/python/skeleton.ts) when a focus allows it.
 */
export function createPythonAdapter(analyser: Analyser, options: PythonAdapterOptions = {}): LanguageAdapter {
  const checked = new Map<string, Promise<AnalysisResult>>();
  const skeletons = options.skeletons ?? true;
  return {
    language: 'python',
    parse(code) {
      // The same tree the fixers use: verifying a candidate and fixing on top of it parse once.
      const line = firstErrorLine(treeOf(code));
      return line === undefined ? { ok: true } : { ok: false, line };
    },
    diagnostics(code, focus) {
      if (!focus || !skeletons) return check(code);
      const outcome = planSkeleton(code, focus);
      // No skeleton can be planned (outcome.reason says why): the whole file, as without a focus.
      if (!outcome.ok) return check(code);
      const { plan } = outcome;
      return check(plan.text).then((r) =>
        r.available
          ? { ...r, diagnostics: r.diagnostics.filter((d) => keptBySkeleton(plan, d)), view: describePlan(plan) }
          : r,
      );
    },
    ...(skeletons ? { editFoci } : {}),
    apply: (code, edits: readonly LineRangeEdit[]) => applyLineRangeEdits('snippet.py', code, edits),
    ruleFixers: PYTHON_RULES,
    isTopImportEdit,
    regionAround(code, line) {
      const tree = treeOf(code);
      const node = tree.rootNode.descendantForPosition({ row: line - 1, column: 0 });
      let region = { start: line, end: line };
      for (let n: typeof node | null = node; n; n = n.parent) {
        if (n.type === 'function_definition' || n.type === 'class_definition') {
          region = {
            start: (n.parent?.type === 'decorated_definition' ? n.parent : n).startPosition.row + 1,
            end: n.endPosition.row + 1,
          };
          break;
        }
      }
      return region;
    },
    close: () => analyser.close(),
  };

  /** pyflakes on a text (the whole file or a skeleton of it). */
  function check(code: string): Promise<AnalysisResult> {
    // pyflakes is a pure function of the text: a text checked a moment ago (the candidate a
    // multi-step fix continues from, then verifies as a whole) is not sent again.
    const known = checked.get(code);
    if (known) {
      checked.delete(code);
      checked.set(code, known);
      return known.then((r) => ({ ...r, durationMs: 0 }));
    }
    const result = analyser.check(code);
    checked.set(code, result);
    if (checked.size > CHECKS_KEPT) checked.delete(checked.keys().next().value!);
    // Unavailable answers may change (Docker back, the container restarted): never remembered.
    void result.then((r) => {
      if (!r.available) checked.delete(code);
    });
    return result;
  }
}
