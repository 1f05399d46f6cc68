import type { LineRangeEdit } from '../agent/index.js';
import type { AnalysisResult } from './analysis-container.js';

import type { Diagnostic, DiagnosticKind } from './types.js';

/** Line ranges (1-based, inclusive) an analysis must see exactly, and names whose findings count wherever they are. */
export interface AnalysisFocus {
  ranges: ReadonlyArray<{ start: number; end: number }>;
  names?: readonly string[];
}

/** What a rule fixer sees: the code, the diagnostic it is asked to fix, and every known diagnostic. */
export interface RuleContext {
  code: string;
  target: Diagnostic;
  diagnostics: readonly Diagnostic[];
}

/** One proposed fix: the whole new code (the service turns it into minimal line edits). */
export interface RuleCandidate {
  rule: string;
  description: string;
  code: string;
}

/** A deterministic fixer for one kind of mechanical diagnostic; proposes candidates, best first. */
export interface RuleFixer {
  readonly name: string;
  readonly kinds: readonly DiagnosticKind[];
  propose(context: RuleContext): RuleCandidate[];
}

/** Whether code parses, and where it first does not. */
export interface ParseResult {
  ok: boolean;
  /** 1-based line of the first error. */
  line?: number;
}

/** Everything quick fixes need from a language; Python is the one implemented, others plug in here. */
export interface LanguageAdapter {
  readonly language: string;
  /** Parses on the host (tree-sitter); nothing from the code runs. */
  parse(code: string): ParseResult;
  /**
   * Re-runs the language's diagnostics (pyflakes, in the analysis container): of the whole file, or,
   * with a focus, of what the focus needs (Python: a skeleton keeping the definitions around it),
   * reporting only the diagnostics that analysis finds exactly as the whole file's would.
   */
  diagnostics(code: string, focus?: AnalysisFocus): Promise<AnalysisResult>;
  /** What to analyse before and after edits to verify them (the same definitions in both); undefined: the whole file. */
  editFoci?(
    before: string,
    after: string,
    edits: readonly LineRangeEdit[],
    targetLines: readonly number[],
  ): { before: AnalysisFocus; after: AnalysisFocus } | undefined;
  /** Applies line-range edits (numbered against `code`); throws EditFailure when they do not apply. */
  apply(code: string, edits: readonly LineRangeEdit[]): string;
  readonly ruleFixers: readonly RuleFixer[];
  /** Whether an edit only adds imports at the top of the file (the one edit allowed outside the requested lines). */
  isTopImportEdit(code: string, edit: LineRangeEdit): boolean;
  /** The region an editor means by "line N": the innermost definition around it, else the line. */
  regionAround(code: string, line: number): { start: number; end: number };
  close(): Promise<void>;
}
