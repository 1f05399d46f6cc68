import type Parser from 'tree-sitter';
import type { RuleCandidate, RuleContext, RuleFixer } from '../../language-adapter.js';
import { importBindings, topLevelImports } from '../scope.js';
import { STDLIB_MODULES, STDLIB_NAMES } from '../stdlib.js';
import { IDENTIFIER, joinLines, splitLines, treeOf } from '../text.js';

/** The line after which a new top-level import goes: after the last import, else after the docstring, else the top. */
export function importInsertionLine(tree: Parser.Tree): number {
  const imports = topLevelImports(tree);
  if (imports.length) return imports[imports.length - 1]!.endPosition.row + 1;
  const first = tree.rootNode.namedChildren.find((c) => c.type !== 'comment');
  if (first?.type === 'expression_statement' && first.namedChildren[0]?.type === 'string')
    return first.endPosition.row + 1;
  return 0;
}

function insertLine(code: string, after: number, text: string): string {
  const lines = splitLines(code);
  lines.splice(after, 0, text);
  return joinLines(lines, code || '\n');
}

/** `from M import a, b` on one line, extended with `name` (the minimal edit when M is already imported from). */
function extendFromImport(code: string, tree: Parser.Tree, module: string, name: string): string | undefined {
  const stmt = topLevelImports(tree).find(
    (s) =>
      s.type === 'import_from_statement' &&
      s.childForFieldName('module_name')?.text === module &&
      s.startPosition.row === s.endPosition.row &&
      !s.text.includes('(') &&
      !s.text.includes('*'),
  );
  if (!stmt) return undefined;
  const lines = splitLines(code);
  const row = stmt.startPosition.row;
  const line = lines[row]!;
  const end = line.indexOf(stmt.text) + stmt.text.length;
  if (end < stmt.text.length) return undefined;
  lines[row] = `${line.slice(0, end)}, ${name}${line.slice(end)}`;
  return joinLines(lines, code);
}

/**
 * A name used but never imported, which the file itself imports somewhere else (inside a function,
 * under a condition) or the standard library provides: the import is added at the top, next to
 * the other imports, or appended to an existing `from M import …` line.
 */
export const missingImport: RuleFixer = {
  name: 'missing-import',
  kinds: ['undefined_name'],
  propose({ code, target }: RuleContext): RuleCandidate[] {
    const name = target.name;
    if (!name || !IDENTIFIER.test(name)) return [];
    const tree = treeOf(code);
    const at = importInsertionLine(tree);
    const candidates: RuleCandidate[] = [];
    const statements = new Set<string>();

    // The file imports it elsewhere (nested in a function or a try block): the same statement at the top.
    for (const stmt of tree.rootNode.descendantsOfType(['import_statement', 'import_from_statement'])) {
      if (stmt.parent?.type === 'module' || stmt.startPosition.row !== stmt.endPosition.row) continue;
      if (!importBindings(stmt).some((b) => b.text === name)) continue;
      const items = stmt.type === 'import_statement' ? stmt.namedChildren : stmt.childrenForFieldName('name');
      const item = items.find(
        (i) =>
          (i.type === 'aliased_import'
            ? i.childForFieldName('alias')?.text
            : i.text.split('.')[stmt.type === 'import_statement' ? 0 : i.text.split('.').length - 1]) === name,
      );
      if (!item) continue;
      const text =
        stmt.type === 'import_statement'
          ? `import ${item.text}`
          : `from ${stmt.childForFieldName('module_name')!.text} import ${item.text}`;
      statements.add(text);
    }
    if (STDLIB_MODULES.has(name)) statements.add(`import ${name}`);
    const module = STDLIB_NAMES[name];
    if (module && !STDLIB_MODULES.has(name)) {
      const extended = extendFromImport(code, tree, module, name);
      if (extended)
        candidates.push({
          rule: 'missing-import',
          description: `add ${name} to the existing 'from ${module} import' line`,
          code: extended,
        });
      statements.add(`from ${module} import ${name}`);
    }
    for (const text of statements)
      candidates.push({
        rule: 'missing-import',
        description: `'${name}' is not defined: add '${text}'`,
        code: insertLine(code, at, text),
      });
    return candidates;
  },
};
