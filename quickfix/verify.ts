import { EditFailure, type LineRangeEdit } from '../agent/index.js';
import type { AnalysisResult } from './analysis-container.js';
import { describeDiagnostics, newDiagnostics, stillReported } from './diagnostics.js';
import type { LanguageAdapter } from './language-adapter.js';
import { splitLines } from './python/text.js';
import type { Diagnostic, FixedVerdict, Verification } from './types.js';

/** A diagnostic the request asks to fix; `analysable` when pyflakes or the parser reports it, so "fixed" can be claimed. */
export interface Target {
  diagnostic: Diagnostic;
  analysable: boolean;
}

/** What verification found: whether the edits may be returned, and exactly what failed when not. */
export interface VerifyOutcome {
  ok: boolean;
  after?: string;
  verification: Verification;
  /** The exact failure, worded for the repair round. */
  problem?: string;
  analysisMs: number;
  /** Set when pyflakes saw only part of the edited code (a skeleton): diagnostics_after covers those parts. */
  partial?: boolean;
}

/** Diagnostics of code as verification reports them: pyflakes' when it ran, else the host parser's. */
export function analysedDiagnostics(adapter: LanguageAdapter, code: string, analysis: AnalysisResult): Diagnostic[] {
  if (analysis.available) return analysis.diagnostics;
  const parsed = adapter.parse(code);
  return parsed.ok ? [] : [{ line: parsed.line, message: 'the code does not parse', kind: 'syntax', source: 'parser' }];
}

/** Lines of the edited code that the edits wrote (with one line around), numbered in the new code. */
function touchedLines(edits: readonly LineRangeEdit[]): Set<number> {
  const touched = new Set<number>();
  let offset = 0;
  for (const e of [...edits].sort((a, b) => a.start - b.start)) {
    const first = (e.minus.length === 0 ? e.start + 1 : e.start) + offset;
    for (let l = first - 1; l <= first + Math.max(e.plus.length, 1); l++) touched.add(l);
    offset += e.plus.length - e.minus.length;
  }
  return touched;
}

function lineText(code: string, line: number | undefined): string {
  return line === undefined ? '' : `\n    ${line}| ${splitLines(code)[line - 1] ?? ''}`;
}

/** The edits applied to `before`, or the outcome saying why they do not apply (or change nothing). */
function applyEdits(
  adapter: LanguageAdapter,
  before: string,
  edits: readonly LineRangeEdit[],
  base: Verification,
): { after: string } | { failed: VerifyOutcome } {
  let after: string;
  try {
    after = adapter.apply(before, edits);
  } catch (err) {
    if (!(err instanceof EditFailure)) throw err;
    return {
      failed: {
        ok: false,
        verification: { ...base, reason: err.message },
        problem: `the edits do not apply: ${err.message}`,
        analysisMs: 0,
      },
    };
  }
  if (after === before)
    return {
      failed: {
        ok: false,
        verification: { ...base, applies: true, parses: adapter.parse(after).ok, reason: 'the edits change nothing' },
        problem: 'the edits leave the code exactly as it was',
        analysisMs: 0,
      },
    };
  return { after };
}

/** The outcome for edited code that does not parse, naming its first syntax error's line. */
function unparsedOutcome(
  after: string,
  line: number | undefined,
  base: Verification,
  checked: string[],
): VerifyOutcome {
  const message = `the edited code does not parse (first syntax error near line ${line})`;
  return {
    ok: false,
    after,
    verification: {
      ...base,
      applies: true,
      checked,
      diagnostics_after: [{ line, message: 'the code does not parse', kind: 'syntax', source: 'parser' }],
      reason: message,
    },
    problem: `${message}:${lineText(after, line)}`,
    analysisMs: 0,
  };
}

/**
 * Before and after are analysed alike: the definitions around the edits (and the names they add
 * or take away) as the whole file's analysis would see them, or both whole files.
 */
async function analyseBeforeAndAfter(
  adapter: LanguageAdapter,
  before: string,
  after: string,
  beforeAnalysis: AnalysisResult,
  diagnosticsBefore: readonly Diagnostic[],
  foci: ReturnType<NonNullable<LanguageAdapter['editFoci']>> | undefined,
): Promise<{ beforeView: AnalysisResult; afterAnalysis: AnalysisResult; analysisMs: number }> {
  let beforeView = beforeAnalysis;
  let afterAnalysis = beforeAnalysis;
  let analysisMs = 0;
  if (beforeAnalysis.available) {
    // Code that does not parse shows pyflakes nothing but its syntax error, whatever part of it is analysed.
    if (!diagnosticsBefore.some((d) => d.kind === 'syntax')) {
      beforeView = await adapter.diagnostics(before, foci?.before);
      analysisMs += beforeView.durationMs;
    }
    afterAnalysis = await adapter.diagnostics(after, foci?.after);
    analysisMs += afterAnalysis.durationMs;
  }
  return { beforeView, afterAnalysis, analysisMs };
}

/**
 * The problems the edits introduce. pyflakes reports nothing but the syntax error for code that
 * does not parse, so problems it hid appear once the error is fixed. Then a problem counts as new
 * only when it sits on an edited line and is about a name the old code never mentioned (the edit
 * brought it in).
 */
