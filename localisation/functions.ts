import type { FileSummary, PySymbol } from './python-parse.js';
import type { RepoIndex } from './repo-index.js';
import { tokenize } from './tokenize.js';

/**
 * The pseudo-symbol for a file's module level: lines outside every function and class (imports,
 * constants, module code). Gold functions name it when a patch changes such lines, and the
 * function ranking offers it (scored by the module docstring), so module-level changes can be found.
 */
export const MODULE_SYMBOL = '<module>';

/** How related a symbol is to an issue: the distinct issue words in its qualname and docstring. */
export function symbolRelevance(symbol: Pick<PySymbol, 'qualname' | 'docstring'>, issueTokens: ReadonlySet<string>): number {
  return new Set(tokenize(`${symbol.qualname} ${symbol.docstring ?? ''}`).filter((t) => issueTokens.has(t))).size;
}

/** One ranked function, method, class or the `<module>` pseudo-symbol of a file. */
export interface RankedSymbol {
  qualname: string;
  kind: PySymbol['kind'] | 'module';
  startLine: number;
  endLine: number;
  score: number;
}

/**
 * A file's symbols, most related to the issue first (by `symbolRelevance`; ties: the shorter span,
 * then the earlier line), with `<module>` as a candidate scored on the module docstring.
 */
export function rankSymbols(summary: FileSummary, issueTokens: ReadonlySet<string>): RankedSymbol[] {
  const lastLine = Math.max(1, ...summary.symbols.map((s) => s.endLine));
  const candidates: RankedSymbol[] = [
    ...summary.symbols.map((s) => ({ qualname: s.qualname, kind: s.kind, startLine: s.startLine, endLine: s.endLine, score: symbolRelevance(s, issueTokens) })),
    { qualname: MODULE_SYMBOL, kind: 'module' as const, startLine: 1, endLine: lastLine, score: symbolRelevance({ qualname: '', docstring: summary.docstring }, issueTokens) },
  ];
  return candidates.sort((a, b) => b.score - a.score || a.endLine - a.startLine - (b.endLine - b.startLine) || a.startLine - b.startLine);
}

/** The top functions of each of some files (files the index lacks get none). */
export interface FileFunctions {
  path: string;
  functions: RankedSymbol[];
}

/** For each of `paths` (a set's files, in rank order), its `top` symbols most related to `issue`. */
export function rankFunctions(index: RepoIndex, paths: readonly string[], issue: string, top = 10): FileFunctions[] {
  const issueTokens = new Set(tokenize(issue));
  const byPath = new Map(index.summaries.map((s) => [s.path, s]));
  return paths.map((path) => {
    const summary = byPath.get(path);
    return { path, functions: summary ? rankSymbols(summary, issueTokens).slice(0, top) : [] };
  });
}

/**
 * The old-side (base) lines a unified diff changes, per file: every removed line, and for an
 * added run with no removed line beside it, the base lines either side of the insertion point
 * (an insertion touches the code around it). New files (`--- /dev/null`) have no base lines.
 */
export function changedBaseLines(patch: string): Map<string, Array<{ lines: number[]; insertions: Array<[number, number]> }>> {
  const out = new Map<string, Array<{ lines: number[]; insertions: Array<[number, number]> }>>();
  let file: string | undefined;
  let oldLine = 0;
  let hunk: { lines: number[]; insertions: Array<[number, number]> } | undefined;
  let pendingInsert = false;
  let removedInRun = false;
  const flush = () => {
    if (hunk && pendingInsert && !removedInRun) hunk.insertions.push([oldLine - 1, oldLine]);
    pendingInsert = false;
    removedInRun = false;
  };
  for (const line of patch.split('\n')) {
    const header = /^diff --git a\/(\S+) b\/(\S+)$/.exec(line);
    if (header) {
      flush();
      file = header[1];
      hunk = undefined;
      continue;
    }
    if (line.startsWith('--- /dev/null')) {
      file = undefined;
      continue;
    }
    const at = /^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@/.exec(line);
    if (at) {
      flush();
      if (!file) continue;
      oldLine = Number(at[1]);
      hunk = { lines: [], insertions: [] };
      out.set(file, [...(out.get(file) ?? []), hunk]);
      continue;
    }
    if (!hunk || !file) continue;
    if (line.startsWith('-') && !line.startsWith('---')) {
      hunk.lines.push(oldLine++);
      removedInRun = true;
    } else if (line.startsWith('+') && !line.startsWith('+++')) {
      pendingInsert = true;
    } else if (line.startsWith(' ') || line === '') {
      flush();
      oldLine++;
    } else if (line.startsWith('\\')) {
      continue;
    }
  }
  flush();
  return out;
}

/** The innermost symbol spanning every one of `lines`, or `<module>` when none does. */
function innermost(summary: FileSummary, lines: number[]): string {
  let best: PySymbol | undefined;
  for (const s of summary.symbols) {
    if (!lines.every((l) => s.startLine <= l && l <= s.endLine)) continue;
    if (!best || s.endLine - s.startLine < best.endLine - best.startLine) best = s;
  }
  return best?.qualname ?? MODULE_SYMBOL;
}

/**
 * The gold functions of a patch: for each changed file the index holds at the base commit, the
 * innermost function, method or class around each removed line, and around each insertion point
 * (the symbol spanning the base lines on both sides of it). Lines outside every symbol (imports,
 * constants, module code) count as the pseudo-symbol `<module>` of that file. Files the index lacks
 * (new files, tests, non-Python) have no base symbols and are left out.
 */
export function goldFunctions(patch: string, summaries: ReadonlyMap<string, FileSummary>): Map<string, string[]> {
  const gold = new Map<string, string[]>();
  for (const [path, hunks] of changedBaseLines(patch)) {
    const summary = summaries.get(path);
    if (!summary) continue;
    const names = new Set<string>();
    for (const h of hunks) {
      for (const l of h.lines) names.add(innermost(summary, [l]));
      for (const [before, after] of h.insertions) names.add(innermost(summary, before >= 1 ? [before, after] : [after]));
    }
    if (names.size) gold.set(path, [...names].sort());
  }
  return gold;
}
