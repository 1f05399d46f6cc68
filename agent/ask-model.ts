import type { AgentDeps } from './deps.js';
import type { AgentUpdate } from './state.js';
import { callModel, type ModelCallResult } from './models.js';
import { busy } from './run-clock.js';

/** A prompt's message as [role, text]: the form every prompt here takes, and the one a `model_call` event records. */
export type ChatTurn = [role: 'system' | 'user' | 'assistant', content: string];

/** Whether a budget is spent (cost cap or wall time), recorded as a log event; undefined to go on. */
export function budgetSpent(deps: AgentDeps, step: 'reproduce' | 'generate'): 'cost' | 'wall_time' | undefined {
  if (deps.maxCostUsd !== undefined && deps.run.costUsd >= deps.maxCostUsd) {
    deps.events.emit('log', { step, stopped_by: 'cost', cost_usd: deps.run.costUsd, max_cost_usd: deps.maxCostUsd });
    return 'cost';
  }
  if (deps.deadline !== undefined && Date.now() >= deps.deadline) {
    deps.events.emit('log', { step, stopped_by: 'wall_time' });
    return 'wall_time';
  }
  return undefined;
}

/**
 * One model call of a run: counts its tokens and cost into the run, and records a `model_call`
 * event with the exact messages sent and the answer (the API key is never part of either).
 */
export async function askModel(
  deps: AgentDeps,
  step: 'reproduce' | 'generate',
  attempt: number,
  messages: ChatTurn[],
  sample?: { temperature: number; candidate: number; contextCut: string },
): Promise<ModelCallResult> {
  const model = deps.modelFor(attempt, sample?.temperature);
  const which = sample ? { candidate: sample.candidate, context_cut: sample.contextCut } : {};
  const sent = messages.map(([role, content]) => ({ role, content }));
  let result: ModelCallResult;
  try {
    const call = () => callModel(model, messages, { signal: deps.signal, prices: deps.prices });
    // A wait for the shared rate limit counts as the model's: it is the provider's limit, not fixwright's work.
    result = await busy(deps.run.clock, 'model', () => (deps.modelGate ? deps.modelGate(call) : call()));
  } catch (err) {
    deps.events.emit('model_call', {
      step,
      attempt,
      ...which,
      model: model.model,
      temperature: model.temperature,
      messages: sent,
      error: (err as Error).message,
    });
    throw err;
  }
  deps.run.tokens.input += result.inputTokens;
  deps.run.tokens.output += result.outputTokens;
  deps.run.costUsd += result.costUsd;
  deps.events.emit('model_call', {
    step,
    attempt,
    ...which,
    model: model.model,
    temperature: model.temperature,
    messages: sent,
    response: result.text,
    usage: { input_tokens: result.inputTokens, output_tokens: result.outputTokens },
    cost_usd: result.costUsd,
    priced: result.priced,
    duration_ms: result.durationMs,
  });
  return result;
}

/**
 * A failed model call ends the run as an error (status `error`, `stoppedBy: 'model_error'`): the
 * provider's failure says nothing about the issue, so it is never counted as a failed attempt.
 * The client has already retried what is worth retrying. A cancellation is rethrown.
 */
export function modelFailure(
  err: unknown,
  deps: AgentDeps,
  step: 'reproduce' | 'generate',
  attempt: number,
): AgentUpdate {
  if ((err as { code?: string }).code === 'FW_ERR_CANCELLED') throw err;
  const message = (err as Error).message;
  deps.events.emit('log', { level: 'error', step, attempt, category: 'model_error', message });
  return { stoppedBy: 'model_error', stopMessage: message };
}
