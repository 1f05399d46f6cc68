import type { Diagnostic, DiagnosticKind, EditRequest } from './types.js';

/** pyflakes message classes and the kinds fixwright's checks and fixers understand. */
const PYFLAKES_KINDS: Record<string, DiagnosticKind> = {
  UndefinedName: 'undefined_name',
  UndefinedLocal: 'undefined_name',
  UnusedImport: 'unused_import',
  UnusedVariable: 'unused_local',
  SyntaxError: 'syntax',
};

/** Common linters' codes for the same kinds (flake8/ruff F821, F401, F841, E999). */
const CODE_KINDS: Record<string, DiagnosticKind> = {
  F821: 'undefined_name',
  F822: 'undefined_name',
  F823: 'undefined_name',
  F401: 'unused_import',
  F841: 'unused_local',
  E999: 'syntax',
};

/** Reads what a message is about from the wording Python, pyflakes, flake8, pylint and editors use. */
export function classifyMessage(message: string, code?: string): { kind: DiagnosticKind; name?: string } {
  const quoted = (re: RegExp) => re.exec(message)?.[1];
  // Python 3 names may be any letters, not only ASCII ones.
  let name =
    quoted(/\bname ['"`]([\p{L}\p{N}_.]+)['"`] is not defined/iu) ??
    quoted(/undefined (?:name|variable) ['"`]?([\p{L}\p{N}_.]+)/iu) ??
    quoted(/local variable ['"`]([\p{L}\p{N}_]+)['"`] (?:referenced|defined)/iu) ??
    quoted(/^['"`]([\p{L}\p{N}_.]+)['"`] is not defined/iu);
  if (name) return { kind: 'undefined_name', name };
  name = quoted(/['"`]([^'"`]+?)['"`] imported but unused/i) ?? quoted(/unused import[:\s]+['"`]?([\w.]+)/i);
  if (name) return { kind: 'unused_import', name };
  name =
    quoted(/local variable ['"`]([\p{L}\p{N}_]+)['"`] is assigned to but never used/iu) ??
    quoted(/unused (?:local )?variable[:\s]+['"`]?(\w+)/i);
  if (name) return { kind: 'unused_local', name };
  if (
    /SyntaxError|IndentationError|invalid syntax|was never closed|unmatched ['"`]?[)\]}]|expected ['"`]?:|unexpected (?:EOF|indent)|unindent does not match/i.test(
      message,
    )
  )
    return { kind: 'syntax' };
  const byCode = code ? CODE_KINDS[code.toUpperCase()] : undefined;
  return byCode ? { kind: byCode } : { kind: 'other' };
}

/** A line number named in a message ("at line 2", "line 2", "file.py:2:5"). */
function lineInMessage(message: string): number | undefined {
  const m = /\bline (\d+)\b/i.exec(message) ?? /\.py:(\d+)(?::\d+)?\b/.exec(message) ?? /^(\d+):\d+\b/.exec(message);
  return m ? Number(m[1]) : undefined;
}

/** Turns the client's diagnostics (strings or {line, message, code}) into classified diagnostics. */
export function clientDiagnostics(items: EditRequest['diagnostics'], lineCount?: number): Diagnostic[] {
  return items.map((item) => {
    const message = typeof item === 'string' ? item : item.message;
    // flake8 and ruff put the rule code in the text: `app.py:3:1: F821 undefined name 'y'`.
    const code =
      typeof item === 'string'
        ? /\b([EFW]\d{3})\b/.exec(item)?.[1]
        : item.code === undefined
          ? undefined
          : String(item.code);
    let line = typeof item === 'string' ? lineInMessage(item) : (item.line ?? lineInMessage(item.message));
    // A line read out of free text past the end of the code is about another file (a traceback's frame).
    if (
      line !== undefined &&
      lineCount !== undefined &&
      (typeof item === 'string' || item.line === undefined) &&
      line > lineCount
    )
      line = undefined;
    const { kind, name } = classifyMessage(message, code);
    return {
      message,
      kind,
      source: 'client' as const,
      ...(line !== undefined ? { line } : {}),
      ...(code ? { code } : {}),
      ...(name ? { name } : {}),
    };
  });
}

/** One raw finding of the analysis server. */
export interface PyflakesFinding {
  line: number;
  col: number;
  kind: string;
  message: string;
  args: Array<string | number>;
}

/** Turns pyflakes' findings into diagnostics with kinds and names. */
export function pyflakesDiagnostics(findings: readonly PyflakesFinding[]): Diagnostic[] {
  return findings.map((f) => {
    const kind = PYFLAKES_KINDS[f.kind] ?? 'other';
    let name = typeof f.args[0] === 'string' ? f.args[0] : undefined;
    if (kind === 'syntax') name = undefined;
    return {
      line: f.line,
      message: f.message,
      kind,
      source: f.kind === 'SyntaxError' ? 'parser' : 'pyflakes',
      code: f.kind,
      ...(name ? { name } : {}),
    };
  });
}

const LINE_REFERENCE = /\bline \d+\b/g;

/** Same problem, ignoring where it is (edits move lines). */
function sameProblem(a: Diagnostic, b: Diagnostic): boolean {
  if (a.kind === 'syntax' && b.kind === 'syntax') return true;
  // "redefinition of unused 'f' from line 90" is the same problem once an edit above moves it to line 89.
  if (a.kind === 'other' || b.kind === 'other')
    return a.message.replace(LINE_REFERENCE, 'line N') === b.message.replace(LINE_REFERENCE, 'line N');
  return a.kind === b.kind && a.name !== undefined && a.name === b.name;
}

/** The analyser's diagnostic a client diagnostic refers to (same kind and name, nearest line), if any. */
export function matchDiagnostic(target: Diagnostic, found: readonly Diagnostic[]): Diagnostic | undefined {
  if (target.kind === 'other') return undefined;
  const candidates = found.filter(
    (d) =>
      d.kind === target.kind &&
      (target.kind === 'syntax' ||
        target.name === undefined ||
        target.name === d.name ||
        (target.kind === 'unused_import' && d.name?.endsWith(`.${target.name}`))),
  );
  if (candidates.length === 0) return undefined;
  if (target.line === undefined) return candidates[0];
  return [...candidates].sort(
    (a, b) => Math.abs((a.line ?? 0) - target.line!) - Math.abs((b.line ?? 0) - target.line!),
  )[0];
}

/** Diagnostics in `after` that `before` did not have (counted per problem, so one more of the same counts). */
export function newDiagnostics(before: readonly Diagnostic[], after: readonly Diagnostic[]): Diagnostic[] {
  const pool = [...before];
  const fresh: Diagnostic[] = [];
  for (const d of after) {
    const i = pool.findIndex((b) => sameProblem(b, d));
    if (i >= 0) pool.splice(i, 1);
    else fresh.push(d);
  }
  return fresh;
}

/** Whether `after` still reports the targeted problem (by kind and name; any syntax error for a syntax target). */
export function stillReported(target: Diagnostic, after: readonly Diagnostic[]): boolean {
  return after.some((d) => sameProblem(target, d));
}

/** One line per diagnostic, for prompts and feedback. */
export function describeDiagnostics(items: readonly Diagnostic[]): string {
  return items.map((d) => `- ${d.line !== undefined ? `line ${d.line}: ` : ''}${d.message}`).join('\n');
}
