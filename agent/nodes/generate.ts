import type { BaseMessageLike } from '@langchain/core/messages';
import { askModel } from '../ask-model.js';
import { firstPrompt, SYSTEM_PROMPT } from '../prompts.js';
import type { AgentDeps } from '../deps.js';
import type { AgentStateType, AgentUpdate } from '../state.js';

/** Asks the model for a reproduction test and a fix (after a failure, with the reflection). */
export async function generateNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  const attempt = state.attempt + 1;
  // Budgets end the run with a typed reason before another paid call starts.
  if (deps.maxCostUsd !== undefined && deps.run.costUsd >= deps.maxCostUsd) {
    deps.events.emit('log', { step: 'generate', stopped_by: 'cost', cost_usd: deps.run.costUsd, max_cost_usd: deps.maxCostUsd });
    return { stoppedBy: 'cost' };
  }
  if (deps.deadline !== undefined && Date.now() >= deps.deadline) {
    deps.events.emit('log', { step: 'generate', stopped_by: 'wall_time' });
    return { stoppedBy: 'wall_time' };
  }
  const messages: BaseMessageLike[] = [
    ['system', SYSTEM_PROMPT],
    ['user', firstPrompt(state.issue, state.codeContext)],
  ];
  if (state.feedback && state.answer) messages.push(['assistant', state.answer], ['user', state.feedback]);
  try {
    const result = await askModel(deps, 'generate', attempt, messages);
    return { attempt, answer: result.text, current: undefined };
  } catch (err) {
    if ((err as { code?: string }).code === 'FW_ERR_CANCELLED') throw err;
    deps.events.emit('error', { attempt, category: 'model_error', message: (err as Error).message });
    const record = { attempt, tests: [], failure: { category: 'model_error' as const, message: (err as Error).message }, score: -1 };
    return { attempt, answer: '', current: record, attempts: [record] };
  }
}
