import type { BaseMessageLike } from '@langchain/core/messages';
import { callCost } from '../models.js';
import type { AgentDeps, ChatModel } from '../deps.js';

/** Characters per token when bounding a prompt's cost from above (code tokenises denser than prose's 4). */
const CHARS_PER_TOKEN_BOUND = 3;
/** Tokens a chat message costs beyond its text (role and separators: a handful in OpenAI's format), counted generously. */
const MESSAGE_OVERHEAD_TOKENS = 16;
/** The answer a model without a set maximum may write: createChatModel's default (FIXWRIGHT_MAX_TOKENS's too). */
const DEFAULT_ANSWER_TOKENS = 4096;

const messageChars = (messages: readonly BaseMessageLike[]) =>
  messages.reduce<number>(
    (n, m) =>
      n + (Array.isArray(m) ? String(m[1]).length : typeof m === 'string' ? m.length : JSON.stringify(m).length),
    0,
  );

/** What a call can cost at most: its prompt counted generously, and an answer as long as the model may write. */
export function worstCaseCostUsd(
  model: ChatModel,
  messages: readonly BaseMessageLike[],
  deps: Pick<AgentDeps, 'prices'>,
): number {
  const input = Math.ceil(messageChars(messages) / CHARS_PER_TOKEN_BOUND) + MESSAGE_OVERHEAD_TOKENS * messages.length;
  return callCost(model.model, input, model.maxTokens ?? DEFAULT_ANSWER_TOKENS, deps.prices).costUsd;
}

/**
 * Holds a call's worst-case cost against the run's cap before the call starts, so that calls in
 * flight together can never add up past it: the cap bounds the whole run, every sample included.
 * Returns the release to call when the call has ended (its real cost is then counted), or
 * undefined when the cap cannot afford the call. Unpriced models and runs without a cap always pass.
 */
export function reserveCost(deps: AgentDeps, worstUsd: number): (() => void) | undefined {
  if (deps.maxCostUsd === undefined || worstUsd === 0) return () => undefined;
  const held = deps.run.reservedUsd ?? 0;
  if (deps.run.costUsd + held + worstUsd > deps.maxCostUsd) return undefined;
  deps.run.reservedUsd = held + worstUsd;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    deps.run.reservedUsd = Math.max(0, (deps.run.reservedUsd ?? 0) - worstUsd);
  };
}
