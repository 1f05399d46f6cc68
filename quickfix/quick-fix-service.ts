import { type Logger, FixwrightError } from '../core/index.js';
import { parseLineRangeEdits, type LineRangeEdit } from '../agent/index.js';
import { clientDiagnostics } from './diagnostics.js';
import { cacheKey, type CachedAnswer, type EditCache } from './edit-cache.js';
import type { LanguageAdapter } from './language-adapter.js';
import { type EditScope, fromLineEdits, renderDsl } from './line-edits.js';
import { quickfixMetrics } from './metrics.js';
import type { AskModel } from './model-tier.js';
import type { CheckedRequest } from './request-checks.js';
import { checkEditRequest } from './request-checks.js';
import { ruleTierWanted } from './rule-tier.js';
import {
  type AnswerContext,
  modelTierAnswer,
  modelTierOffAnswer,
  modelUnavailableAnswer,
  ruleTierAnswer,
  targetsOf,
  type TierAnswer,
} from './tier-answers.js';
import type { EditRequest, EditResponse, EditTimings } from './types.js';

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

type Tier = 'rule' | 'model';

/** The answer with its timings (rounded to 0.01 ms) and, for a CRLF file, its replacements in CRLF; counted in the metrics. */
function finishAnswer(answer: TierAnswer, timings: EditTimings, started: number, crlf: boolean): EditResponse {
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
}

/** The cache key: everything the answer depends on, the raw code (CRLF and all) included. */
function answerCacheKey(
  raw: EditRequest,
  request: CheckedRequest,
  scope: EditScope,
  modelName: string | null,
  previous: LineRangeEdit[] | undefined,
  tiers: readonly Tier[],
): string {
  return cacheKey({
    v: 2,
    language: request.language,
    code: raw.code,
    // The model is shown the path, so the same code under another name may get another answer.
    file_path: request.file_path ?? null,
    allow_imports: scope.allowImports,
    diagnostics: request.diagnostics,
    instruction: request.instruction ?? null,
    model: modelName,
    region: [request.start_line, request.end_line],
    max_edits: request.max_edits,
    previous: previous ? renderDsl(previous) : null,
    tiers,
  });
}

/**
 * What to analyse: the lines the diagnostics name, else (no diagnostic, or one without a line) the
 * region; the adapter analyses the whole file when it must.
 */
function analysisFocus(request: CheckedRequest) {
  const given = clientDiagnostics(request.diagnostics, request.lineCount);
  return {
    ranges:
      given.length > 0 && given.every((d) => d.line !== undefined)
        ? given.map((d) => ({ start: d.line!, end: d.line! }))
        : [{ start: request.start_line, end: request.end_line }],
    // Whether an unused import is unused is a whole-file question: every mention of its name is analysed.
    names: given.flatMap((d) =>
      d.kind === 'unused_import' && d.name ? d.name.split(/[ .]/).filter((w) => w && w !== 'as') : [],
    ),
  };
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

    // Sampling at a temperature above 0 asks for a different answer each time: never cached.
    const cacheable = this.parts.cache && (request.temperature ?? 0) === 0;
    const scope: EditScope = {
      region: { start: request.start_line, end: request.end_line },
      allowImports: request.allow_imports ?? true,
    };
    const key = answerCacheKey(raw, request, scope, model.name, previous, tiers);
    if (cacheable) {
      const hit = await this.parts.cache!.get(key);
      if (hit) return finishAnswer({ ...hit, tier: 'cache', cached_tier: hit.tier }, timings, started, crlf);
    }

    const beforeAnalysis = await adapter.diagnostics(request.code, analysisFocus(request));
    timings.analysis += beforeAnalysis.durationMs;
    const targets = targetsOf(adapter, request, beforeAnalysis);
    const answer = await this.tiersAnswer(
      { request, adapter, previous, scope, beforeAnalysis, targets, timings },
      tiers,
    );

    // Answers checked without pyflakes, or with no model configured, may change once those are back.
    if (
      cacheable &&
      beforeAnalysis.available &&
      !(answer.status === 'no_edits' && tiers.includes('model') && model.name === null)
    ) {
      await this.parts.cache!.set(key, answer as CachedAnswer);
    }
    return finishAnswer(answer, timings, started, crlf);
  }

  /** The rule tier's fix if it has one, else the model tier's answer, else why neither answered. */
  private async tiersAnswer(ctx: AnswerContext, tiers: readonly Tier[]): Promise<TierAnswer> {
    const model = this.parts.model;
    const rulesApply = ruleTierWanted(ctx.request.instruction);
    if (tiers.includes('rule') && rulesApply) {
      const ruled = await ruleTierAnswer(ctx);
      if (ruled) return ruled;
    }
    if (!tiers.includes('model')) return modelTierOffAnswer(ctx);
    if (model.name === null) return modelUnavailableAnswer(ctx, rulesApply, model.reason);
    return modelTierAnswer(ctx, model);
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
