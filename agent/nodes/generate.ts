import type { BaseMessageLike } from '@langchain/core/messages';
import { callModel } from '../models.js';
import { firstPrompt, SYSTEM_PROMPT } from '../prompts.js';
import type { AgentDeps } from '../deps.js';
import type { AgentStateType, AgentUpdate } from '../state.js';

/** Asks the model for a reproduction test and a fix (after a failure, with the reflection). */
export async function generateNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  const attempt = state.attempt + 1;
  const messages: BaseMessageLike[] = [
    ['system', SYSTEM_PROMPT],
    ['user', firstPrompt(state.issue, state.codeContext)],
  ];
  if (state.feedback && state.answer) messages.push(['assistant', state.answer], ['user', state.feedback]);
  const model = deps.modelFor(attempt);
  try {
    const result = await callModel(model, messages, { signal: deps.signal, prices: deps.prices });
    deps.run.tokens.input += result.inputTokens;
    deps.run.tokens.output += result.outputTokens;
    deps.run.costUsd += result.costUsd;
    deps.events.emit('model_call', {
      attempt,
      model: model.model,
      temperature: model.temperature,
      messages: messages.map((m) => (Array.isArray(m) ? { role: m[0], content: m[1] } : m)),
      response: result.text,
      usage: { input_tokens: result.inputTokens, output_tokens: result.outputTokens },
      cost_usd: result.costUsd,
      priced: result.priced,
      duration_ms: result.durationMs,
    });
    return { attempt, answer: result.text, current: undefined };
  } catch (err) {
    if ((err as { code?: string }).code === 'FW_ERR_CANCELLED') throw err;
    deps.events.emit('error', { attempt, category: 'model_error', message: (err as Error).message });
    const record = { attempt, tests: [], failure: { category: 'model_error' as const, message: (err as Error).message }, score: -1 };
    return { attempt, answer: '', current: record, attempts: [record] };
  }
}
