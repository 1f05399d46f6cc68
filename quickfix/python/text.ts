import type Parser from 'tree-sitter';
import { createRequire } from 'node:module';
import { parsePythonTree } from '../../localisation/index.js';

const require = createRequire(import.meta.url);

/** A Python identifier (letters of any script, digits, underscores). */
export const IDENTIFIER = /^[\p{L}_][\p{L}\p{N}_]*$/u;

/** Edit distance with adjacent transpositions (optimal string alignment): `retrun` is one step from `return`. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The largest edit distance still counted as a near miss of a name this long. */
export function nearMissLimit(length: number): number {
  return length <= 2 ? 1 : length <= 6 ? 2 : 3;
}

/** Whether the letters of `short` appear in order in `long` (an abbreviation or dropped letters). */
export function isSubsequence(short: string, long: string): boolean {
  let i = 0;
  for (const ch of long) if (ch === short[i]) i++;
  return i === short.length;
}

/** Splits code into lines (no final empty line for a trailing newline). */
export function splitLines(code: string): string[] {
  return code === '' ? [] : code.replace(/\n$/, '').split('\n');
}

/** Joins lines back, keeping whether the original ended with a newline. */
export function joinLines(lines: readonly string[], like: string): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}${like.endsWith('\n') || like === '' ? '\n' : ''}`;
}

/** Leading whitespace of a line. */
export function indentOf(line: string): string {
  return /^\s*/.exec(line)![0];
}

/** Trees of the last few texts: a request parses its code, each candidate, and the candidate kept. */
const trees = new Map<string, Parser.Tree>();
const TREES_KEPT = 8;

let incremental: Parser | undefined;

/** A parser of its own for incremental parses (tree-sitter reuses the unchanged parts of an edited tree). */
function incrementalParser(): Parser {
  if (!incremental) {
    const TreeSitter = require('tree-sitter') as typeof Parser;
    incremental = new TreeSitter();
    incremental.setLanguage(require('tree-sitter-python') as Parser.Language);
  }
  return incremental;
}

/** Row and column (UTF-16 units, as the binding counts them) of an index. */
function pointAt(text: string, index: number): Parser.Point {
  let row = 0;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < index; i = text.indexOf('\n', i + 1)) {
    row++;
    lineStart = i + 1;
  }
  return { row, column: index - lineStart };
}

/**
 * Parses `code` by editing the tree of a similar text (a candidate differs from the code it fixes
 * in a few lines): ~2 ms instead of ~20 ms on a 3,000-line file. The old tree's positions then
 * describe the new text, so it is dropped from the cache; undefined when the texts differ too much.
 */
function reparse(baseText: string, base: Parser.Tree, code: string): Parser.Tree | undefined {
  const shorter = Math.min(baseText.length, code.length);
  let prefix = 0;
  while (prefix < shorter && baseText.charCodeAt(prefix) === code.charCodeAt(prefix)) prefix++;
  let suffix = 0;
  while (
    suffix < shorter - prefix &&
    baseText.charCodeAt(baseText.length - 1 - suffix) === code.charCodeAt(code.length - 1 - suffix)
  )
    suffix++;
  const oldEnd = baseText.length - suffix;
  const newEnd = code.length - suffix;
  if (Math.max(oldEnd, newEnd) - prefix > code.length / 4) return undefined;
  trees.delete(baseText);
  base.edit({
    startIndex: prefix,
    oldEndIndex: oldEnd,
    newEndIndex: newEnd,
    startPosition: pointAt(code, prefix),
    oldEndPosition: pointAt(baseText, oldEnd),
    newEndPosition: pointAt(code, newEnd),
  });
  return incrementalParser().parse(code, base, { bufferSize: Math.max(32 * 1024, code.length * 2 + 1024) });
}

/** The tree-sitter tree of the code, parsed once per distinct text while it is among the last few asked for. */
export function treeOf(code: string): Parser.Tree {
  let tree = trees.get(code);
  if (tree) trees.delete(code);
  else {
    const last = [...trees.entries()].pop();
    tree = (last && last[0].length > 20_000 ? reparse(last[0], last[1], code) : undefined) ?? parsePythonTree(code);
  }
  trees.set(code, tree);
  if (trees.size > TREES_KEPT) trees.delete(trees.keys().next().value!);
  return tree;
}

const forgetters: Array<() => void> = [];

/** Registers what else is forgotten with the trees (what was derived from them). */
export function onForgetTrees(forget: () => void): void {
  forgetters.push(forget);
}

/** Forgets the parsed trees, so a benchmark measures each request from a cold start. */
export function forgetTrees(): void {
  trees.clear();
  for (const forget of forgetters) forget();
}

/** Replaces occurrences of identifier `name` at the given (row, column) spots, checking each spot really holds it. */
export function renameAt(
  code: string,
  spots: ReadonlyArray<{ row: number; column: number }>,
  name: string,
  replacement: string,
): string | undefined {
  const lines = splitLines(code);
  // Right to left within a line, so earlier columns stay valid.
  const sorted = [...spots].sort((a, b) => a.row - b.row || b.column - a.column);
  for (const { row, column } of sorted) {
    const line = lines[row];
    if (line === undefined) return undefined;
    let at = line.slice(column, column + name.length) === name ? column : -1;
    if (at < 0) {
      // Columns may count bytes where the line has wide characters: find the identifier by word boundary.
      const re = new RegExp(`(?<![\\p{L}\\p{N}_])${name}(?![\\p{L}\\p{N}_])`, 'gu');
      const hits = [...line.matchAll(re)].map((m) => m.index!);
      if (hits.length !== 1) return undefined;
      at = hits[0]!;
    }
    lines[row] = line.slice(0, at) + replacement + line.slice(at + name.length);
  }
  return joinLines(lines, code);
}