function introducedProblems(
  before: string,
  edits: readonly LineRangeEdit[],
  diagnosticsBefore: readonly Diagnostic[],
  diagnosticsAfter: readonly Diagnostic[],
): Diagnostic[] {
  const beforeParsed = !diagnosticsBefore.some((d) => d.kind === 'syntax');
  const touched = touchedLines(edits);
  const mentioned = (name: string | undefined) =>
    name !== undefined &&
    new RegExp(`(?<![\\w])${(name.split(/[ .]/).filter(Boolean).pop() ?? name).replace(/[^\w]/g, '')}(?![\\w])`).test(
      before,
    );
  return newDiagnostics(diagnosticsBefore, diagnosticsAfter).filter(
    (d) => beforeParsed || (d.line !== undefined && touched.has(d.line) && !mentioned(d.name)),
  );
}

/** Why edits that passed every check are returned, and how far "fixed" could be judged. */
function passedReason(fixed: FixedVerdict, targets: readonly Target[]): string {
  return fixed === true
    ? 'the targeted diagnostics are gone and nothing new is reported'
    : targets.length === 0
      ? 'no diagnostic was targeted: the edits apply, parse and add no pyflakes problem'
      : `pyflakes and the parser do not report ${targets
          .filter((t) => !t.analysable)
          .map((t) => JSON.stringify(t.diagnostic.message.slice(0, 80)))
          .join(', ')}: the edits apply, parse and add no pyflakes problem, but whether they fix it is unknown`;
}

/**
 * Checks edits before they are returned: they apply, the result parses (tree-sitter, on the host),
 * and pyflakes (in the analysis container) reports no new problem and no longer reports the
 * targeted one. "Fixed" is claimed only for targets pyflakes or the parser reports.
 */
export async function verifyEdits(
  adapter: LanguageAdapter,
  before: string,
  beforeAnalysis: AnalysisResult,
  edits: readonly LineRangeEdit[],
  targets: readonly Target[],
): Promise<VerifyOutcome> {
  const diagnosticsBefore = analysedDiagnostics(adapter, before, beforeAnalysis);
  const analyser = beforeAnalysis.available
    ? { available: true, version: beforeAnalysis.version }
    : { available: false, reason: beforeAnalysis.reason };
  const base: Verification = {
    applies: false,
    parses: false,
    diagnostics_before: diagnosticsBefore,
    diagnostics_after: [],
    fixed: false,
    checked: ['edits apply'],
    analyser,
  };
  const applied = applyEdits(adapter, before, edits, base);
  if ('failed' in applied) return applied.failed;
  const { after } = applied;
  // What pyflakes will read, worked out before the parse check: it reads the code before the edits
  // first, then the code after them (the parse check's tree), so each is parsed once.
  const targetLines = targets
    .filter((t) => t.analysable && t.diagnostic.line !== undefined)
    .map((t) => t.diagnostic.line!);
  const foci = beforeAnalysis.available ? adapter.editFoci?.(before, after, edits, targetLines) : undefined;
  const parsed = adapter.parse(after);
  const checked = ['edits apply', 'tree-sitter parse'];
  if (!parsed.ok) return unparsedOutcome(after, parsed.line, base, checked);
  const analysed = await analyseBeforeAndAfter(adapter, before, after, beforeAnalysis, diagnosticsBefore, foci);
  const { beforeView, analysisMs } = analysed;
  let { afterAnalysis } = analysed;
  if (beforeView !== beforeAnalysis) {
    base.diagnostics_before = analysedDiagnostics(adapter, before, beforeView);
    if (!beforeView.available) base.analyser = { available: false, reason: beforeView.reason };
  }
  const diagnosticsAfter = analysedDiagnostics(adapter, after, afterAnalysis);
  const verification: Verification = {
    ...base,
    applies: true,
    parses: true,
    checked,
    diagnostics_after: diagnosticsAfter,
    fixed: 'unknown',
  };
  if (afterAnalysis.available && !beforeView.available) afterAnalysis = beforeView;
  if (!afterAnalysis.available) {
    verification.analyser = { available: false, reason: afterAnalysis.reason };
    verification.reason = `pyflakes could not run (${afterAnalysis.reason}); only "applies" and "parses" were checked, so no fix is claimed`;
    return { ok: true, after, verification, analysisMs };
  }
  checked.push(`pyflakes ${afterAnalysis.version}`);
  if (afterAnalysis.view) checked.push(afterAnalysis.view);

  const fresh = introducedProblems(before, edits, base.diagnostics_before, diagnosticsAfter);
  const analysable = targets.filter((t) => t.analysable);
  const remaining = analysable.filter((t) => stillReported(t.diagnostic, diagnosticsAfter));
  let fixed: FixedVerdict;
  if (remaining.length > 0) fixed = false;
  else if (analysable.length > 0 && analysable.length === targets.length) fixed = fresh.length === 0;
  else fixed = 'unknown';
  verification.fixed = fresh.length > 0 ? false : fixed;
  const problems: string[] = [];
  if (fresh.length) problems.push(`the edits introduce new problems:\n${describeDiagnostics(fresh)}`);
  if (remaining.length)
    problems.push(`still reported after the edits:\n${describeDiagnostics(remaining.map((t) => t.diagnostic))}`);
  if (problems.length) {
    verification.reason = problems.join('\n');
    return { ok: false, after, verification, problem: problems.join('\n'), analysisMs };
  }
  verification.reason = passedReason(fixed, targets);
  return { ok: true, after, verification, analysisMs, ...(afterAnalysis.view ? { partial: true } : {}) };
}
