import { type Logger, FixwrightError } from '../core/index.js';
import type { LineRangeEdit } from '../agent/edits/index.js';
import { parseLineRangeEdits } from '../agent/edits/index.js';
import { EditFailure } from '../agent/edits/index.js';
import type { AnalysisResult } from './analysis-container.js';
import { clientDiagnostics, matchDiagnostic } from './diagnostics.js';
import { cacheKey, type CachedAnswer, type EditCache } from './edit-cache.js';
import type { LanguageAdapter } from './language-adapter.js';
import { type EditScope, fromLineEdits, renderDsl, toLineEdits } from './line-edits.js';
import { quickfixMetrics } from './metrics.js';
import { type AskModel, keepsPrevious, runModelTier } from './model-tier.js';
import { checkEditRequest, type CheckedRequest } from './request-checks.js';
import { runRuleTier, runRuleTierKeeping, ruleTierWanted } from './rule-tier.js';
import type { EditRequest, EditResponse, EditTimings, LineEdit, Verification } from './types.js';
import { analysedDiagnostics, type Target } from './verify.js';

/** The configured chat model, or the reason there is none. */
export type ModelAccess =
  { name: string; ask: (temperature: number | undefined) => AskModel } | { name: null; reason: string };

/** What a quick-fix service is built from (the factory in `index.ts` wires the real parts). */
export interface QuickFixParts {
  adapters: readonly LanguageAdapter[];
  model: ModelAccess;
  cache?: EditCache;
  logger?: Logger;
  /** Which tiers may answer (a benchmark measures one at a time); both by default. */
  tiers?: ReadonlyArray<'rule' | 'model'>;
}

/** Turns `previous` (DSL text or edits) into line-range edits, or says why it cannot. */
function previousEdits(code: string, previous: EditRequest['previous']): LineRangeEdit[] | undefined {
  if (previous === undefined) return undefined;
  const edits = typeof previous === 'string' ? parseLineRangeEdits(previous) : fromLineEdits(code, previous);
  if (!edits || edits.length === 0)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      "previous must be an earlier answer's raw_patch_dsl or its edits, numbered against this code",
      { field: 'previous' },
    );
  return edits;
}

