import { EditFailure } from './apply-edits.js';

/** One line-range edit: lines START..END (1-based, inclusive) replaced; `minus` are the lines it removes. */
export interface LineRangeEdit {
  start: number;
  end: number;
  minus: string[];
  plus: string[];
}

/**
 * Reads the line-range DSL: `@@ START-END`, then `-` lines (which must equal the current lines)
 * and `+` lines. `@@ N-N` with only `+` lines inserts after line N; `@@ 0-0` inserts at the top.
 */
export function parseLineRangeEdits(text: string): LineRangeEdit[] {
  const edits: LineRangeEdit[] = [];
  let current: LineRangeEdit | undefined;
  for (const raw of text.replace(/\r\n/g, '\n').split('\n')) {
    const header = /^@@\s*(\d+)\s*-\s*(\d+)\s*(?:@@)?\s*$/.exec(raw.trim());
    if (header) {
      current = { start: Number(header[1]), end: Number(header[2]), minus: [], plus: [] };
      edits.push(current);
      continue;
    }
    if (!current) continue;
    if (raw.startsWith('-')) current.minus.push(raw.slice(1));
    else if (raw.startsWith('+')) current.plus.push(raw.slice(1));
    else if (/^\s*(`{3,}|~{3,})/.test(raw) || raw.trim() !== '') current = undefined; // the hunk ended
  }
  return edits;
}

/** Applies line-range edits to a file's text; every edit refers to the original numbering. */
export function applyLineRangeEdits(path: string, content: string, edits: readonly LineRangeEdit[]): string {
  if (edits.length === 0) throw new EditFailure('malformed_output', 'no @@ START-END edit found');
  const hadFinalNewline = content.endsWith('\n');
  const lines = content === '' ? [] : content.replace(/\n$/, '').split('\n');
  const sorted = [...edits].sort((a, b) => a.start - b.start);
  for (const e of sorted) {
    if (e.start > e.end) throw new EditFailure('malformed_output', `@@ ${e.start}-${e.end}: the range runs backwards`);
    if (e.end > lines.length)
      throw new EditFailure('malformed_output', `@@ ${e.start}-${e.end}: ${path} has only ${lines.length} lines`);
    if (e.minus.length === 0) {
      if (e.start !== e.end)
        throw new EditFailure(
          'malformed_output',
          `@@ ${e.start}-${e.end}: give the - lines it replaces (only @@ N-N inserts after line N)`,
        );
      if (e.plus.length === 0)
        throw new EditFailure('malformed_output', `@@ ${e.start}-${e.end}: the edit has no - or + lines`);
    } else {
      if (e.start < 1) throw new EditFailure('malformed_output', `@@ ${e.start}-${e.end}: line numbers start at 1`);
      const expected = lines.slice(e.start - 1, e.end);
      const matches =
        expected.length === e.minus.length && expected.every((l, i) => l.trimEnd() === e.minus[i]!.trimEnd());
      if (!matches) {
        throw new EditFailure(
          'search_not_found',
          `@@ ${e.start}-${e.end}: the - lines do not equal lines ${e.start}-${e.end} of ${path}:\n${expected.join('\n').slice(0, 400)}`,
        );
      }
    }
  }
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const next = sorted[i]!;
    const prevLast = prev.minus.length === 0 ? prev.start : prev.end;
    if (next.start <= prevLast && !(next.minus.length === 0 && prev.minus.length === 0 && next.start === prev.start)) {
      throw new EditFailure('ambiguous_match', `@@ ${next.start}-${next.end} overlaps @@ ${prev.start}-${prev.end}`);
    }
  }
  // Bottom-up, so earlier numbers stay valid.
  for (const e of [...sorted].reverse()) {
    if (e.minus.length === 0) lines.splice(e.start, 0, ...e.plus);
    else lines.splice(e.start - 1, e.end - e.start + 1, ...e.plus);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}${hadFinalNewline || content === '' ? '\n' : ''}`;
}
