import { diffArrays } from 'diff';
import { type LineRangeEdit, applyLineRangeEdits } from '../agent/index.js';
import { splitLines } from './python/text.js';
import type { LanguageAdapter } from './language-adapter.js';
import type { LineEdit } from './types.js';

/** The minimal line-range edits that turn `before` into `after` (one per changed run of lines). */
export function editsBetween(before: string, after: string): LineRangeEdit[] {
  const edits: LineRangeEdit[] = [];
  let line = 0; // lines of `before` consumed so far
  let pending: LineRangeEdit | undefined;
  const flush = () => {
    if (pending) edits.push(pending);
    pending = undefined;
  };
  for (const part of diffArrays(splitLines(before), splitLines(after))) {
    if (!part.added && !part.removed) {
      flush();
      line += part.value.length;
      continue;
    }
    pending ??= { start: line + 1, end: line, minus: [], plus: [] };
    if (part.removed) {
      pending.minus.push(...part.value);
      line += part.value.length;
      pending.end = line;
    } else pending.plus.push(...part.value);
  }
  flush();
  // A pure insertion is `@@ N-N` with only + lines: it goes after line N.
  return edits.map((e) => (e.minus.length === 0 ? { ...e, start: e.start - 1, end: e.start - 1 } : e));
}

/** The line-range DSL text of edits (`@@ START-END`, `-` and `+` lines). */
export function renderDsl(edits: readonly LineRangeEdit[]): string {
  return edits
    .map((e) => [`@@ ${e.start}-${e.end}`, ...e.minus.map((l) => `-${l}`), ...e.plus.map((l) => `+${l}`)].join('\n'))
    .join('\n');
}

/** Edits as clients see them: an insertion after line N is the empty range N+1..N. */
export function toLineEdits(edits: readonly LineRangeEdit[]): LineEdit[] {
  return [...edits]
    .sort((a, b) => a.start - b.start)
    .map((e) => {
      const replacement = e.plus.length ? `${e.plus.join('\n')}\n` : '';
      return e.minus.length === 0
        ? { start_line: e.start + 1, end_line: e.start, replacement }
        : { start_line: e.start, end_line: e.end, replacement };
    });
}

/** Client edits back into line-range edits against `code`; undefined when one does not fit the code. */
export function fromLineEdits(code: string, edits: readonly LineEdit[]): LineRangeEdit[] | undefined {
  const lines = splitLines(code);
  const out: LineRangeEdit[] = [];
  for (const e of edits) {
    const plus = e.replacement === '' ? [] : e.replacement.replace(/\n$/, '').split('\n');
    if (e.end_line === e.start_line - 1) {
      if (e.start_line < 1 || e.end_line > lines.length || plus.length === 0) return undefined;
      out.push({ start: e.end_line, end: e.end_line, minus: [], plus });
    } else {
      if (e.start_line < 1 || e.end_line < e.start_line || e.end_line > lines.length) return undefined;
      out.push({ start: e.start_line, end: e.end_line, minus: lines.slice(e.start_line - 1, e.end_line), plus });
    }
  }
  return out;
}

/** Why an edit falls outside the region the caller allowed, or undefined when all are inside. */
export function outsideRegion(
  edits: readonly LineRangeEdit[],
  region: { start: number; end: number },
): string | undefined {
  for (const e of edits) {
    const inside =
      e.minus.length === 0
        ? e.start >= region.start - 1 && e.start <= region.end
        : e.start >= region.start && e.end <= region.end;
    if (!inside) return `@@ ${e.start}-${e.end} is outside the lines you may edit (${region.start}-${region.end})`;
  }
  return undefined;
}

/** The lines a request allows edits in, and whether imports may be added at the top besides. */
export interface EditScope {
  region: { start: number; end: number };
  allowImports: boolean;
}

/**
 * The region rule: every edit stays inside the region, except an import added at the top of the
 * file when the scope allows it; those are returned so the answer can report them. `problem` names
 * the first edit refused.
 */
export function checkScope(
  adapter: LanguageAdapter,
  code: string,
  edits: readonly LineRangeEdit[],
  scope: EditScope,
): { problem?: string; imports: LineRangeEdit[] } {
  const imports: LineRangeEdit[] = [];
  for (const e of edits) {
    const outside = outsideRegion([e], scope.region);
    if (!outside) continue;
    const isImport = adapter.isTopImportEdit(code, e);
    if (isImport && scope.allowImports) {
      imports.push(e);
      continue;
    }
    return {
      problem: isImport ? `${outside}; imports may not be added at the top (allow_imports is false)` : outside,
      imports,
    };
  }
  return { imports };
}

/** How many lines an edit set changes (removed plus added, a replaced line counting once). */
export function changedLines(edits: readonly LineRangeEdit[]): number {
  return edits.reduce((n, e) => n + Math.max(e.minus.length, e.plus.length), 0);
}

/** The code after an answer's edits (undefined when it has none); the edits were verified to apply. */
export function editsFromResponse(code: string, answer: { edits: readonly LineEdit[] }): string | undefined {
  if (answer.edits.length === 0) return undefined;
  const ranges = fromLineEdits(code, answer.edits);
  return ranges ? applyLineRangeEdits('snippet', code, ranges) : undefined;
}

/** Where line `line` of the code before `edits` is after them (edits wholly above it shift it; an insertion before it too). */
export function movedLine(edits: readonly LineRangeEdit[], line: number): number {
  return (
    line +
    edits
      .filter((e) => (e.minus.length === 0 ? e.start <= line : e.end < line))
      .reduce((n, e) => n + e.plus.length - e.minus.length, 0)
  );
}
