import type { BaseMessageLike } from '@langchain/core/messages';
import type { AgentDeps } from './deps.js';
import { callModel, type ModelCallResult } from './models.js';

/**
 * One model call of a run: counts its tokens and cost into the run, and records a `model_call`
 * event with the exact messages sent and the answer (the API key is never part of either).
 */
export async function askModel(deps: AgentDeps, step: 'reproduce' | 'generate', attempt: number, messages: BaseMessageLike[]): Promise<ModelCallResult> {
  const model = deps.modelFor(attempt);
  const result = await callModel(model, messages, { signal: deps.signal, prices: deps.prices });
  deps.run.tokens.input += result.inputTokens;
  deps.run.tokens.output += result.outputTokens;
  deps.run.costUsd += result.costUsd;
  deps.events.emit('model_call', {
    step,
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
  return result;
}
