import type { ChatMessage } from './trajectory.js';
import type { DpoPair, SftPair } from './pairs.js';

/** How SFT rows are written: chat messages (trl/transformers chat templates) or Alpaca fields. */
export type SftStyle = 'chatml' | 'alpaca';

/**
 * Tokens a text costs, estimated as characters / 4 (rounded up): no tokenizer ships with
 * fixwright, and check_data.py uses the same rule, so both sides agree on the budget.
 */
export const estimateTokens = (text: string) => Math.ceil(text.length / 4);

const render = (messages: readonly ChatMessage[]) => messages.map((m) => `<|${m.role}|>\n${m.content}`).join('\n');

/** One output row for an SFT pair. */
export function sftRow(pair: SftPair, style: SftStyle, split: string): Record<string, unknown> {
  const meta = {
    kind: pair.kind,
    repo: pair.repo,
    source: pair.source,
    attempt: pair.attempt,
    candidate: pair.candidate,
    split,
  };
  if (style === 'chatml')
    return { messages: [...pair.messages, { role: 'assistant', content: pair.response }], ...meta };
  const system = pair.messages
    .filter((m) => m.role === 'system')
    .map((m) => m.content)
    .join('\n\n');
  return {
    instruction: system,
    input: render(pair.messages.filter((m) => m.role !== 'system')),
    output: pair.response,
    ...meta,
  };
}

/** One output row for a DPO pair, in trl's conversational preference format. */
export function dpoRow(pair: DpoPair, split: string): Record<string, unknown> {
  return {
    prompt: pair.prompt,
    chosen: [{ role: 'assistant', content: pair.chosen }],
    rejected: [{ role: 'assistant', content: pair.rejected }],
    kind: pair.kind,
    repo: pair.repo,
    source: pair.source,
    chosen_attempt: pair.chosen_attempt,
    rejected_attempt: pair.rejected_attempt,
    chosen_candidate: pair.chosen_candidate,
    rejected_candidate: pair.rejected_candidate,
    same_prompt: pair.same_prompt,
    split,
  };
}

const contents = (messages: unknown) =>
  Array.isArray(messages) ? messages.map((m) => String((m as { content?: unknown }).content ?? '')).join('') : '';

/**
 * The tokens a row costs in training: an SFT row's every message; a DPO row's prompt and the
 * longer of its two answers (the trainer sees prompt + chosen and prompt + rejected apart).
 */
export function rowTokens(row: Record<string, unknown>): number {
  if ('prompt' in row)
    return (
      estimateTokens(contents(row.prompt)) +
      Math.max(estimateTokens(contents(row.chosen)), estimateTokens(contents(row.rejected)))
    );
  if ('messages' in row) return estimateTokens(contents(row.messages));
  return estimateTokens(`${row.instruction ?? ''}${row.input ?? ''}${row.output ?? ''}`);
}
