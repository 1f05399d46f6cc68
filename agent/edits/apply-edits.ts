import type { SearchReplaceEdit } from './model-output.js';

/** Why an edit could not be applied: each becomes a failure category the agent reflects on. */
export type EditFailureCategory =
  | 'malformed_output'
  | 'search_not_found'
  | 'ambiguous_match'
  | 'path_outside_repo'
  | 'edits_tests'
  | 'syntax_error'
  | 'no_change';

/** An edit that failed, with a message the model can act on next attempt. */
export class EditFailure extends Error {
  constructor(
    readonly category: EditFailureCategory,
    message: string,
  ) {
    super(message);
    this.name = 'EditFailure';
  }
}

const lines = (text: string) => text.replace(/\n$/, '').split('\n');

/** Where `search` occurs: exactly first, then ignoring trailing whitespace; [] or several means failure. */
function locate(content: string, search: string): Array<{ start: number; end: number }> {
  const exact: Array<{ start: number; end: number }> = [];
  for (let at = content.indexOf(search); at >= 0; at = content.indexOf(search, at + 1))
    exact.push({ start: at, end: at + search.length });
  if (exact.length > 0) return exact;
  // Tolerant: line by line, trailing whitespace ignored, whole lines only.
  const have = content.split('\n');
  const want = lines(search).map((l) => l.trimEnd());
  const offsets: number[] = [];
  let offset = 0;
  for (const line of have) {
    offsets.push(offset);
    offset += line.length + 1;
  }
  const found: Array<{ start: number; end: number }> = [];
  for (let i = 0; i + want.length <= have.length; i++) {
    if (want.every((w, k) => have[i + k]!.trimEnd() === w)) {
      const last = i + want.length - 1;
      found.push({ start: offsets[i]!, end: Math.min(content.length, offsets[last]! + have[last]!.length + 1) });
    }
  }
  return found;
}

/**
 * Applies search/replace edits in order to the files they name. `read` gives a file's current
 * text, or undefined when it does not exist. Returns the new text of every touched file.
 */
export function applySearchReplace(
  edits: readonly SearchReplaceEdit[],
  read: (path: string) => string | undefined,
): Map<string, string> {
  const current = new Map<string, string | undefined>();
  const get = (path: string) => (current.has(path) ? current.get(path) : read(path));
  for (const edit of edits) {
    const content = get(edit.path);
    if (edit.search === '') {
      if (content !== undefined && content.trim() !== '') {
        throw new EditFailure(
          'ambiguous_match',
          `${edit.path}: an empty SEARCH only creates a missing file, and ${edit.path} exists; quote the lines to replace`,
        );
      }
      current.set(edit.path, edit.replace);
      continue;
    }
    if (content === undefined)
      throw new EditFailure('search_not_found', `${edit.path}: no such file (an empty SEARCH creates one)`);
    const places = locate(content, edit.search);
    if (places.length === 0) {
      throw new EditFailure(
        'search_not_found',
        `${edit.path}: the SEARCH text does not match the file; copy the lines exactly, including indentation:\n${edit.search.slice(0, 400)}`,
      );
    }
    if (places.length > 1) {
      throw new EditFailure(
        'ambiguous_match',
        `${edit.path}: the SEARCH text matches ${places.length} places; include more surrounding lines so it matches once`,
      );
    }
    const { start, end } = places[0]!;
    const replaced = content.slice(start, end);
    // Keep the file's final newline when the match was its last line without one.
    const replacement = replaced.endsWith('\n') || edit.replace === '' ? edit.replace : edit.replace.replace(/\n$/, '');
    current.set(edit.path, content.slice(0, start) + replacement + content.slice(end));
  }
  return new Map([...current].filter((entry): entry is [string, string] => entry[1] !== undefined));
}
