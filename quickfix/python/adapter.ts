import { firstSyntaxError } from '../../localisation/index.js';
import { applyLineRangeEdits, type LineRangeEdit } from '../../agent/edits/line-range.js';
import type { Analyser } from '../analysis-container.js';
import type { LanguageAdapter, RuleFixer } from '../language-adapter.js';
import { isTopImportEdit } from './imports.js';
import { missingImport } from './rules/missing-import.js';
import { nearMissName } from './rules/near-miss-name.js';
import { keywordTypo, missingColon } from './rules/syntax-typos.js';
import { unusedImport } from './rules/unused-import.js';
import { unusedLocal } from './rules/unused-local.js';
import { treeOf } from './text.js';

/** Python's rule fixers, in the order they are tried for a diagnostic. */
export const PYTHON_RULES: readonly RuleFixer[] = [nearMissName, missingImport, unusedImport, unusedLocal, missingColon, keywordTypo];

/** Python: tree-sitter on the host for parsing and scopes, pyflakes in the analysis container for diagnostics. */
export function createPythonAdapter(analyser: Analyser): LanguageAdapter {
  return {
    language: 'python',
    parse(code) {
      const line = firstSyntaxError(code);
      return line === undefined ? { ok: true } : { ok: false, line };
    },
    diagnostics: (code) => analyser.check(code),
    apply: (code, edits: readonly LineRangeEdit[]) => applyLineRangeEdits('snippet.py', code, edits),
    ruleFixers: PYTHON_RULES,
    isTopImportEdit,
    regionAround(code, line) {
      const tree = treeOf(code);
      let node = tree.rootNode.descendantForPosition({ row: line - 1, column: 0 });
      let region = { start: line, end: line };
      for (let n: typeof node | null = node; n; n = n.parent) {
        if (n.type === 'function_definition' || n.type === 'class_definition') {
          region = { start: (n.parent?.type === 'decorated_definition' ? n.parent : n).startPosition.row + 1, end: n.endPosition.row + 1 };
          break;
        }
      }
      return region;
    },
    close: () => analyser.close(),
  };
}
