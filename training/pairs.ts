import type { AttemptTrace, ChatMessage, RunTrace } from './trajectory.js';

/** The SFT pair kinds of issue 9. */
export type SftKind = 'positive' | 'negative_with_context' | 'reflection';

/** A supervised pair: the exact messages the model received, and the answer to learn. */
export interface SftPair {
  kind: SftKind;
  repo: string;
  source: string;
  attempt: number;
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
}

/** The question a negative-with-context pair asks after the failing edit and its test output. */
export const DIAGNOSIS_REQUEST = 'The edit above was applied and the tests ran. Output (trimmed):\n```\n{output}\n```\nWhat went wrong? Name the failure category and the cause.';

/** The answer a negative-with-context pair teaches: the diagnosis reflection recorded. */
export const diagnosis = (r: { category: string; message: string }) => `Failure (${r.category}): ${r.message}`;

/** The attempt that passed, when the run counts as passing (the agent's verdict or the official one). */
export function passingAttempt(run: RunTrace, passed: boolean): AttemptTrace | undefined {
  if (!passed || run.chosenAttempt === null) return undefined;
  return run.attempts.find((a) => a.attempt === run.chosenAttempt && a.diff);
}

/** Attempts that failed and were reflected on (each has an edit, its output and a diagnosis). */
export function failedAttempts(run: RunTrace): AttemptTrace[] {
  return run.attempts.filter((a) => a.reflection && a.response.trim());
}

/**
 * SFT pairs of one run. positive: the passing edit of a first attempt, from the exact messages
 * that produced it; reflection: a passing edit of a later attempt, whose messages hold the earlier
 * edit and its failure; negative_with_context: each failing edit and its output → the diagnosis.
 */
export function sftPairs(run: RunTrace, passed: boolean): SftPair[] {
  const base = { repo: run.repo, source: run.instanceId ?? run.taskId };
  const pairs: SftPair[] = [];
  const win = passingAttempt(run, passed);
  if (win) pairs.push({ ...base, kind: win.attempt === 1 ? 'positive' : 'reflection', attempt: win.attempt, messages: win.messages, response: win.response });
  for (const failed of failedAttempts(run)) {
    pairs.push({
      ...base,
      kind: 'negative_with_context',
      attempt: failed.attempt,
      messages: [...failed.messages, { role: 'assistant', content: failed.response }, { role: 'user', content: DIAGNOSIS_REQUEST.replace('{output}', (failed.output ?? '(no output was recorded)').trim()) }],
      response: diagnosis(failed.reflection!),
    });
  }
  return pairs;
}

/**
 * Attempts of a passing run whose edit lost to the winner: every other attempt put to the test.
 * Reflection runs only when another attempt follows, so the last attempt of a run the agent left
 * unverified (and the official verdict resolved through an earlier one) failed without a
 * reflection; it is a failing edit all the same.
 */
export function losingAttempts(run: RunTrace, win: AttemptTrace): AttemptTrace[] {
  return run.attempts.filter((a) => a.attempt !== win.attempt && a.response.trim() && a.response !== win.response && (a.reflection || a.judged));
}

/**
 * DPO pairs of one passing run: the first attempt's messages (issue and context, before any
 * feedback) as the prompt, the passing edit as chosen, each losing edit as rejected.
 */
export function dpoPairs(run: RunTrace, passed: boolean): DpoPair[] {
  const win = passingAttempt(run, passed);
  const first = run.attempts.find((a) => a.attempt === 1);
  if (!win || !first) return [];
  const prompt = first.messages.slice(0, 2);
  return losingAttempts(run, win)
    .map((a) => ({ kind: 'preference' as const, repo: run.repo, source: run.instanceId ?? run.taskId, prompt, chosen: win.response, rejected: a.response, chosen_attempt: win.attempt, rejected_attempt: a.attempt }));
}
