import type { BaseMessageLike } from '@langchain/core/messages';
import { askModel, budgetSpent, modelFailure } from '../ask-model.js';
import { firstPrompt, SYSTEM_PROMPT } from '../prompts.js';
import type { AgentDeps } from '../deps.js';
import type { AgentStateType, AgentUpdate } from '../state.js';

/** Asks the model for a reproduction test and a fix (after a failure, with the reflection). */
export async function generateNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  // An earlier step already ended the run (the reproduce step's model call failed, a budget): go to finish.
  if (state.stoppedBy) return {};
  const attempt = state.attempt + 1;
  const stop = budgetSpent(deps, 'generate');
  if (stop) return { stoppedBy: stop };
  const messages: BaseMessageLike[] = [
    ['system', SYSTEM_PROMPT],
    ['user', firstPrompt(state.issue, state.codeContext)],
  ];
  if (state.feedback && state.answer) messages.push(['assistant', state.answer], ['user', state.feedback]);
  try {
    const result = await askModel(deps, 'generate', attempt, messages);
    return { attempt, answer: result.text, current: undefined };
  } catch (err) {
    return modelFailure(err, deps, 'generate', attempt);
  }
}
