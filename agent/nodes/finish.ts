import type { AgentDeps } from '../deps.js';
import type { AgentStateType, AgentUpdate } from '../state.js';

/**
 * Ends the run: the first attempt that passed everything is `resolved`; otherwise the best attempt
 * with a diff (by score) is returned `unverified`, never as a success; with no diff, `failed`. A run
 * stopped by a model or environment failure is `error` (with its best patch, if any).
 */
export async function finishNode(state: AgentStateType, _deps: AgentDeps): Promise<AgentUpdate> {
  const winner = state.attempts.find((a) => !a.failure && a.diff);
  // A patch that never applied (or never reached the sandbox) is not worth returning.
  const unproven = new Set(['patch_does_not_apply', 'sandbox_error']);
  const best =
    winner ??
    [...state.attempts]
      .filter((a) => a.diff && !unproven.has(a.failure?.category ?? ''))
      .sort((a, b) => b.score - a.score)[0];
  // A run the model provider or the environment cut short could not be judged: it is an error, not
  // a failed fix — unless an earlier attempt was already proven. An unproven patch is still returned.
  const broken = state.stoppedBy === 'model_error' || state.stoppedBy === 'environment';
  const status = winner ? 'resolved' : broken ? 'error' : best ? 'unverified' : 'failed';
  return { status, finalPatch: best?.diff ?? '', chosenAttempt: best?.attempt };
}
