import type { LineRangeEdit } from '../agent/index.js';
import type { AnalysisResult } from './analysis-container.js';
import { matchDiagnostic } from './diagnostics.js';
import type { LanguageAdapter, RuleCandidate } from './language-adapter.js';
import { checkScope, editsBetween, movedLine, outsideRegion, type EditScope } from './line-edits.js';
import { analysedDiagnostics, type Target, type VerifyOutcome, verifyEdits } from './verify.js';
import type { DiagnosticKind } from './types.js';

/** Kinds the rule tier handles; anything else goes to the model. */
const RULE_ORDER: readonly DiagnosticKind[] = ['undefined_name', 'syntax', 'unused_local', 'unused_import'];

/** Candidates tried per diagnostic; each costs one pyflakes check. */
const MAX_CANDIDATES = 6;

/** Whether an instruction asks for no more than fixing diagnostics (the rule tier never adds type hints). */
export function ruleTierWanted(instruction: string | undefined): boolean {
  if (!instruction || !instruction.trim()) return true;
  return (
    /\b(fix|error|errors|lint|warning|warnings|diagnostic|diagnostics|undefined|import|unused|typo|syntax)\b/i.test(
      instruction,
    ) &&
    !/\b(add|write|refactor|rename|type hints?|docstring|optimi[sz]e|implement)\b/i.test(
      instruction.replace(/\bfix\b.*/i, ''),
    )
  );
}

/** The rule tier's answer: verified edits and the rules that made them. */
export interface RuleTierResult {
  edits: LineRangeEdit[];
  outcome: VerifyOutcome;
  rules: string[];
  analysisMs: number;
  /** Edits outside the region that the scope allows: imports added at the top. */
  imports: LineRangeEdit[];
}

/**
 * Fixes the targeted diagnostics one at a time with the deterministic fixers, keeping a candidate
 * only when it verifies (the target gone, nothing new), then verifies the combined edits against
 * the original code. Undefined names go first: renaming a misspelt definition also clears the
 * "assigned but never used" warning it caused. Undefined when any target is beyond the rules.
 */
