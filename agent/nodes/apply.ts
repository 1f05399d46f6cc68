import { UNTESTED_SCORE } from '../attempt-score.js';
import { answerToDiff } from '../edits/index.js';
import type { AgentDeps } from '../deps.js';
import type { AgentStateType, AgentUpdate, AttemptRecord } from '../state.js';

/** Turns the model's answer into a diff against the snapshot; a bad answer becomes a failed attempt. */
export async function applyNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  if (state.current?.failure) return {}; // the model call itself failed
  const files = new Map((deps.run.snapshot?.files ?? []).map((f) => [f.path, f.text]));
  const outcome = answerToDiff(state.answer, (path) => files.get(path));
  if (outcome.kind === 'diff') {
    deps.events.emit('patch', { attempt: state.attempt, diff: outcome.diff, files: outcome.changes.map((c) => c.path), tests: outcome.tests.map((t) => t.path) });
    const tests = state.reproTests.length > 0 ? state.reproTests : outcome.tests;
    const current: AttemptRecord = { attempt: state.attempt, diff: outcome.diff, tests, score: UNTESTED_SCORE.sandboxError };
    return { current };
  }
  // "No edit needed" is a valid answer, and KEEP_PREVIOUS keeps the last diff: both end the run.
  if (outcome.kind === 'no_edits' || (outcome.kind === 'keep_previous' && state.attempts.some((a) => a.diff))) {
    deps.events.emit('apply_result', { attempt: state.attempt, ok: true, answer: outcome.kind === 'no_edits' ? 'NO_EDITS' : 'KEEP_PREVIOUS' });
    return { stoppedBy: outcome.kind === 'no_edits' ? 'no_edits' : 'keep_previous' };
  }
  const failure =
    outcome.kind === 'failed'
      ? { category: outcome.category, message: outcome.message }
      : { category: 'no_change' as const, message: 'KEEP_PREVIOUS with no previous edit to keep' };
  deps.events.emit('apply_result', { attempt: state.attempt, ok: false, ...failure });
  const record: AttemptRecord = { attempt: state.attempt, tests: [], failure, score: UNTESTED_SCORE.noAnswer };
  return { current: record, attempts: [record] };
}
