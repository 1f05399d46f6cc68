import { UNTESTED_SCORE } from '../attempt-score.js';
import { answerToDiff, parseAnswer } from '../edits/index.js';
import { normalisedChange } from '../sampling/normalise.js';
import type { AgentDeps } from '../deps.js';
import type { AgentStateType, AgentUpdate, AttemptRecord, CandidateDraft, CandidateRecord } from '../state.js';

/** A candidate that never reached the sandbox, as the attempt's record lists it. */
export function untestedCandidate(d: CandidateDraft, score: number): CandidateRecord {
  return {
    candidate: d.candidate,
    temperature: d.temperature,
    context: d.context,
    votes: 0,
    testsPassed: 0,
    regressions: [],
    score,
    tokens: d.tokens,
    costUsd: d.costUsd,
    ...(d.diff ? { diff: d.diff } : {}),
    ...(d.failure ? { failure: d.failure } : {}),
  };
}

/**
 * Turns each candidate's answer into a diff against the snapshot (a bad answer becomes a failed
 * candidate) and groups candidates whose changes are the same once normalised.
 */
export async function applyNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  if (state.current?.failure) return {}; // the model call itself failed
  const files = new Map((deps.run.snapshot?.files ?? []).map((f) => [f.path, f.text]));
  const specials: Array<'no_edits' | 'keep_previous'> = [];
  const drafts: CandidateDraft[] = state.drafts.map((draft) => {
    if (draft.failure) return draft; // its model call failed
    const outcome = answerToDiff(draft.answer, (path) => files.get(path));
    if (outcome.kind === 'diff') {
      const key = normalisedChange(outcome.changes.map((c) => ({ path: c.path, after: c.after ?? '' })));
      return { ...draft, diff: outcome.diff, key, tests: outcome.tests, changed: outcome.changes.map((c) => c.path) };
    }
    const tests = parseAnswer(draft.answer).tests;
    if (outcome.kind === 'no_edits' || outcome.kind === 'keep_previous') {
      specials.push(outcome.kind);
      return {
        ...draft,
        tests,
        failure: {
          category: 'no_change' as const,
          message: outcome.kind === 'no_edits' ? 'answered NO_EDITS' : 'answered KEEP_PREVIOUS',
        },
      };
    }
    return { ...draft, tests, failure: { category: outcome.category, message: outcome.message } };
  });
  const withDiff = drafts.filter((d) => d.diff);
  // "No edit needed" is a valid answer, and KEEP_PREVIOUS keeps the last diff: when every candidate says so, the run ends.
  const answeredCount = drafts.filter((d) => d.failure?.category !== 'model_error').length;
  if (withDiff.length === 0 && specials.length === answeredCount && answeredCount > 0) {
    const kind = specials[0]!;
    if (kind === 'no_edits' || state.attempts.some((a) => a.diff)) {
      deps.events.emit('apply_result', {
        attempt: state.attempt,
        candidate: drafts.find((d) => d.failure?.category !== 'model_error')!.candidate,
        ok: true,
        answer: kind === 'no_edits' ? 'NO_EDITS' : 'KEEP_PREVIOUS',
      });
      return { stoppedBy: kind === 'no_edits' ? 'no_edits' : 'keep_previous' };
    }
  }
  const groupOf = new Map<string, number>();
  for (const d of withDiff) if (!groupOf.has(d.key!)) groupOf.set(d.key!, d.candidate);
  for (const d of drafts) {
    if (d.diff) {
      deps.events.emit('patch', {
        attempt: state.attempt,
        candidate: d.candidate,
        group: groupOf.get(d.key!),
        diff: d.diff,
        files: d.changed ?? [],
        tests: (d.tests ?? []).map((t) => t.path),
      });
    } else if (d.failure?.category !== 'model_error') {
      const keptNothing = d.failure?.message === 'answered KEEP_PREVIOUS' && !state.attempts.some((a) => a.diff);
      const failure = keptNothing
        ? { category: 'no_change' as const, message: 'KEEP_PREVIOUS with no previous edit to keep' }
        : d.failure!;
      d.failure = failure;
      deps.events.emit('apply_result', { attempt: state.attempt, candidate: d.candidate, ok: false, ...failure });
    }
  }
  if (withDiff.length > 0) {
    const current: AttemptRecord = {
      attempt: state.attempt,
      diff: withDiff[0]!.diff,
      tests: [],
      score: UNTESTED_SCORE.sandboxError,
    };
    return { drafts, current };
  }
  const first = drafts.find((d) => d.failure?.category !== 'model_error') ?? drafts[0]!;
  const candidates = drafts.map((d) => untestedCandidate(d, UNTESTED_SCORE.noAnswer));
  // No candidate produced a change: none won (the record keeps the first answer's failure for reflection).
  const record: AttemptRecord = {
    attempt: state.attempt,
    tests: [],
    failure: first.failure!,
    score: UNTESTED_SCORE.noAnswer,
    candidates,
    selection: {
      reason: 'no candidate produced a change to test',
      ranking: drafts.map((d) => d.candidate),
      judges: [],
    },
  };
  emitSelection(deps, record);
  return { drafts, current: record, attempts: [record] };
}

/** The `select` log: every candidate of the attempt, best first, and why the winner won. */
export function emitSelection(deps: AgentDeps, record: AttemptRecord): void {
  const byNumber = new Map((record.candidates ?? []).map((c) => [c.candidate, c]));
  const ranked = (record.selection?.ranking ?? [])
    .map((n) => byNumber.get(n))
    .filter((c): c is CandidateRecord => c !== undefined);
  const valid = (record.selection?.judges ?? []).filter((j) => j.valid).length;
  deps.events.emit('log', {
    step: 'select',
    attempt: record.attempt,
    winner: record.selection?.winner ?? null,
    reason: record.selection?.reason ?? '',
    judges: (record.selection?.judges ?? []).map((j) => ({
      path: j.path,
      source: j.source,
      valid: j.valid,
      ...(j.why ? { why: j.why } : {}),
    })),
    candidates: ranked.map((c) => ({
      candidate: c.candidate,
      temperature: c.temperature,
      context_cut: c.context,
      group: c.group ?? null,
      votes: c.votes,
      tests_passed: c.testsPassed,
      tests_valid: valid,
      regressions: c.regressions,
      failure: c.failure?.category ?? null,
      message: c.failure?.message ?? null,
      score: c.score,
      input_tokens: c.tokens.input,
      output_tokens: c.tokens.output,
      cost_usd: c.costUsd,
      diff_chars: c.diff?.length ?? 0,
    })),
  });
}
