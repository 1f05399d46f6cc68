import { askModel, budgetSpent, modelFailure, type ChatTurn } from '../ask-model.js';
import { firstPrompt, SYSTEM_PROMPT } from '../prompts.js';
import { reserveCost, worstCaseCostUsd } from '../sampling/budget.js';
import { candidatePlans, type CandidatePlan } from '../sampling/plan.js';
import type { AgentDeps } from '../deps.js';
import type { AgentStateType, AgentUpdate, CandidateDraft } from '../state.js';

/** The temperature an attempt's first candidate is drawn at (the run's ladder). */
const attemptTemperature = (deps: AgentDeps, attempt: number) => deps.modelFor(attempt).temperature ?? 0;

/**
 * Asks the model for the attempt's candidates, each a reproduction test and a fix (after a
 * failure, with the reflection), in parallel within the shared rate limit. Each call starts only
 * when the cost cap can afford its worst case beside the calls in flight; a candidate the cap
 * cannot afford is not drawn, and the attempt goes on with those that were.
 */
export async function generateNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  // An earlier step already ended the run (the reproduce step's model call failed, a budget): go to finish.
  if (state.stoppedBy) return {};
  const attempt = state.attempt + 1;
  const stop = budgetSpent(deps, 'generate');
  if (stop) return { stoppedBy: stop };
  const plans = candidatePlans(Math.max(1, deps.samples), attemptTemperature(deps, attempt));
  const messagesFor = (plan: CandidatePlan): ChatTurn[] => {
    const messages: ChatTurn[] = [
      ['system', SYSTEM_PROMPT],
      ['user', firstPrompt(state.issue, state.contexts[plan.context] ?? state.codeContext)],
    ];
    if (state.feedback && state.answer) messages.push(['assistant', state.answer], ['user', state.feedback]);
    return messages;
  };

  const drafts: CandidateDraft[] = [];
  const errors: Array<{ plan: CandidatePlan; err: unknown }> = [];
  const inFlight = new Set<Promise<void>>();
  let next = 0;
  let cancelled: unknown;
  const draw = (plan: CandidatePlan, messages: ChatTurn[], release: () => void) => {
    const call = (async () => {
      try {
        const result = await askModel(deps, 'generate', attempt, messages, {
          temperature: plan.temperature,
          candidate: plan.candidate,
          contextCut: plan.context,
        });
        drafts.push({
          ...plan,
          answer: result.text,
          tokens: { input: result.inputTokens, output: result.outputTokens },
          costUsd: result.costUsd,
        });
      } catch (err) {
        if ((err as { code?: string }).code === 'FW_ERR_CANCELLED') cancelled ??= err;
        else errors.push({ plan, err });
      } finally {
        release();
      }
    })();
    inFlight.add(call);
    void call.finally(() => inFlight.delete(call));
  };
  while (next < plans.length) {
    // Launch every candidate the budget affords now; when one cannot start, wait for a call in
    // flight to end (its real cost is usually below its worst case) and try again.
    while (next < plans.length && !cancelled) {
      if (next > 0 && deps.deadline !== undefined && Date.now() >= deps.deadline) break;
      const plan = plans[next]!;
      const messages = messagesFor(plan);
      const release = reserveCost(deps, worstCaseCostUsd(deps.modelFor(attempt, plan.temperature), messages, deps));
      if (!release) break;
      draw(plan, messages, release);
      next++;
    }
    if (
      next >= plans.length ||
      cancelled ||
      inFlight.size === 0 ||
      (deps.deadline !== undefined && Date.now() >= deps.deadline)
    )
      break;
    await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (cancelled) throw cancelled;
  if (next < plans.length) {
    const by = deps.deadline !== undefined && Date.now() >= deps.deadline ? 'wall_time' : 'cost';
    deps.events.emit('log', {
      step: 'generate',
      stopped_by: by,
      attempt,
      drawn: next,
      wanted: plans.length,
      cost_usd: deps.run.costUsd,
      ...(by === 'cost' ? { max_cost_usd: deps.maxCostUsd } : {}),
    });
    if (next === 0) return { stoppedBy: by };
  }
  if (drafts.length === 0) return modelFailure(errors[0]?.err, deps, 'generate', attempt);
  const answered = [...drafts].sort((a, b) => a.candidate - b.candidate);
  // A candidate whose call failed stays in the attempt's record, failed, so every candidate drawn is accounted for.
  for (const { plan, err } of errors) {
    const message = (err as Error).message;
    deps.events.emit('log', {
      level: 'warn',
      step: 'generate',
      attempt,
      candidate: plan.candidate,
      category: 'model_error',
      message,
      note: 'one candidate failed; the attempt goes on with the others',
    });
    drafts.push({
      ...plan,
      answer: '',
      tokens: { input: 0, output: 0 },
      costUsd: 0,
      failure: { category: 'model_error', message },
    });
  }
  drafts.sort((a, b) => a.candidate - b.candidate);
  return { attempt, drafts, answer: answered[0]!.answer, current: undefined };
}
