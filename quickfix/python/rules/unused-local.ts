import type Parser from 'tree-sitter';
import type { RuleCandidate, RuleContext, RuleFixer } from '../../language-adapter.js';
import { indentOf, joinLines, splitLines, treeOf } from '../text.js';

/** Expressions whose evaluation has no effect, so the whole assignment can go. */
const PURE = new Set([
  'integer',
  'float',
  'string',
  'concatenated_string',
  'true',
  'false',
  'none',
  'identifier',
  'attribute',
  'list',
  'tuple',
  'dictionary',
  'set',
  'unary_operator',
  'binary_operator',
]);

function isPure(node: Parser.SyntaxNode): boolean {
  if (!PURE.has(node.type)) return false;
  return node.namedChildren
    .filter((c) => c.type !== 'comment')
    .every((c) => isPure(c) || (c.type === 'pair' && c.namedChildren.every(isPure)));
}

/**
 * A local assigned but never used: the assignment goes when its value has no effect; otherwise the
 * value is kept as a bare expression (a call may matter). `except E as name:` loses `as name`.
 */
export const unusedLocal: RuleFixer = {
  name: 'unused-local',
  kinds: ['unused_local'],
  propose({ code, target }: RuleContext): RuleCandidate[] {
    const name = target.name;
    if (!name || target.line === undefined) return [];
    const row = target.line - 1;
    const lines = splitLines(code);
    const line = lines[row];
    if (line === undefined) return [];
    const exceptAs = new RegExp(`^(\\s*except\\b.*?)\\s+as\\s+${name}\\s*:`);
    if (exceptAs.test(line)) {
      lines[row] = line.replace(exceptAs, '$1:');
      return [{ rule: 'unused-local', description: `drop the unused 'as ${name}'`, code: joinLines(lines, code) }];
    }
    const tree = treeOf(code);
    const assignment = tree.rootNode
      .descendantsOfType('assignment')
      .find(
        (a) =>
          a.startPosition.row === row &&
          a.childForFieldName('left')?.type === 'identifier' &&
          a.childForFieldName('left')!.text === name &&
          a.parent?.type === 'expression_statement',
      );
    const right = assignment?.childForFieldName('right');
    if (!assignment || !right || right.type === 'assignment') return [];
    const statement = assignment.parent!;
    if (isPure(right)) {
      const soleInBlock =
        statement.parent?.type === 'block' &&
        statement.parent.namedChildren.filter((c) => c.type !== 'comment').length === 1;
      lines.splice(row, statement.endPosition.row - row + 1, ...(soleInBlock ? [`${indentOf(line)}pass`] : []));
      return [{ rule: 'unused-local', description: `remove the unused local '${name}'`, code: joinLines(lines, code) }];
    }
    const kept = line.replace(new RegExp(`^(\\s*)${name}\\s*(?::[^=]*)?=\\s*`), '$1');
    if (kept === line) return [];
    lines[row] = kept;
    return [
      {
        rule: 'unused-local',
        description: `keep the call but drop the unused local '${name}'`,
        code: joinLines(lines, code),
      },
    ];
  },
};
