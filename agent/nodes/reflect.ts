import { reflectionPrompt } from '../prompts.js';
import type { AgentDeps } from '../deps.js';
import type { AgentStateType, AgentUpdate } from '../state.js';

/** Turns the last failure into feedback for the next attempt. */
export async function reflectNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  const last = state.attempts[state.attempts.length - 1];
  const failure = last?.failure ?? { category: 'malformed_output', message: 'no attempt was recorded' };
  const feedback = reflectionPrompt(failure.category, failure.message, failure.logs, last?.diff);
  deps.events.emit('reflection', { attempt: state.attempt, category: failure.category, message: failure.message });
  return { feedback };
}
