import type { RuleCandidate, RuleContext, RuleFixer } from '../../language-adapter.js';
import { referencesIn, scopeBindings, scopesAt } from '../scope.js';
import { BUILTINS } from '../stdlib.js';
import {
  IDENTIFIER,
  editDistance,
  indentOf,
  isSubsequence,
  nearMissLimit,
  renameAt,
  splitLines,
  treeOf,
} from '../text.js';

/** Where an undefined name is first used (the diagnostic's line, else its first reference). */
export function locateName(
  code: string,
  name: string,
  line: number | undefined,
): { line: number; column: number } | undefined {
  const tree = treeOf(code);
  if (line !== undefined) {
    // The statement around the line first: walking every identifier of a 3,000-line module costs milliseconds.
    const text = splitLines(code)[line - 1] ?? '';
    const around = tree.rootNode.descendantForPosition(
      { row: line - 1, column: 0 },
      { row: line - 1, column: Math.max(text.length - 1, 0) },
    );
    const near = referencesIn(around, name).find((r) => r.startPosition.row === line - 1);
    if (near) return { line, column: near.startPosition.column };
  }
  const refs = referencesIn(tree.rootNode, name);
  const onLine = line === undefined ? refs : refs.filter((r) => r.startPosition.row === line - 1);
  const first = onLine[0] ?? refs[0];
  if (first) return { line: first.startPosition.row + 1, column: first.startPosition.column };
  if (line === undefined) return undefined;
  return { line, column: indentOf(splitLines(code)[line - 1] ?? '').length };
}

/**
 * A near miss: one slip (a letter added, dropped, changed or two swapped), or more when only
 * letters were dropped or added (`itm` for `items`); several changed letters is another name.
 */
function plausible(distance: number, subsequence: boolean, limit: number): boolean {
  return distance === 1 || (distance <= limit && subsequence);
}

/** How often a name appears as a whole word in the code (strings and comments included: a spelling the author wrote). */
function wordCount(code: string, name: string): number {
  return code.match(new RegExp(`(?<![\\p{L}\\p{N}_])${name}(?![\\p{L}\\p{N}_])`, 'gu'))?.length ?? 0;
}

interface Ranked {
  name: string;
  distance: number;
  depth: number;
  subsequence: boolean;
}

/**
 * An undefined name that is a near miss (edit distance, scaled to its length) of a name in scope:
 * the enclosing functions' bindings first, then the module's, then builtins. When a local in the
 * same scope is assigned but never used and is a near miss of the name, the likelier bug is a
 * misspelt definition, so renaming that definition comes first.
 */
export const nearMissName: RuleFixer = {
  name: 'near-miss-name',
  kinds: ['undefined_name'],
  propose({ code, target, diagnostics }: RuleContext): RuleCandidate[] {
    const name = target.name;
    if (!name || !IDENTIFIER.test(name)) return [];
    const where = locateName(code, name, target.line);
    if (!where) return [];
    const tree = treeOf(code);
    const scopes = scopesAt(tree, where.line, where.column);
    const limit = nearMissLimit(name.length);
    const candidates: RuleCandidate[] = [];

    // A misspelt definition: `totl = 0 … return total`. Unless the file spells the unused local's
    // way more often (`meat` defined and used elsewhere, `maet` once): then the use is the typo.
    const unused = diagnostics.filter(
      (d) => d.kind === 'unused_local' && d.name && d.name !== name && editDistance(d.name, name) <= limit,
    );
    const renameDefinitions: RuleCandidate[] = [];
    for (const d of unused) {
      const binding = scopeBindings(scopes[0]!).find(
        (b) => b.name === d.name && (d.line === undefined || b.line === d.line),
      );
      if (!binding) continue;
      const fixed = renameAt(
        code,
        [{ row: binding.node.startPosition.row, column: binding.node.startPosition.column }],
        d.name!,
        name,
      );
      if (!fixed) continue;
      const candidate = {
        rule: 'near-miss-name',
        description: `rename the unused local '${d.name}' at line ${binding.line} to '${name}'`,
        code: fixed,
      };
      if (wordCount(code, d.name!) > wordCount(code, name)) renameDefinitions.push(candidate);
      else candidates.push(candidate);
    }

    const seen = new Map<string, Ranked>();
    scopes.forEach((scope, depth) => {
      for (const b of scopeBindings(scope)) {
        if (b.name === name || seen.has(b.name)) continue;
        const distance = editDistance(name, b.name);
        const subsequence = isSubsequence(name, b.name) || isSubsequence(b.name, name);
        if (plausible(distance, subsequence, limit)) seen.set(b.name, { name: b.name, distance, depth, subsequence });
      }
    });
    for (const builtin of BUILTINS) {
      if (seen.has(builtin) || builtin === name) continue;
      const distance = editDistance(name, builtin);
      // Builtins are always in scope, so only a one-letter slip counts: `pirnt`, not `compute` → `compile`.
      if (distance === 1)
        seen.set(builtin, {
          name: builtin,
          distance,
          depth: scopes.length,
          subsequence: isSubsequence(name, builtin) || isSubsequence(builtin, name),
        });
    }
    // Dropped letters are the commonest slip, so at equal distance a longer name beats a shorter one (`pint` → `print`, not `int`).
    const longer = (r: Ranked) => Number(r.name.length >= name.length);
    const ranked = [...seen.values()].sort(
      (a, b) =>
        a.distance - b.distance ||
        Number(b.subsequence) - Number(a.subsequence) ||
        a.depth - b.depth ||
        longer(b) - longer(a) ||
        Math.abs(a.name.length - name.length) - Math.abs(b.name.length - name.length) ||
        a.name.localeCompare(b.name),
    );

    // Every reference to the misspelt name in the innermost scope: the same typo, fixed once.
    const refs = referencesIn(scopes[0]!, name).map((r) => ({
      row: r.startPosition.row,
      column: r.startPosition.column,
    }));
    for (const r of ranked.slice(0, 3)) {
      const fixed = refs.length ? renameAt(code, refs, name, r.name) : undefined;
      if (fixed)
        candidates.push({
          rule: 'near-miss-name',
          description: `'${name}' is not defined; '${r.name}' is (edit distance ${r.distance})`,
          code: fixed,
        });
    }
    return [...candidates, ...renameDefinitions];
  },
};
