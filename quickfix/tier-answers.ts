import { FixwrightError } from '../core/index.js';
import { EditFailure, type LineRangeEdit } from '../agent/index.js';
import type { AnalysisResult } from './analysis-container.js';
import { clientDiagnostics, matchDiagnostic } from './diagnostics.js';
import type { LanguageAdapter } from './language-adapter.js';
import { type EditScope, renderDsl, toLineEdits } from './line-edits.js';
import { type AskModel, keepsPrevious, runModelTier } from './model-tier.js';
import type { CheckedRequest } from './request-checks.js';
import { runRuleTier, runRuleTierKeeping, type RuleTierResult } from './rule-tier.js';
import type { EditResponse, EditTimings, LineEdit, Verification } from './types.js';
import { analysedDiagnostics, type Target } from './verify.js';

/** An answer before its timings are added. */
export type TierAnswer = Omit<EditResponse, 'timings_ms'>;

/** What every tier answers from: the checked request, its language's adapter, the analysis of the code as it stands. */
export interface AnswerContext {
  request: CheckedRequest;
  adapter: LanguageAdapter;
  /** An earlier answer's edits the request builds on, if any. */
  previous: LineRangeEdit[] | undefined;
  scope: EditScope;
  beforeAnalysis: AnalysisResult;
  targets: Target[];
  /** Added to by each tier as it runs. */
  timings: EditTimings;
}

/** The diagnostics the request targets, each matched to what pyflakes or the parser reports when it can be. */
export function targetsOf(
  adapter: LanguageAdapter,
  request: CheckedRequest,
  analysis: AnalysisResult,
  code = request.code,
): Target[] {
  const found = analysedDiagnostics(adapter, code, analysis);
  const given = clientDiagnostics(request.diagnostics, request.lineCount);
  if (given.length === 0) {
    // Nothing named: the analyser's own findings inside the region are the targets.
    return found
      .filter(
        (d) => d.kind !== 'other' && d.line !== undefined && d.line >= request.start_line && d.line <= request.end_line,
      )
      .map((d) => ({ diagnostic: d, analysable: analysis.available }));
  }
  return given.map((d) => {
    const matched = analysis.available || d.kind === 'syntax' ? matchDiagnostic(d, found) : undefined;
    return matched && analysis.available
      ? { diagnostic: matched, analysable: true }
      : { diagnostic: d, analysable: false };
  });
}

/** The verification of "no edits": the code as it stands. */
function unchanged(ctx: AnswerContext, reason: string): Verification {
  const { adapter, request, beforeAnalysis: analysis, targets } = ctx;
  const code = request.code;
  const diagnostics = analysedDiagnostics(adapter, code, analysis);
  return {
    applies: true,
    parses: adapter.parse(code).ok,
    diagnostics_before: diagnostics,
    diagnostics_after: diagnostics,
    fixed: targets.some((t) => t.analysable) ? false : 'unknown',
    checked: [
      'tree-sitter parse',
      ...(analysis.available ? [`pyflakes ${analysis.version}`, ...(analysis.view ? [analysis.view] : [])] : []),
    ],
    analyser: analysis.available
      ? { available: true, version: analysis.version }
      : { available: false, reason: analysis.reason },
    reason,
  };
}

/** How answers report the edits allowed outside the requested lines (imports added at the top). */
function outsideRegionReport(edits: LineEdit[]): Pick<EditResponse, 'outside_region'> {
  return edits.length
    ? {
        outside_region: edits.map((e) => ({
          ...e,
          reason:
            'an import added at the top of the file, outside the requested lines (allow_imports: false refuses it)',
        })),
      }
    : {};
}

/** An answer with no edits, the code verified as it stands (fields in the order clients have always received them). */
function noEdits(
  ctx: AnswerContext,
  tier: 'rule' | 'model',
  modelVersion: string | null,
  modelRounds: number,
  reason: string,
  verificationReason = reason,
): TierAnswer {
  return {
    edits: [],
    raw_patch_dsl: '',
    status: 'no_edits',
    tier,
    verification: unchanged(ctx, verificationReason),
    model_version: modelVersion,
    reason,
    model_rounds: modelRounds,
  };
}

