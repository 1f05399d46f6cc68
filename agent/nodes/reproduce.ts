import { parseAnswer } from '../edits/index.js';
import { askModel, budgetSpent, modelFailure, type ChatTurn } from '../ask-model.js';
import { reproducePrompt, SYSTEM_PROMPT } from '../prompts.js';
import { reserveCost, worstCaseCostUsd } from '../sampling/budget.js';
import type { AgentDeps } from '../deps.js';
import type { AgentStateType, AgentUpdate } from '../state.js';

/**
 * Its own model step: a test that reproduces the issue from its text alone (the agent never sees
 * the project's hidden tests). Asked again when the last test did not fail before the patch.
 */
export async function reproduceNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  const stop = budgetSpent(deps, 'reproduce');
  if (stop) return { stoppedBy: stop };
  const messages: ChatTurn[] = [
    ['system', SYSTEM_PROMPT],
    ['user', reproducePrompt(state.issue, state.codeContext, state.feedback)],
  ];
  const release = reserveCost(deps, worstCaseCostUsd(deps.modelFor(state.attempt + 1), messages, deps));
  if (!release) {
    deps.events.emit('log', {
      step: 'reproduce',
      stopped_by: 'cost',
      cost_usd: deps.run.costUsd,
      max_cost_usd: deps.maxCostUsd,
      message: 'the cost cap cannot afford another model call',
    });
    return { stoppedBy: 'cost' };
  }
  try {
    const result = await askModel(deps, 'reproduce', state.attempt + 1, messages).finally(release);
    const tests = parseAnswer(result.text).tests;
    deps.events.emit('log', { step: 'reproduce', tests: tests.map((t) => t.path) });
    return { reproTests: tests };
  } catch (err) {
    return modelFailure(err, deps, 'reproduce', state.attempt + 1);
  }
}