/** The diagnostics the request targets, each matched to what pyflakes or the parser reports when it can be. */
function targetsOf(
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
function unchanged(
  adapter: LanguageAdapter,
  code: string,
  analysis: AnalysisResult,
  targets: readonly Target[],
  reason: string,
): Verification {
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

/**
 * Quick fixes for editors: checks the request, answers from the cache, else tries the rule tier
 * and then the model tier, verifying every edit before it is returned.
 */
export class QuickFixService {
  private readonly parts: QuickFixParts;
  /** Requests being answered, so a shutdown can let them finish before the analyser goes. */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(parts: QuickFixParts) {
    this.parts = parts;
  }

  /** Languages with an adapter. */
  get languages(): string[] {
    return this.parts.adapters.map((a) => a.language);
  }

  /** The configured model's name, or null. */
  get modelName(): string | null {
    return this.parts.model.name;
  }

  /** The region an editor means by "line N" in this language (the innermost definition around it). */
  regionAround(language: string, code: string, line: number): { start: number; end: number } {
    const adapter = this.parts.adapters.find((a) => a.language === language);
    return adapter ? adapter.regionAround(code, line) : { start: line, end: line };
  }

  /** Answers one request; throws FixwrightError (with the field) for bad input. */
  edit(raw: EditRequest): Promise<EditResponse> {
    const answer = this.answer(raw);
    const settled = answer.catch(() => undefined);
    this.inFlight.add(settled);
    void settled.finally(() => this.inFlight.delete(settled));
    return answer;
  }

  private async answer(raw: EditRequest): Promise<EditResponse> {
    const started = performance.now();
    // Work on \n lines; a CRLF file gets its replacements back with CRLF, as its editor expects.
    const crlf = raw.code.includes('\r\n');
    const request = checkEditRequest(crlf ? { ...raw, code: raw.code.replace(/\r\n/g, '\n') } : raw, this.languages);
    const adapter = this.parts.adapters.find((a) => a.language === request.language)!;
    const previous = previousEdits(request.code, request.previous);
    const tiers = this.parts.tiers ?? ['rule', 'model'];
    const model = this.parts.model;
    const timings: EditTimings = { total: 0, rule: 0, model: 0, analysis: 0, overhead: 0 };
    const finish = (answer: Omit<EditResponse, 'timings_ms'>): EditResponse => {
      timings.total = performance.now() - started;
      timings.overhead = timings.total - timings.model;
      const rounded = Object.fromEntries(
        Object.entries(timings).map(([k, v]) => [k, Math.round(v * 100) / 100]),
      ) as unknown as EditTimings;
      quickfixMetrics.tierSeconds.observe({ tier: answer.tier }, timings.total / 1000);
      quickfixMetrics.requests.inc({ tier: answer.tier, status: answer.status });
      const edits = crlf
        ? answer.edits.map((e) => ({ ...e, replacement: e.replacement.replace(/\n/g, '\r\n') }))
        : answer.edits;
      return { ...answer, edits, timings_ms: rounded };
    };

    // Sampling at a temperature above 0 asks for a different answer each time: never cached.
    const cacheable = this.parts.cache && (request.temperature ?? 0) === 0;
    const scope: EditScope = {
      region: { start: request.start_line, end: request.end_line },
      allowImports: request.allow_imports ?? true,
    };
    const key = cacheKey({
      v: 2,
      language: request.language,
      code: raw.code,
      // The model is shown the path, so the same code under another name may get another answer.
      file_path: request.file_path ?? null,
      allow_imports: scope.allowImports,
      diagnostics: request.diagnostics,
      instruction: request.instruction ?? null,
      model: model.name,
      region: [request.start_line, request.end_line],
      max_edits: request.max_edits,
      previous: previous ? renderDsl(previous) : null,
      tiers,
    });
    if (cacheable) {
      const hit = await this.parts.cache!.get(key);
      if (hit) return finish({ ...hit, tier: 'cache', cached_tier: hit.tier });
    }

    // Analysed around what was asked about: the lines the diagnostics name, else (no diagnostic, or
    // one without a line) the region; the adapter analyses the whole file when it must.
    const given = clientDiagnostics(request.diagnostics, request.lineCount);
    const focus = {
      ranges:
        given.length > 0 && given.every((d) => d.line !== undefined)
          ? given.map((d) => ({ start: d.line!, end: d.line! }))
          : [{ start: request.start_line, end: request.end_line }],
      // Whether an unused import is unused is a whole-file question: every mention of its name is analysed.
      names: given.flatMap((d) =>
        d.kind === 'unused_import' && d.name ? d.name.split(/[ .]/).filter((w) => w && w !== 'as') : [],
      ),
    };
    const beforeAnalysis = await adapter.diagnostics(request.code, focus);
    timings.analysis += beforeAnalysis.durationMs;
    const targets = targetsOf(adapter, request, beforeAnalysis);
    let answer: Omit<EditResponse, 'timings_ms'> | undefined;

    if (tiers.includes('rule') && ruleTierWanted(request.instruction)) {
      const ruleStarted = performance.now();
      let result;
      if (previous && keepsPrevious(request.instruction)) {
        // The kept proposal is part of the answer: the rules fix what is left on top of it.
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
        timings.analysis += keptAnalysis.durationMs;
        const kept = {
          edits: previous,
          code: keptCode,
          analysis: keptAnalysis,
          targets: targetsOf(adapter, request, keptAnalysis, keptCode),
        };
        result = await runRuleTierKeeping(
          adapter,
          request.code,
          beforeAnalysis,
          targets,
          request.max_edits,
          scope,
          kept,
        );
      } else {
        result = await runRuleTier(adapter, request.code, beforeAnalysis, targets, request.max_edits, scope);
      }
      timings.rule = performance.now() - ruleStarted;
      if (result) {
        timings.analysis += result.analysisMs;
        const imports = toLineEdits(result.imports);
        answer = {
          edits: toLineEdits(result.edits),
          raw_patch_dsl: renderDsl(result.edits),
          status: 'edited',
          tier: 'rule',
          verification: {
            ...result.outcome.verification,
            reason:
              `${result.outcome.verification.reason ?? ''} (rules: ${result.rules.join('; ')})${imports.length ? `; outside the requested lines: ${imports.map((e) => `an import at line ${e.start_line}`).join(', ')}` : ''}`.trim(),
          },
          ...outsideRegionReport(imports),
          model_version: null,
          model_rounds: 0,
        };
      }
    }

    if (!answer && !tiers.includes('model')) {
      answer = {
        edits: [],
        raw_patch_dsl: '',
        status: 'no_edits',
        tier: 'rule',
        verification: unchanged(
          adapter,
          request.code,
          beforeAnalysis,
          targets,
          'no rule fixer produced a verified fix',
        ),
        model_version: null,
        reason: 'no rule fixer produced a verified fix (the model tier is off)',
        model_rounds: 0,
      };
    }

    if (!answer && model.name === null) {
      // Only the rule tier ran: the answer is its, with why the model tier could not follow.
      const why = ruleTierWanted(request.instruction)
        ? 'no rule fixer produced a verified fix'
        : 'the instruction asks for more than fixing diagnostics, which only the model tier does';
      const reason = `${why}, and the model tier is unavailable: ${model.reason}`;
      answer = {
        edits: [],
        raw_patch_dsl: '',
        status: 'no_edits',
        tier: 'rule',
        verification: unchanged(adapter, request.code, beforeAnalysis, targets, reason),
        model_version: null,
        reason,
        model_rounds: 0,
      };
    }

    if (!answer && model.name !== null) {
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
            allowImports: scope.allowImports,
          },
          beforeAnalysis,
          targets,
          ...(previous ? { previous } : {}),
        },
        model.ask(request.temperature),
      );
      timings.model += result.modelMs;
      timings.analysis += result.analysisMs;
      answer =
        result.status === 'no_edits'
          ? {
              edits: [],
              raw_patch_dsl: '',
              status: 'no_edits',
              tier: 'model',
              // No edits go out, so the verification is of the code as it stands, not of a refused proposal.
              verification: unchanged(adapter, request.code, beforeAnalysis, targets, result.reason),
              model_version: model.name,
              reason: result.reason,
              model_rounds: result.rounds,
            }
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

    // Answers checked without pyflakes, or with no model configured, may change once those are back.
    if (
      cacheable &&
      beforeAnalysis.available &&
      !(answer!.status === 'no_edits' && tiers.includes('model') && model.name === null)
    ) {
      await this.parts.cache!.set(key, answer as CachedAnswer);
    }
    return finish(answer!);
  }

  /**
   * Stops the analysis containers once the requests in flight have finished, or after `drainMs`
   * (a model call may take minutes; a shutdown must not): those still running are then answered
   * without pyflakes, saying so.
   */
  async close(drainMs = 2000): Promise<void> {
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.inFlight]),
        new Promise((r) => (timer = setTimeout(r, drainMs))),
      ]);
      clearTimeout(timer);
    }
    await Promise.allSettled(this.parts.adapters.map((a) => a.close()));
  }
}
