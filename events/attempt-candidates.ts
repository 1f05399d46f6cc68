import type { AttemptView } from './task-summary.js';

/**
 * The candidates of one attempt, folded from its events (issue 17's sampling): each candidate's
 * diff, apply and test results as they arrive, then the `select` log's ratings and the winner.
 * No imports beyond types: the web UI folds the same events with this code.
 */

/** A judge test of an attempt, as the `select` log lists it. */
export interface JudgeView {
  path: string;
  /** `reproduce` (the reproduction step) or `candidate N` (that candidate's answer). */
  source: string;
  /** Only a valid test (it failed without any patch, for a reason of the code) can prove a fix. */
  valid: boolean;
  why?: string;
}

/** Which candidate an attempt kept and why (the `select` log). */
export interface SelectionView {
  /** The chosen candidate; null when none was usable. */
  winner: number | null;
  reason: string;
  judges: JudgeView[];
}

/**
 * One candidate fix: the `select` log's record of it (absent fields are not known yet, or come
 * from a log older than sampling), with its diff from its `patch` event and its tests from the
 * `test_result` that ran it (or the equal candidate whose run it shares).
 */
export interface CandidateView {
  candidate: number;
  temperature?: number;
  context_cut?: string;
  /** The lowest candidate number whose normalised change is equal; null for no change. */
  group?: number | null;
  /** Candidates in its group, itself included. */
  votes?: number;
  /** Valid judge tests it makes pass, of `tests_valid`. */
  tests_passed?: number;
  tests_valid?: number;
  regressions?: string[];
  /** Its failure category, null when it passed every check. */
  failure?: string | null;
  message?: string | null;
  score?: number;
  input_tokens?: number;
  output_tokens?: number;
  /** What its model call cost; `unpriced` says the model has no known price (the cost is unknown, not zero). */
  cost_usd?: number;
  unpriced?: boolean;
  diff_chars?: number;
  diff?: string;
  files?: string[];
  apply?: Record<string, unknown>;
  tests?: Record<string, unknown>;
}

const CONTEXT_CUTS = new Set(['conformal_set', 'top_file', 'top_k_functions']);

/** An event's candidate number: logs from before sampling carry none, and had one candidate. */
export function candidateNumber(data: Record<string, unknown>): number {
  return typeof data.candidate === 'number' && Number.isInteger(data.candidate) && data.candidate > 0
    ? data.candidate
    : 1;
}

/** The candidate whose results are the attempt's own: the winner once chosen, candidate 1 until then. */
export function chosenCandidate(view: AttemptView): number {
  return view.candidate ?? 1;
}

/** The attempt's record of candidate `n`, made when first seen (kept in candidate order until a selection orders them). */
export function candidateOf(view: AttemptView, n: number): CandidateView {
  const list = (view.candidates ??= []);
  let found = list.find((c) => c.candidate === n);
  if (!found) {
    found = { candidate: n };
    list.push(found);
    if (!view.selection) list.sort((a, b) => a.candidate - b.candidate);
  }
  return found;
}

