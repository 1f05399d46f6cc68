import type { BaseMessageLike } from '@langchain/core/messages';
import { parseAnswer, parseLineRangeEdits, type LineRangeEdit } from '../agent/index.js';
import type { AnalysisResult } from './analysis-container.js';
import type { LanguageAdapter } from './language-adapter.js';
import { checkScope, renderDsl } from './line-edits.js';
import { editMessages, repairMessage, type PromptInput } from './prompt.js';
import { type Target, type VerifyOutcome, verifyEdits } from './verify.js';

/** Sends messages to the configured chat model; returns its text and how long it took. */
export type AskModel = (messages: BaseMessageLike[]) => Promise<{ text: string; durationMs: number }>;

/** How the model tier ended. */
export type ModelTierResult =
  | {
      status: 'edited' | 'kept_previous';
      edits: LineRangeEdit[];
      imports: LineRangeEdit[];
      outcome: VerifyOutcome;
      rounds: number;
      modelMs: number;
      analysisMs: number;
      rawAnswer: string;
    }
  | {
      status: 'no_edits';
      reason: string;
      outcome?: VerifyOutcome;
      rounds: number;
      modelMs: number;
      analysisMs: number;
      rawAnswer: string;
    };

/** What the model tier works on. */
export interface ModelTierInput {
  adapter: LanguageAdapter;
  prompt: PromptInput;
  beforeAnalysis: AnalysisResult;
  targets: readonly Target[];
  previous?: LineRangeEdit[];
}

type Judged =
  | {
      kind: 'accept';
      status: 'edited' | 'kept_previous';
      edits: LineRangeEdit[];
      imports: LineRangeEdit[];
      outcome: VerifyOutcome;
    }
  | { kind: 'no_edits'; reason: string }
  | { kind: 'reject'; problem: string; outcome?: VerifyOutcome };

/** Reads one answer (untrusted text) and checks it: region, edit count, then full verification. */
async function judge(input: ModelTierInput, text: string): Promise<Judged> {
  const { prompt } = input;
  const edits = parseLineRangeEdits(text);
  const special = parseAnswer(text).special;
  if (edits.length === 0) {
    if (special === 'NO_EDITS') return { kind: 'no_edits', reason: 'the model answered NO_EDITS: nothing safe to do' };
    if (special === 'KEEP_PREVIOUS') {
      if (!input.previous)
        return { kind: 'reject', problem: 'you answered KEEP_PREVIOUS, but there is no previous proposal' };
      const outcome = await verifyEdits(
        input.adapter,
        prompt.code,
        input.beforeAnalysis,
        input.previous,
        input.targets,
      );
      if (!outcome.ok)
        return { kind: 'reject', problem: `the previous proposal does not verify: ${outcome.problem}`, outcome };
      return { kind: 'accept', status: 'kept_previous', edits: input.previous, imports: [], outcome };
    }
    return { kind: 'reject', problem: 'no "@@ START-END" edit, NO_EDITS or KEEP_PREVIOUS was found in the answer' };
  }
  if (edits.length > prompt.maxEdits)
    return { kind: 'reject', problem: `${edits.length} edits, but at most ${prompt.maxEdits} are allowed` };
  const { problem: outside, imports } = checkScope(input.adapter, prompt.code, edits, {
    region: prompt.region,
    allowImports: prompt.allowImports,
  });
  if (outside) return { kind: 'reject', problem: outside };
  const outcome = await verifyEdits(input.adapter, prompt.code, input.beforeAnalysis, edits, input.targets);
  if (!outcome.ok) return { kind: 'reject', problem: outcome.problem ?? 'verification failed', outcome };
  const undone = undoneKeep(prompt.instruction, input.previous, outcome.after!);
  return undone
    ? { kind: 'reject', problem: undone, outcome }
    : { kind: 'accept', status: 'edited', edits, imports, outcome };
}

/**
 * When the instruction asks to keep the previous proposal, new edits must still contain what it
 * wrote; the message names the change they undo. Undefined when nothing is to be kept or all is.
 */
/** Whether the instruction asks to keep the previous proposal ("add type hints; keep the previous fix"). */
export function keepsPrevious(instruction: string | undefined): boolean {
  return instruction !== undefined && /\bkeep\b/i.test(instruction);
}

export function undoneKeep(
  instruction: string | undefined,
  previous: readonly LineRangeEdit[] | undefined,
  after: string,
): string | undefined {
  if (!previous || !keepsPrevious(instruction)) return undefined;
  const text = `\n${after}`;
  for (const e of previous) {
    if (e.plus.length === 0) continue;
    if (!text.includes(`\n${e.plus.join('\n')}\n`) && !text.endsWith(`\n${e.plus.join('\n')}`)) {
      return (
        `the instruction asks to keep the previous proposal, but your edits undo its change ` +
        `@@ ${e.start}-${e.end} (${JSON.stringify(e.plus.join('\n').slice(0, 120))} is gone)`
      );
    }
  }
  return undefined;
}

/**
 * Asks the model for line-range edits, verifies them, and when they fail gives it one repair round
 * told exactly what failed. Edits that fail twice are never returned: the answer is then
 * `no_edits` with the reason.
 */
export async function runModelTier(input: ModelTierInput, ask: AskModel): Promise<ModelTierResult> {
  const messages: BaseMessageLike[] = editMessages({
    ...input.prompt,
    ...(input.previous ? { previousDsl: renderDsl(input.previous) } : {}),
  });
  let modelMs = 0;
  let analysisMs = 0;
  let last: Judged | undefined;
  let rawAnswer = '';
  for (let round = 1; round <= 2; round++) {
    if (round === 2 && last?.kind === 'reject') messages.push(['ai', rawAnswer], repairMessage(last.problem));
    const answer = await ask(messages);
    modelMs += answer.durationMs;
    rawAnswer = answer.text;
    last = await judge(input, answer.text);
    const outcome = last.kind === 'no_edits' ? undefined : last.outcome;
    analysisMs += outcome?.analysisMs ?? 0;
    if (last.kind === 'accept')
      return {
        status: last.status,
        edits: last.edits,
        imports: last.imports,
        outcome: last.outcome,
        rounds: round,
        modelMs,
        analysisMs,
        rawAnswer,
      };
    if (last.kind === 'no_edits')
      return { status: 'no_edits', reason: last.reason, rounds: round, modelMs, analysisMs, rawAnswer };
  }
  const rejected = last as Extract<Judged, { kind: 'reject' }>;
  return {
    status: 'no_edits',
    reason: `the model's edits were refused after the repair round: ${rejected.problem}`,
    ...(rejected.outcome ? { outcome: rejected.outcome } : {}),
    rounds: 2,
    modelMs,
    analysisMs,
    rawAnswer,
  };
}