/** The rule tier on top of a kept earlier answer: the kept proposal is part of the answer, the rules fix what is left. */
async function rulesKeepingPrevious(
  ctx: AnswerContext,
  previous: LineRangeEdit[],
): Promise<RuleTierResult | undefined> {
  const { adapter, request } = ctx;
  let keptCode: string;
  try {
    keptCode = adapter.apply(request.code, previous);
  } catch (err) {
    if (!(err instanceof EditFailure)) throw err;
    throw new FixwrightError('FW_ERR_BAD_INPUT', `previous does not apply to this code: ${err.message}`, {
      field: 'previous',
    });
  }
  const keptAnalysis = await adapter.diagnostics(keptCode);
  ctx.timings.analysis += keptAnalysis.durationMs;
  const kept = {
    edits: previous,
    code: keptCode,
    analysis: keptAnalysis,
    targets: targetsOf(adapter, request, keptAnalysis, keptCode),
  };
  return runRuleTierKeeping(adapter, request.code, ctx.beforeAnalysis, ctx.targets, request.max_edits, ctx.scope, kept);
}

/** The rule tier's verified fix, or none when no rule fixer produced one. */
export async function ruleTierAnswer(ctx: AnswerContext): Promise<TierAnswer | undefined> {
  const { adapter, request, previous, timings } = ctx;
  const ruleStarted = performance.now();
  const result =
    previous && keepsPrevious(request.instruction)
      ? await rulesKeepingPrevious(ctx, previous)
      : await runRuleTier(adapter, request.code, ctx.beforeAnalysis, ctx.targets, request.max_edits, ctx.scope);
  timings.rule = performance.now() - ruleStarted;
  if (!result) return undefined;
  timings.analysis += result.analysisMs;
  const imports = toLineEdits(result.imports);
  const outside = imports.length
    ? `; outside the requested lines: ${imports.map((e) => `an import at line ${e.start_line}`).join(', ')}`
    : '';
  return {
    edits: toLineEdits(result.edits),
    raw_patch_dsl: renderDsl(result.edits),
    status: 'edited',
    tier: 'rule',
    verification: {
      ...result.outcome.verification,
      reason: `${result.outcome.verification.reason ?? ''} (rules: ${result.rules.join('; ')})${outside}`.trim(),
    },
    ...outsideRegionReport(imports),
    model_version: null,
    model_rounds: 0,
  };
}

/** No rule fixed it and the model tier is switched off (a benchmark measuring the rules alone). */
export function modelTierOffAnswer(ctx: AnswerContext): TierAnswer {
  return noEdits(
    ctx,
    'rule',
    null,
    0,
    'no rule fixer produced a verified fix (the model tier is off)',
    'no rule fixer produced a verified fix',
  );
}

/** Only the rule tier ran: the answer is its, with why the model tier could not follow. */
export function modelUnavailableAnswer(ctx: AnswerContext, ruleTierRan: boolean, unavailable: string): TierAnswer {
  const why = ruleTierRan
    ? 'no rule fixer produced a verified fix'
    : 'the instruction asks for more than fixing diagnostics, which only the model tier does';
  return noEdits(ctx, 'rule', null, 0, `${why}, and the model tier is unavailable: ${unavailable}`);
}

/** The model tier's answer: its verified edits, or no edits with the reason. */
export async function modelTierAnswer(
  ctx: AnswerContext,
  model: { name: string; ask: (temperature: number | undefined) => AskModel },
): Promise<TierAnswer> {
  const { adapter, request, previous, targets, timings } = ctx;
  const result = await runModelTier(
    {
      adapter,
      prompt: {
        code: request.code,
        language: request.language,
        ...(request.file_path ? { filePath: request.file_path } : {}),
        region: { start: request.start_line, end: request.end_line },
        diagnostics: targets.map((t) => t.diagnostic),
        ...(request.instruction ? { instruction: request.instruction } : {}),
        maxEdits: request.max_edits,
        allowImports: ctx.scope.allowImports,
      },
      beforeAnalysis: ctx.beforeAnalysis,
      targets,
      ...(previous ? { previous } : {}),
    },
    model.ask(request.temperature),
  );
  timings.model += result.modelMs;
  timings.analysis += result.analysisMs;
  return result.status === 'no_edits'
    ? // No edits go out, so the verification is of the code as it stands, not of a refused proposal.
      noEdits(ctx, 'model', model.name, result.rounds, result.reason)
    : {
        edits: toLineEdits(result.edits),
        raw_patch_dsl: renderDsl(result.edits),
        status: result.status,
        tier: 'model',
        verification: result.outcome.verification,
        ...outsideRegionReport(toLineEdits(result.imports)),
        model_version: model.name,
        model_rounds: result.rounds,
      };
}