/** Makes the attempt's own fields (diff, files, apply, tests) those of its chosen candidate. */
export function adoptChosen(view: AttemptView): void {
  const chosen = view.candidates?.find((c) => c.candidate === chosenCandidate(view));
  if (!chosen) return;
  for (const key of ['diff', 'files', 'apply', 'tests'] as const) {
    if (chosen[key] === undefined) delete view[key];
    else (view as unknown as Record<string, unknown>)[key] = chosen[key];
  }
  if (typeof chosen.score === 'number') view.score = chosen.score;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Copies what a `select` record says of one candidate, leaving out what it does not say. */
function rate(into: CandidateView, r: Record<string, unknown>): void {
  if (num(r.temperature) !== undefined) into.temperature = num(r.temperature);
  if (typeof r.context_cut === 'string' && CONTEXT_CUTS.has(r.context_cut)) into.context_cut = r.context_cut;
  if (r.group === null || num(r.group) !== undefined) into.group = r.group as number | null;
  for (const key of [
    'votes',
    'tests_passed',
    'tests_valid',
    'score',
    'input_tokens',
    'output_tokens',
    'diff_chars',
  ] as const) {
    const value = num(r[key]);
    if (value !== undefined) into[key] = value;
  }
  if (num(r.cost_usd) !== undefined) into.cost_usd = num(r.cost_usd);
  if (Array.isArray(r.regressions)) into.regressions = r.regressions.map(String);
  if (r.failure === null || typeof r.failure === 'string') into.failure = r.failure;
  if (r.message === null || typeof r.message === 'string') into.message = r.message;
}

/**
 * Folds the `select` log into its attempt: the candidates in its order (best first) with what the
 * earlier events gave each, the selection, and the winner's results as the attempt's own. With no
 * winner (no candidate was usable), the best-rated candidate stands for the attempt.
 */
export function foldSelection(view: AttemptView, d: Record<string, unknown>): void {
  const records = Array.isArray(d.candidates)
    ? (d.candidates as Array<Record<string, unknown>>).filter((r) => r && typeof r.candidate === 'number')
    : [];
  const known = view.candidates ?? [];
  const ordered = records.map((r) => {
    const into = known.find((c) => c.candidate === r.candidate) ?? { candidate: r.candidate as number };
    rate(into, r);
    return into;
  });
  // A candidate the list leaves out keeps its record, after the rated ones.
  view.candidates = [...ordered, ...known.filter((c) => !ordered.includes(c))];
  const judges = Array.isArray(d.judges) ? (d.judges as Array<Record<string, unknown>>) : [];
  view.selection = {
    winner: typeof d.winner === 'number' ? d.winner : null,
    reason: typeof d.reason === 'string' ? d.reason : '',
    judges: judges.map((j) => ({
      path: String(j.path),
      source: String(j.source ?? ''),
      valid: j.valid === true,
      ...(typeof j.why === 'string' ? { why: j.why } : {}),
    })),
  };
  view.candidate = view.selection.winner ?? view.candidates[0]?.candidate ?? 1;
  adoptChosen(view);
  // The attempt's failure is the chosen candidate's: another candidate's apply failure no longer stands for it.
  const chosen = view.candidates.find((c) => c.candidate === view.candidate);
  if (typeof chosen?.failure === 'string') view.failure = { category: chosen.failure, message: chosen.message ?? '' };
  else if (chosen?.apply?.ok === false && typeof chosen.apply.category === 'string')
    view.failure = { category: chosen.apply.category, message: String(chosen.apply.message ?? '') };
  else if (view.failure) delete view.failure;
}

/** Folds a per-candidate event (`patch`, `apply_result`, `test_result`, a fix's `model_call`) into its candidates. */
export function foldCandidateEvent(
  view: AttemptView,
  type: 'patch' | 'apply_result' | 'test_result' | 'model_call',
  d: Record<string, unknown>,
): void {
  const n = candidateNumber(d);
  if (type === 'model_call') {
    const c = candidateOf(view, n);
    if (num(d.temperature) !== undefined) c.temperature = num(d.temperature);
    if (typeof d.context_cut === 'string' && CONTEXT_CUTS.has(d.context_cut)) c.context_cut = d.context_cut;
    if (d.priced === false) c.unpriced = true;
    return;
  }
  if (type === 'patch') {
    const c = candidateOf(view, n);
    c.diff = typeof d.diff === 'string' ? d.diff : '';
    c.files = Array.isArray(d.files) ? d.files.map(String) : [];
    if (num(d.group) !== undefined) c.group = num(d.group);
  } else if (type === 'apply_result') {
    candidateOf(view, n).apply = { ...d };
  } else {
    // One run judges every candidate of a group: it is each one's tests.
    const shared = Array.isArray(d.candidates) ? d.candidates.filter((x): x is number => typeof x === 'number') : [n];
    for (const m of shared.length ? shared : [n]) candidateOf(view, m).tests = { ...d };
  }
}
