/**
 * The shapes quick fixes pass around: diagnostics, line edits, verification and the answer. The
 * HTTP schema (`api/schemas/edit.ts`) describes the same answer for clients.
 */

/** How an answer ended: edits, nothing safe to do, or the caller's previous proposal stands. */
export type EditStatus = 'edited' | 'no_edits' | 'kept_previous';
/** Which tier produced the answer. */
export type EditTier = 'rule' | 'model' | 'cache';
/** Whether the targeted diagnostic is gone: only claimed for what pyflakes or the parser reports. */
export type FixedVerdict = true | false | 'unknown';

/** What a diagnostic is about, when fixwright can tell; `other` covers failing tests, type errors and the like. */
export type DiagnosticKind = 'undefined_name' | 'unused_import' | 'unused_local' | 'syntax' | 'other';

/** One problem in the code, from the client or from the analyser. */
export interface Diagnostic {
  /** 1-based; undefined when the client gave no line. */
  line?: number;
  message: string;
  code?: string;
  kind: DiagnosticKind;
  /** The name the diagnostic is about (undefined names, imports, locals). */
  name?: string;
  /** Who reported it. */
  source: 'client' | 'pyflakes' | 'parser';
}

/** One edit as clients see it: lines start..end replaced by `replacement`; an insertion has end_line = start_line - 1. */
export interface LineEdit {
  start_line: number;
  end_line: number;
  replacement: string;
}

/** What was checked before an answer went out. */
export interface Verification {
  applies: boolean;
  parses: boolean;
  diagnostics_before: Diagnostic[];
  diagnostics_after: Diagnostic[];
  fixed: FixedVerdict;
  /** The checks that ran, in words ("edits apply", "tree-sitter parse", "pyflakes"). */
  checked: string[];
  /** Whether pyflakes could run; when not, why. */
  analyser: { available: boolean; reason?: string; version?: string };
  /** Why `fixed` is what it is, or why the edits were refused. */
  reason?: string;
}

/** Timings of one request, with fixwright's own overhead apart from the model's time. */
export interface EditTimings {
  total: number;
  rule: number;
  model: number;
  analysis: number;
  overhead: number;
}

/** A diagnostic object from a client; only line, message and code shape the fix, the rest is accepted and ignored. */
export interface ClientDiagnostic {
  /** 1-based line in the request's code. */
  line?: number;
  column?: number;
  message: string;
  code?: string | number;
  severity?: string | number;
  source?: string;
}

/** A quick-fix request, validated (the HTTP body or the CLI's flags). */
export interface EditRequest {
  language: string;
  code: string;
  file_path?: string;
  start_line: number;
  end_line: number;
  /** Text, or objects as editors send them (an LSP server's `code` may be a number). */
  diagnostics: Array<string | ClientDiagnostic>;
  instruction?: string;
  max_edits?: number;
  temperature?: number;
  /** An earlier proposal for this same code: its DSL text or its edits. */
  previous?: string | LineEdit[];
  /** Whether an import may be added at the top of the file, outside the lines allowed (default true); such edits are reported. */
  allow_imports?: boolean;
}

/** The answer to a quick-fix request. */
export interface EditResponse {
  edits: LineEdit[];
  raw_patch_dsl: string;
  status: EditStatus;
  tier: EditTier;
  /** For cache hits: the tier that first produced the answer. */
  cached_tier?: Exclude<EditTier, 'cache'>;
  verification: Verification;
  model_version: string | null;
  /** Why there are no edits (no model configured, the model's edits failed verification…). */
  reason?: string;
  /** The edits outside [start_line, end_line] (only imports added at the top, when allowed), and why each was allowed. */
  outside_region?: Array<LineEdit & { reason: string }>;
  /** Model rounds used (0 for the rule tier; 2 when the repair round ran). */
  model_rounds: number;
  timings_ms: EditTimings;
}
