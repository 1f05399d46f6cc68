import type { AgentStateType, FailureCategory } from './state.js';

/** After baseline: a project whose environment does not work stops before any model call for a fix. */
export function afterBaseline(state: AgentStateType): 'reproduce' | 'finish' {
  return state.stoppedBy ? 'finish' : 'reproduce';
}

/** After generate: stop when a budget ran out or the model failed, otherwise apply the answer. */
export function afterGenerate(state: AgentStateType): 'apply' | 'finish' {
  return state.stoppedBy ? 'finish' : 'apply';
}

/** After apply: test a diff; otherwise reflect while attempts remain, else finish. */
export function afterApply(state: AgentStateType, maxAttempts: number): 'test' | 'reflect' | 'finish' {
  if (state.stoppedBy) return 'finish';
  if (state.current?.diff && !state.current.failure) return 'test';
  return state.attempt < maxAttempts ? 'reflect' : 'finish';
}

/**
 * Failures that put the reproduction test itself in doubt: it proved nothing (passed without the
 * patch, or was missing), could not be collected, ran past the limit, or broke in its own code.
 * These send the run back to the reproduction step; a fix that merely does not work yet does not.
 */
export const TEST_AT_FAULT: ReadonlySet<FailureCategory> = new Set([
  'repro_did_not_fail',
  'no_reproduction_test',
  'import_error',
  'timeout',
  'repro_broken',
]);

/** After reflect: a reproduction test at fault is rewritten first; otherwise a new fix. */
export function afterReflect(state: AgentStateType): 'reproduce' | 'generate' {
  const last = state.attempts[state.attempts.length - 1];
  return last?.failure && TEST_AT_FAULT.has(last.failure.category) ? 'reproduce' : 'generate';
}

/** After test: finish on success or when attempts are spent; otherwise reflect. */
export function afterTest(state: AgentStateType, maxAttempts: number): 'reflect' | 'finish' {
  if (state.stoppedBy) return 'finish';
  const last = state.attempts[state.attempts.length - 1];
  if (last && !last.failure) return 'finish';
  return state.attempt < maxAttempts ? 'reflect' : 'finish';
}
