import type { LineRangeEdit } from '../../agent/index.js';
import { parsePythonTree } from '../../localisation/index.js';
import type { AnalysisFocus } from '../language-adapter.js';
import { movedLine } from '../line-edits.js';
import { isTopImportEdit } from './imports.js';
import { importBindings } from './scope.js';
import { planSkeleton } from './skeleton.js';
import { splitLines, treeOf } from './text.js';

/** The foci that verify an edit: what to analyse of the code before it and after it. */
export interface EditFoci {
  before: AnalysisFocus;
  after: AnalysisFocus;
}

const IDENT = /[\p{L}_][\p{L}\p{N}_]*/gu;
const KEYWORDS = new Set(
  (
    'False None True and as assert async await break class continue def del elif else except finally ' +
    'for from global if import in is lambda nonlocal not or pass raise return try while with yield match case'
  ).split(' '),
);

/** The names the import lines bind (`import a.b` binds `a`, `from m import x as y` binds `y`). */
function importedNames(lines: readonly string[]): Set<string> {
  if (lines.length === 0) return new Set();
  const root = parsePythonTree(`${lines.join('\n')}\n`).rootNode;
  return new Set(
    root.namedChildren
      .filter((c) => c.type === 'import_statement' || c.type === 'import_from_statement')
      .flatMap((c) => importBindings(c).map((n) => n.text)),
  );
}

const identifiers = (lines: readonly string[]) =>
  new Set((lines.join('\n').match(IDENT) ?? []).filter((w) => !KEYWORDS.has(w)));

/**
 * The foci for verifying `edits` (before → after): the lines they change and the target lines,
 * numbered in each text, with the names whose every mention matters — those an added top import
 * binds, and those the edits take out of the lines analysed (whether a module name is still used
 * then depends on the rest of the file). Undefined when the whole file must be analysed: nothing
 * but imports changed and no target has a line, the definitions around the edits differ before and
 * after them (a renamed or split definition), or no skeleton can be planned.
 */
export function editFoci(
  before: string,
  after: string,
  edits: readonly LineRangeEdit[],
  targetLines: readonly number[],
): EditFoci | undefined {
  const sorted = [...edits].sort((a, b) => a.start - b.start);
  const beforeRanges = targetLines.map((l) => ({ start: l, end: l }));
  const afterRanges: Array<{ start: number; end: number }> = [];
  const added = new Set<string>();
  const taken = new Set<string>();
  let offset = 0;
  for (const e of sorted) {
    const at = e.start + offset;
    offset += e.plus.length - e.minus.length;
    if (isTopImportEdit(before, e)) {
      const had = importedNames(e.minus);
      for (const name of importedNames(e.plus)) if (!had.has(name)) added.add(name);
      continue;
    }
    beforeRanges.push(e.minus.length ? { start: e.start, end: e.end } : { start: e.start - 1, end: e.start });
    afterRanges.push(e.plus.length ? { start: at, end: at + e.plus.length - 1 } : { start: at - 1, end: at });
    const kept = identifiers(e.plus);
    for (const name of identifiers(e.minus)) if (!kept.has(name)) taken.add(name);
  }
  for (const line of targetLines.map((l) => movedLine(sorted, l))) afterRanges.push({ start: line, end: line });
  if (beforeRanges.length === 0) return undefined;
  // The code before first, then the code after (each tree parsed from the other's costs a reparse).
  const beforeBroken = treeOf(before).rootNode.hasError;
  let planBefore = planSkeleton(before, { ranges: beforeRanges, names: [...added] });
  // A name the edits took away matters only when the lines analysed no longer mention it.
  let planAfter = planSkeleton(after, { ranges: afterRanges, names: [...added] });
  if (!planAfter.ok) return undefined;
  const afterLines = splitLines(after);
  const seen = [...planAfter.plan.definitionRanges, ...planAfter.plan.focus].flatMap((r) =>
    afterLines.slice(r.start - 1, r.end),
  );
  const present = identifiers(seen);
  const names = [...added, ...[...taken].filter((n) => !present.has(n) && !added.has(n))];
  const foci = { before: { ranges: beforeRanges, names }, after: { ranges: afterRanges, names } };
  if (names.length > added.size) {
    planAfter = planSkeleton(after, foci.after);
    planBefore = planSkeleton(before, foci.before);
    if (!planAfter.ok) return undefined;
  }
  // Code that does not parse is not analysed again; code that does must show the same definitions.
  if (planBefore.ok ? planBefore.plan.definitions.join('\n') !== planAfter.plan.definitions.join('\n') : !beforeBroken)
    return undefined;
  return foci;
}
