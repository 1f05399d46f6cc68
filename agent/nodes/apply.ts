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
    const current: AttemptRecord = { attempt: state.attempt, diff: outcome.diff, tests, score: 0 };
    return { current };
  }
  const failure =
    outcome.kind === 'failed'
      ? { category: outcome.category, message: outcome.message }
      : { category: 'no_change' as const, message: outcome.kind === 'no_edits' ? 'the answer was NO_EDITS, but the issue reports a bug' : 'KEEP_PREVIOUS with no previous edit to keep' };
  deps.events.emit('apply_result', { attempt: state.attempt, ok: false, ...failure });
  const record: AttemptRecord = { attempt: state.attempt, tests: outcome.kind === 'no_edits' ? outcome.tests : [], failure, score: -1 };
  return { current: record, attempts: [record] };
}
