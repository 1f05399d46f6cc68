import type { AttemptTrace, ChatMessage, Diagnosis, RunTrace } from './trajectory.js';

/** The SFT pair kinds of issue 9. */
export type SftKind = 'positive' | 'negative_with_context' | 'reflection';

/** A supervised pair: the exact messages the model received, and the answer to learn. */
export interface SftPair {
  kind: SftKind;
  repo: string;
  source: string;
  attempt: number;
  candidate: number;
  messages: ChatMessage[];
  response: string;
}

/** A preference pair: one prompt, an edit that passed and one that failed. */
export interface DpoPair {
  kind: 'preference';
  repo: string;
  source: string;
  prompt: ChatMessage[];
  chosen: string;
  rejected: string;
  chosen_attempt: number;
  rejected_attempt: number;
  chosen_candidate: number;
  rejected_candidate: number;
  /** Whether the rejected answer was drawn from this very prompt (the same issue and context cut); otherwise the prompt is the winner's. */
  same_prompt: boolean;
}

/**
 * Losing candidates left out of the pairs, by reason: equivalent to the winner or to a candidate
 * already used (same group of an attempt, the same answer, or the same diff); passed every judge
 * test (they lost on selection, not on the tests, so they are no failing edit); never put to the
 * test; tested and failed but with no diagnosis to teach (SFT only: the candidate the last attempt
 * selected, which reflection never looked at).
 */
export interface Skipped {
  equivalent: number;
  passed_tests: number;
  untested: number;
  no_diagnosis: number;
}

export const noneSkipped = (): Skipped => ({ equivalent: 0, passed_tests: 0, untested: 0, no_diagnosis: 0 });

/** The question a negative-with-context pair asks after the failing edit and its test output. */
export const DIAGNOSIS_REQUEST =
  'The edit above was applied and the tests ran. Output (trimmed):\n```\n{output}\n```\nWhat went wrong? Name the failure category and the cause.';

/** The answer a negative-with-context pair teaches: the diagnosis reflection recorded. */
export const diagnosis = (r: { category: string; message: string }) => `Failure (${r.category}): ${r.message}`;

/** The candidate whose edit the run returned, when the run counts as passing (the agent's verdict or the official one). */
export function passingAttempt(run: RunTrace, passed: boolean): AttemptTrace | undefined {
  if (!passed || run.chosenAttempt === null) return undefined;
  const candidate = run.chosenCandidate ?? 1;
  return run.traces.find((t) => t.attempt === run.chosenAttempt && t.candidate === candidate && t.diff);
}

/** Whether the edit was put to the test (applied or refused by apply, or reflected on). */
const tested = (t: AttemptTrace) => Boolean(t.reflection || t.judged);

/**
 * What a failing candidate teaches as its diagnosis. The candidate its attempt selected is the
 * attempt, as before sampling: reflection's diagnosis, none when reflection never looked at it (the
 * last attempt; with samples 1 every run reads as it did). A losing candidate put to the test: what
 * its attempt's selection recorded of its failure.
 */
export function diagnosisOf(t: AttemptTrace): Diagnosis | undefined {
  if (t.selected || t.reflection) return t.reflection;
  return t.judged && t.failure ? t.failure : undefined;
}

/** Why a losing candidate that gives no pair gives none. */
function skipReason(t: AttemptTrace): keyof Skipped {
  if (!tested(t)) return 'untested';
  return t.failure === null ? 'passed_tests' : 'no_diagnosis';
}

/** Equivalent candidates of one attempt share a group; without one (no diff), a candidate is its own. */
const groupKey = (t: AttemptTrace) => `${t.attempt}:${t.group ?? `c${t.candidate}`}`;

/** Two candidates that are the same fix: the same group of one attempt, the same answer, or the same diff. */
function equivalent(a: AttemptTrace, b: AttemptTrace): boolean {
  if (a.attempt === b.attempt && a.group !== undefined && a.group === b.group) return true;
  if (a.response === b.response) return true;
  return Boolean(a.diff?.trim() && a.diff.trim() === b.diff?.trim());
}

/** The first two messages (system prompt, then the issue and code context), before any feedback. */
const opening = (messages: readonly ChatMessage[]) => messages.slice(0, 2);
const sameMessages = (a: readonly ChatMessage[], b: readonly ChatMessage[]) =>
  a.length === b.length && a.every((m, i) => m.role === b[i]!.role && m.content === b[i]!.content);

/**
 * The candidates of a run in the order a group's stand-in is taken: by attempt; within one, first
 * those `first` prefers, then the one reflection looked at, then the one its group's test ran on
 * (the lowest number), then by number.
 */
function standInOrder(run: RunTrace, first: (t: AttemptTrace) => boolean = () => false): AttemptTrace[] {
  const rank = (t: AttemptTrace) => (first(t) ? 0 : t.reflection ? 1 : t.group === t.candidate ? 2 : 3);
  return [...run.traces].sort((a, b) => a.attempt - b.attempt || rank(a) - rank(b) || a.candidate - b.candidate);
}

/**
 * Attempts (before sampling) that failed and were reflected on. Kept for readers of one-candidate
 * runs; the pairs below read every candidate.
 */
export function failedAttempts(run: RunTrace): AttemptTrace[] {
  return run.traces.filter((a) => a.reflection && a.response.trim());
}

