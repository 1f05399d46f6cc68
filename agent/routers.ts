import type { AgentStateType } from './state.js';

/** After generate: stop when a budget ran out, otherwise apply the answer. */
export function afterGenerate(state: AgentStateType): 'apply' | 'finish' {
  return state.stoppedBy ? 'finish' : 'apply';
}

/** After apply: test a diff; otherwise reflect while attempts remain, else finish. */
export function afterApply(state: AgentStateType, maxAttempts: number): 'test' | 'reflect' | 'finish' {
  if (state.stoppedBy) return 'finish';
  if (state.current?.diff && !state.current.failure) return 'test';
  return state.attempt < maxAttempts ? 'reflect' : 'finish';
}

/** After reflect: a test that did not reproduce the issue is rewritten first; otherwise a new fix. */
export function afterReflect(state: AgentStateType): 'reproduce' | 'generate' {
  const last = state.attempts[state.attempts.length - 1];
  return last?.failure?.category === 'repro_did_not_fail' || last?.failure?.category === 'no_reproduction_test' ? 'reproduce' : 'generate';
}

/** After test: finish on success or when attempts are spent; otherwise reflect. */
export function afterTest(state: AgentStateType, maxAttempts: number): 'reflect' | 'finish' {
  const last = state.attempts[state.attempts.length - 1];
  if (last && !last.failure) return 'finish';
  return state.attempt < maxAttempts ? 'reflect' : 'finish';
}
