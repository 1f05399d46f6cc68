import type { FileSummary, PySymbol } from './python-parse.js';
import type { RepoIndex } from './repo-index.js';
import { withoutEnvironmentReport } from './issue-text.js';
import { tokenize } from './tokenize.js';

/**
 * The pseudo-symbol for a file's module level: lines outside every function and class (imports,
 * constants, module code). Gold functions name it when a patch changes such lines, and the
 * function ranking offers it (scored on those lines), so module-level changes can be found.
 */
export const MODULE_SYMBOL = '<module>';

/** One ranked function, method, class or the `<module>` pseudo-symbol of a file. */
export interface RankedSymbol {
  qualname: string;
  kind: PySymbol['kind'] | 'module';
  startLine: number;
  endLine: number;
  score: number;
}

/**
 * Weights of the function ranking, measured on the tuning rows' gold functions (README, "Function-
 * level output"). Tried and left out because they found no more gold functions on either set: a
 * separate docstring weight (the docstring is part of the body already), the names around a symbol
 * (its class), its name or `Class.method` written as code in the issue, and traceback frames (their
 * text already carries the function names and code lines the body words meet).
 */
const WEIGHTS = {
  /** An issue word in the symbol's own name (times its IDF). */
  name: 3,
  /** An issue word in the symbol's own lines (those no nested symbol holds), saturating with its count. */
  body: 2,
  /** The share of its best caller's score (in the file) a symbol gains: fixes often land in a helper of the code an issue describes. */
  callers: 0.1,
  /**
   * `<module>` is held at this rank at worst: patches add imports and constants (module level is
   * 33 of the 186 gold functions on the tuning rows), while an issue rarely names what they need.
   */
  moduleHold: 5,
};

/** The keyword and name opening a `def` or `class` line. */
const DEFINITION_HEADER = /^\s*(?:async\s+)?(?:def|class)\s+\w+/;

/** For each line of a file (0-based), the index in `summary.symbols` of the innermost symbol holding it, or -1 at module level. */
function lineOwners(summary: FileSummary, lineCount: number): number[] {
  const owner = new Array<number>(lineCount).fill(-1);
  // Widest first, so each nested symbol overwrites its lines in its parent's span.
  const order = summary.symbols
    .map((_, i) => i)
    .sort((a, b) => {
      const sa = summary.symbols[a]!;
      const sb = summary.symbols[b]!;
      return sb.endLine - sb.startLine - (sa.endLine - sa.startLine);
    });
  for (const i of order) {
    const s = summary.symbols[i]!;
    for (let l = s.startLine; l <= Math.min(s.endLine, lineCount); l++) owner[l - 1] = i;
  }
  return owner;
}

/**
 * A file's symbols, most likely to change for an issue first, with `<module>` (the lines outside
 * every symbol: imports, constants, module code) as a candidate, held within the top five. Each
 * issue word counts by its rarity among the file's symbols (IDF) where it appears in a symbol's own
 * lines (its body less nested symbols, docstring included) and, more, in its own name; a symbol then
 * gains a tenth of the best score among its callers in the file. Ties: the shorter span, then the
 * earlier line. Without `text`, docstrings stand in for bodies.
 */