export async function runRuleTier(
  adapter: LanguageAdapter,
  code: string,
  beforeAnalysis: AnalysisResult,
  targets: readonly Target[],
  maxEdits: number,
  scope: EditScope,
): Promise<RuleTierResult | undefined> {
  if (targets.length === 0 || !targets.every((t) => RULE_ORDER.includes(t.diagnostic.kind))) return undefined;
  const ordered = [...targets].sort(
    (a, b) => RULE_ORDER.indexOf(a.diagnostic.kind) - RULE_ORDER.indexOf(b.diagnostic.kind),
  );
  let current = code;
  let analysis = beforeAnalysis;
  let analysisMs = 0;
  const rules: string[] = [];
  const steps: Array<{ from: string; outcome: VerifyOutcome }> = [];
  for (const target of ordered) {
    const diagnostics = analysedDiagnostics(adapter, current, analysis);
    // Lines move as fixes land: find the target again in the current code's diagnostics.
    const now = analysis.available ? matchDiagnostic(target.diagnostic, diagnostics) : target.diagnostic;
    if (!now) continue; // an earlier fix cleared it too
    const step: Target = { diagnostic: now, analysable: analysis.available };
    let accepted: { candidate: RuleCandidate; outcome: VerifyOutcome } | undefined;
    const candidates = adapter.ruleFixers
      .filter((f) => f.kinds.includes(now.kind))
      .flatMap((f) => f.propose({ code: current, target: now, diagnostics }));
    for (const candidate of candidates.slice(0, MAX_CANDIDATES)) {
      // The region rule before any pyflakes check: a fix outside the lines asked about is no answer.
      if (checkScope(adapter, code, editsBetween(code, candidate.code), scope).problem) continue;
      const outcome = await verifyEdits(adapter, current, analysis, editsBetween(current, candidate.code), [step]);
      analysisMs += outcome.analysisMs;
      if (outcome.ok && (outcome.verification.fixed === true || !analysis.available)) {
        accepted = { candidate, outcome };
        break;
      }
    }
    if (!accepted) return undefined;
    rules.push(`${accepted.candidate.rule}: ${accepted.candidate.description}`);
    steps.push({ from: current, outcome: accepted.outcome });
    current = accepted.candidate.code;
    const rest = ordered.slice(ordered.indexOf(target) + 1);
    if (analysis.available && accepted.outcome.partial && rest.length > 0) {
      // pyflakes saw only the definitions around this fix: the targets left are looked for where they are now.
      const moved = editsBetween(code, current);
      const lines = rest.flatMap((t) => (t.diagnostic.line === undefined ? [] : [movedLine(moved, t.diagnostic.line)]));
      analysis = await adapter.diagnostics(
        current,
        lines.length === rest.length ? { ranges: lines.map((l) => ({ start: l, end: l })) } : undefined,
      );
      analysisMs += analysis.durationMs;
    } else if (analysis.available)
      analysis = {
        available: true,
        diagnostics: accepted.outcome.verification.diagnostics_after,
        version: analysis.version,
        durationMs: 0,
      };
  }
  const edits = editsBetween(code, current);
  if (edits.length === 0 || edits.length > maxEdits) return undefined;
  const { problem, imports } = checkScope(adapter, code, edits, scope);
  if (problem) return undefined;
  // One fix for one target was verified against the original already: no need to check it twice.
  if (steps.length === 1 && targets.length === 1 && steps[0]!.from === code)
    return { edits, outcome: steps[0]!.outcome, rules, analysisMs, imports };
  const outcome = await verifyEdits(adapter, code, beforeAnalysis, edits, targets);
  analysisMs += outcome.analysisMs;
  return outcome.ok ? { edits, outcome, rules, analysisMs, imports } : undefined;
}

/** Line `line` of the code before `edits` as numbered after them (edits wholly above it shift it). */
function shifted(edits: readonly LineRangeEdit[], line: number): number {
  return (
    line +
    edits
      .filter((e) => (e.minus.length === 0 ? e.start < line : e.end < line))
      .reduce((n, e) => n + e.plus.length - e.minus.length, 0)
  );
}

/**
 * The rule tier on top of a `previous` proposal the instruction keeps: the rules work on the code
 * with it applied, and the answer is the whole change from the original (the kept proposal plus
 * the rule fixes), verified against the original. Only the rules' own edits are held to the scope;
 * the kept proposal is the caller's.
 */
export async function runRuleTierKeeping(
  adapter: LanguageAdapter,
  code: string,
  beforeAnalysis: AnalysisResult,
  targets: readonly Target[],
  maxEdits: number,
  scope: EditScope,
  kept: { edits: readonly LineRangeEdit[]; code: string; analysis: AnalysisResult; targets: readonly Target[] },
): Promise<RuleTierResult | undefined> {
  const region = { start: shifted(kept.edits, scope.region.start), end: shifted(kept.edits, scope.region.end) };
  const onTop = await runRuleTier(adapter, kept.code, kept.analysis, kept.targets, maxEdits, { ...scope, region });
  if (!onTop) return undefined;
  const edits = editsBetween(code, adapter.apply(kept.code, onTop.edits));
  if (edits.length > maxEdits) return undefined;
  const outcome = await verifyEdits(adapter, code, beforeAnalysis, edits, targets);
  const analysisMs = onTop.analysisMs + outcome.analysisMs;
  if (!outcome.ok) return undefined;
  const imports = onTop.imports.length
    ? edits.filter((e) => outsideRegion([e], scope.region) && adapter.isTopImportEdit(code, e))
    : [];
  return {
    edits,
    outcome,
    rules: [...onTop.rules, 'the previous proposal is kept, as the instruction asks'],
    analysisMs,
    imports,
  };
}