/**
 * SFT pairs of one run, with the losing candidates left out. positive: the passing edit of a first
 * attempt, from the exact messages that produced it; reflection: a passing edit of a later attempt,
 * whose messages hold the earlier edit and its failure; both from the chosen candidate only.
 * negative_with_context: each failing edit and its output → the diagnosis, one per group of
 * equivalent candidates (they share one test run, so one output and one diagnosis).
 */
export function sftCandidates(run: RunTrace, passed: boolean): { pairs: SftPair[]; skipped: Skipped } {
  const base = { repo: run.repo, source: run.instanceId ?? run.taskId };
  const pairs: SftPair[] = [];
  const skipped = noneSkipped();
  const win = passingAttempt(run, passed);
  if (win)
    pairs.push({
      ...base,
      kind: win.attempt === 1 ? 'positive' : 'reflection',
      attempt: win.attempt,
      candidate: win.candidate,
      messages: win.messages,
      response: win.response,
    });
  const used = new Set<string>();
  const negatives: AttemptTrace[] = [];
  for (const t of standInOrder(run)) {
    if (!t.response.trim()) continue;
    const found = diagnosisOf(t);
    if (!found) {
      // A passing run's winner is its positive; a candidate of its group passed with it.
      if (t !== win)
        skipped[
          win && t.attempt === win.attempt && t.group !== undefined && t.group === win.group
            ? 'equivalent'
            : skipReason(t)
        ] += 1;
      continue;
    }
    if (used.has(groupKey(t))) {
      skipped.equivalent += 1;
      continue;
    }
    used.add(groupKey(t));
    negatives.push(t);
  }
  // In the order of the run (attempt, then candidate), as before sampling.
  for (const failed of negatives.sort((a, b) => a.attempt - b.attempt || a.candidate - b.candidate)) {
    pairs.push({
      ...base,
      kind: 'negative_with_context',
      attempt: failed.attempt,
      candidate: failed.candidate,
      messages: [
        ...failed.messages,
        { role: 'assistant', content: failed.response },
        {
          role: 'user',
          content: DIAGNOSIS_REQUEST.replace('{output}', (failed.output ?? '(no output was recorded)').trim()),
        },
      ],
      response: diagnosis(diagnosisOf(failed)!),
    });
  }
  return { pairs, skipped };
}

export function sftPairs(run: RunTrace, passed: boolean): SftPair[] {
  return sftCandidates(run, passed).pairs;
}

/**
 * Candidates of a passing run whose edit lost to the winner: every other candidate put to the test
 * that failed, one per group of equivalent candidates (the one drawn from the winner's prompt when
 * the group has one), none equivalent to the winner. Reflection runs only when another attempt
 * follows, so the last attempt of a run the agent left unverified (and the official verdict
 * resolved through an earlier one) failed without a reflection; it is a failing edit all the same.
 * A candidate its attempt's selection found failing nothing lost on votes or size, not on the
 * tests: it is no rejected answer.
 */
export function losingAttempts(run: RunTrace, win: AttemptTrace, skipped: Skipped = noneSkipped()): AttemptTrace[] {
  const prompt = opening(win.messages);
  const used = new Set<string>();
  const losers: AttemptTrace[] = [];
  for (const t of standInOrder(run, (c) => sameMessages(opening(c.messages), prompt))) {
    if (t === win || !t.response.trim()) continue;
    if (equivalent(t, win) || used.has(groupKey(t))) skipped.equivalent += 1;
    else if (!tested(t)) skipped.untested += 1;
    else if (t.failure === null) skipped.passed_tests += 1;
    else {
      used.add(groupKey(t));
      losers.push(t);
    }
  }
  return losers.sort((a, b) => a.attempt - b.attempt || a.candidate - b.candidate);
}

/**
 * DPO pairs of one passing run: the winning candidate's opening messages (the issue and the code
 * context its cut showed, before any feedback) as the prompt, its edit as chosen, each losing edit
 * as rejected.
 *
 * A losing candidate drawn from another context cut (top file alone, top functions, or the whole
 * conformal set) saw another prompt. It is paired on the winner's prompt all the same, and the row
 * says so (`same_prompt: false`; the card counts them): the preference is between two edits of one
 * repository for one issue, judged by the same judge tests, and which of them is right does not
 * depend on the code that was shown; the prompt must be the winner's, because the chosen edit may
 * rest on code only its prompt shows (a prompt without it would teach editing code unseen). The
 * rejected edit is then an off-policy sample for that prompt, which offline DPO takes as it takes
 * the edits of earlier attempts (whose prompts held no feedback either).
 */
export function dpoCandidates(run: RunTrace, passed: boolean): { pairs: DpoPair[]; skipped: Skipped } {
  const skipped = noneSkipped();
  const win = passingAttempt(run, passed);
  if (!win) return { pairs: [], skipped };
  const prompt = opening(win.messages);
  const pairs = losingAttempts(run, win, skipped).map((a) => ({
    kind: 'preference' as const,
    repo: run.repo,
    source: run.instanceId ?? run.taskId,
    prompt,
    chosen: win.response,
    rejected: a.response,
    chosen_attempt: win.attempt,
    rejected_attempt: a.attempt,
    chosen_candidate: win.candidate,
    rejected_candidate: a.candidate,
    same_prompt: sameMessages(opening(a.messages), prompt),
  }));
  return { pairs, skipped };
}

export function dpoPairs(run: RunTrace, passed: boolean): DpoPair[] {
  return dpoCandidates(run, passed).pairs;
}
