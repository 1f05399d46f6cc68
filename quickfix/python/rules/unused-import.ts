import type Parser from 'tree-sitter';
import type { RuleCandidate, RuleContext, RuleFixer } from '../../language-adapter.js';
import { indentOf, joinLines, splitLines, treeOf } from '../text.js';

type Node = Parser.SyntaxNode;

/** How pyflakes names an imported binding: `os.path`, `a.b as c`, `.x`. */
function bindingLabel(stmt: Node, item: Node): string {
  const imported = item.type === 'aliased_import' ? item.childForFieldName('name')!.text : item.text;
  const alias = item.type === 'aliased_import' ? item.childForFieldName('alias')?.text : undefined;
  let full = imported;
  if (stmt.type === 'import_from_statement') {
    const module = stmt.childForFieldName('module_name')!.text;
    full = module.endsWith('.') ? `${module}${imported}` : `${module}.${imported}`;
  }
  return alias && alias !== imported ? `${full} as ${alias}` : full;
}

/** The bound name an item introduces (`as` alias, last part after `from`, first part of `import a.b`). */
function boundName(stmt: Node, item: Node): string {
  if (item.type === 'aliased_import') return item.childForFieldName('alias')!.text;
  return stmt.type === 'import_statement' ? item.text.split('.')[0]! : item.text.split('.').pop()!;
}

/** Removes statement lines; a block left empty gets `pass` so it still parses. */
function removeStatement(code: string, stmt: Node): string {
  const lines = splitLines(code);
  const first = stmt.startPosition.row;
  const soleInBlock =
    stmt.parent?.type === 'block' && stmt.parent.namedChildren.filter((c) => c.type !== 'comment').length === 1;
  lines.splice(first, stmt.endPosition.row - first + 1, ...(soleInBlock ? [`${indentOf(lines[first]!)}pass`] : []));
  return joinLines(lines, code);
}

/**
 * An import nothing uses: the name is dropped from its statement, or the whole statement goes when
 * it imported only that (replaced by `pass` when it was a block's only statement).
 */
export const unusedImport: RuleFixer = {
  name: 'unused-import',
  kinds: ['unused_import'],
  propose({ code, target }: RuleContext): RuleCandidate[] {
    const label = target.name;
    if (!label) return [];
    const tree = treeOf(code);
    const statements = tree.rootNode
      .descendantsOfType(['import_statement', 'import_from_statement'])
      .filter(
        (s) =>
          target.line === undefined || (s.startPosition.row <= target.line - 1 && s.endPosition.row >= target.line - 1),
      );
    for (const stmt of statements) {
      const items = stmt.type === 'import_statement' ? stmt.namedChildren : stmt.childrenForFieldName('name');
      const item =
        items.find((i) => bindingLabel(stmt, i) === label) ?? items.find((i) => boundName(stmt, i) === label);
      if (!item) continue;
      if (items.length === 1)
        return [
          {
            rule: 'unused-import',
            description: `remove the unused import '${label}'`,
            code: removeStatement(code, stmt),
          },
        ];
      const lines = splitLines(code);
      const row = item.startPosition.row;
      const rest = items.filter((i) => i.id !== item.id);
      if (stmt.startPosition.row !== stmt.endPosition.row) {
        // One name a line in a parenthesised import: drop that line.
        if (lines[row]!.trim().replace(/,$/, '') === item.text && rest.every((i) => i.startPosition.row !== row)) {
          lines.splice(row, 1);
          return [
            { rule: 'unused-import', description: `remove '${label}' from the import`, code: joinLines(lines, code) },
          ];
        }
        return [];
      }
      const head =
        stmt.type === 'import_statement' ? 'import ' : `from ${stmt.childForFieldName('module_name')!.text} import `;
      const line = lines[row]!;
      const start = line.indexOf(stmt.text);
      if (start < 0) return [];
      lines[row] =
        `${line.slice(0, start)}${head}${rest.map((i) => i.text).join(', ')}${line.slice(start + stmt.text.length)}`;
      return [
        { rule: 'unused-import', description: `remove '${label}' from the import`, code: joinLines(lines, code) },
      ];
    }
    return [];
  },
};
