import type { LineRangeEdit } from '../../agent/index.js';
import { parsePythonTree } from '../../localisation/index.js';
import { splitLines, treeOf } from './text.js';

/** Top-level statements a module's header may hold before its code starts. */
const HEADER_TYPES = new Set(['import_statement', 'import_from_statement', 'future_import_statement', 'comment']);

/**
 * How many lines the module's header spans: its docstring, comments and imports up to the first
 * other statement (the whole file when it has none). "The top" where an import may be added.
 */
export function headerLines(code: string): number {
  const children = treeOf(code).rootNode.namedChildren;
  for (const [i, child] of children.entries()) {
    if (HEADER_TYPES.has(child.type)) continue;
    if (i === 0 && child.type === 'expression_statement' && child.namedChildren[0]?.type === 'string') continue;
    return child.startPosition.row;
  }
  return splitLines(code).length;
}

/** Whether the lines are one or more complete import statements and nothing else. */
function onlyImports(lines: readonly string[]): boolean {
  if (lines.length === 0 || lines.some((l) => !/^(?:import|from)\s/.test(l))) return false;
  const root = parsePythonTree(`${lines.join('\n')}\n`).rootNode;
  return (
    !root.hasError &&
    root.namedChildren.every(
      (c) =>
        c.type === 'import_statement' || c.type === 'import_from_statement' || c.type === 'future_import_statement',
    )
  );
}

/**
 * Whether an edit only adds imports at the top of the module: import lines inserted within the
 * header, or one header `from M import …` line extended with more names (nothing taken away).
 */
export function isTopImportEdit(code: string, edit: LineRangeEdit): boolean {
  const header = headerLines(code);
  if (edit.minus.length === 0) return edit.start <= header && onlyImports(edit.plus);
  if (edit.minus.length !== 1 || edit.plus.length !== 1 || edit.start > header) return false;
  const [old] = edit.minus as [string];
  const [now] = edit.plus as [string];
  return (
    /^from\s/.test(old) &&
    !old.includes('(') &&
    now.startsWith(`${old.trimEnd()}, `) &&
    onlyImports([old]) &&
    onlyImports([now])
  );
}