export function rankSymbols(summary: FileSummary, issueTokens: ReadonlySet<string>, text?: string): RankedSymbol[] {
  const lines = text ? text.split('\n') : [];
  // A final newline ends the last line; it does not start another.
  const lineCount = text?.endsWith('\n') ? lines.length - 1 : lines.length;
  const lastLine = Math.max(1, lineCount, ...summary.symbols.map((s) => s.endLine));
  const owner = lineOwners(summary, lines.length);
  const n = summary.symbols.length + 1;
  const module = n - 1;
  const issueWords = (words: string) => tokenize(words).filter((t) => issueTokens.has(t));
  // Per chunk (each symbol, then module level): the issue words of its own lines, with counts, and the names it calls.
  const body = Array.from({ length: n }, () => new Map<string, number>());
  const calls = Array.from({ length: n }, () => new Set<string>());
  const count = (chunk: number, words: string) => {
    for (const t of issueWords(words)) body[chunk]!.set(t, (body[chunk]!.get(t) ?? 0) + 1);
  };
  lines.forEach((line, i) => {
    const chunk = owner[i] === -1 ? module : owner[i]!;
    count(chunk, line);
    // A header's own name is no call: `def render(` would lift every other `render` in the file
    // (same-named methods of other classes) by its own score. Defaults and bases after it still count.
    const code = line.replace(DEFINITION_HEADER, '');
    if (code.includes('(')) for (const m of code.matchAll(/(\w+)\s*\(/g)) calls[chunk]!.add(m[1]!);
  });
  if (!text) {
    summary.symbols.forEach((s, i) => count(i, s.docstring ?? ''));
    count(module, summary.docstring ?? '');
  }
  const names = summary.symbols.map((s) => new Set(issueWords(s.name)));
  const df = new Map<string, number>();
  for (let i = 0; i < n; i++)
    for (const t of new Set([...(names[i] ?? []), ...body[i]!.keys()])) df.set(t, (df.get(t) ?? 0) + 1);
  const idf = (t: string) => Math.log(1 + (n - (df.get(t) ?? 0) + 0.5) / ((df.get(t) ?? 0) + 0.5));
  const own = Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (const [t, c] of body[i]!) s += (WEIGHTS.body * idf(t) * c) / (c + 1);
    for (const t of names[i] ?? []) s += WEIGHTS.name * idf(t);
    return s;
  });
  const byName = new Map<string, number[]>();
  summary.symbols.forEach((s, i) => byName.set(s.name, [...(byName.get(s.name) ?? []), i]));
  const bestCaller = new Array<number>(n).fill(0);
  calls.forEach((called, j) => {
    for (const name of called)
      for (const i of byName.get(name) ?? []) if (i !== j) bestCaller[i] = Math.max(bestCaller[i]!, own[j]!);
  });
  const ranked: RankedSymbol[] = [
    ...summary.symbols.map((s, i) => ({
      qualname: s.qualname,
      kind: s.kind,
      startLine: s.startLine,
      endLine: s.endLine,
      score: own[i]! + WEIGHTS.callers * bestCaller[i]!,
    })),
    { qualname: MODULE_SYMBOL, kind: 'module' as const, startLine: 1, endLine: lastLine, score: own[module]! },
  ].sort(
    (a, b) => b.score - a.score || a.endLine - a.startLine - (b.endLine - b.startLine) || a.startLine - b.startLine,
  );
  const at = ranked.findIndex((c) => c.qualname === MODULE_SYMBOL);
  if (at >= WEIGHTS.moduleHold) ranked.splice(WEIGHTS.moduleHold - 1, 0, ...ranked.splice(at, 1));
  return ranked;
}

/** The top functions of each of some files (files the index lacks get none). */
export interface FileFunctions {
  path: string;
  functions: RankedSymbol[];
}

/** For each of `paths` (a set's files, in rank order), its `top` symbols most related to `issue`. */
export function rankFunctions(index: RepoIndex, paths: readonly string[], issue: string, top = 10): FileFunctions[] {
  const issueTokens = new Set(tokenize(withoutEnvironmentReport(issue)));
  const byPath = new Map(index.summaries.map((s) => [s.path, s]));
  return paths.map((path) => {
    const summary = byPath.get(path);
    return { path, functions: summary ? rankSymbols(summary, issueTokens, index.texts.get(path)).slice(0, top) : [] };
  });
}

/**
 * The old-side (base) lines a unified diff changes, per file: every removed line, and for an
 * added run with no removed line beside it, the base lines either side of the insertion point
 * (an insertion touches the code around it). New files (`--- /dev/null`) have no base lines.
 */
export function changedBaseLines(
  patch: string,
): Map<string, Array<{ lines: number[]; insertions: Array<[number, number]> }>> {
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
      for (const [before, after] of h.insertions)
        names.add(innermost(summary, before >= 1 ? [before, after] : [after]));
    }
    if (names.size) gold.set(path, [...names].sort());
  }
  return gold;
}
