/**
 * How attempts are ranked when none is proven: a verified fix outranks everything, and a test that
 * proves nothing (it passed without the patch, or never ran) never outranks one that fails honestly.
 * Only the order of the values matters; they start at 1 so that every tested attempt scores above
 * UNTESTED_SCORE (the lowest tier, less the largest penalty, is 1 × TIER_WEIGHT − PENALTY_CAP = 1).
 */
export const ATTEMPT_TIER = {
  /** The reproduction test failed before the patch, passes after it, and no existing test newly fails. */
  verified: 4,
  /** The reproduction test went from failing to passing, but existing tests newly fail. */
  fixedWithRegressions: 3,
  /** The reproduction test reproduced the issue and still fails: an honest failure. */
  reproducedOnly: 2,
  /** The test proved nothing: it passed without the patch, or did not run, or was missing. */
  provesNothing: 1,
} as const;

/** One tier is worth more than any penalty inside a tier can take away. */
const TIER_WEIGHT = 10;
/**
 * Each newly failing existing test costs this much, up to PENALTY_CAP in all: as much as 50,000
 * characters of diff, so that among realistic patches fewer regressions decide before size does.
 */
const REGRESSION_PENALTY = 0.5;
/** Penalties inside a tier stay below one tier's weight. */
const PENALTY_CAP = TIER_WEIGHT - 1;
/** Among equals, the smaller diff wins: a character costs this much (a 10 kB diff costs 0.1). */
const DIFF_CHAR_PENALTY = 1e-5;

/** What the test node learnt about an attempt. */
export interface AttemptEvidence {
  reproFailedBefore: boolean;
  reproPassedAfter: boolean;
  regressions: number;
  diffChars: number;
}

/** The attempt's tier. */
export function attemptTier(e: AttemptEvidence): number {
  if (e.reproFailedBefore && e.reproPassedAfter)
    return e.regressions === 0 ? ATTEMPT_TIER.verified : ATTEMPT_TIER.fixedWithRegressions;
  return e.reproFailedBefore ? ATTEMPT_TIER.reproducedOnly : ATTEMPT_TIER.provesNothing;
}

/** A score for choosing the best attempt (higher is better); tiers never overlap. */
export function attemptScore(e: AttemptEvidence): number {
  const penalty = Math.min(PENALTY_CAP, e.regressions * REGRESSION_PENALTY + e.diffChars * DIFF_CHAR_PENALTY);
  return attemptTier(e) * TIER_WEIGHT - penalty;
}

/**
 * Scores of attempts that never reached a test run: below every tested attempt (whose scores are at
 * least 1), and ordered by how far the attempt got.
 */
export const UNTESTED_SCORE = {
  /** A change the sandbox failed to test (not the change's fault): the highest, as the change itself may be right. */
  sandboxError: 0,
  /** A change that does not apply to the checkout: the model wrote something, but nothing could be tested. */
  doesNotApply: -0.5,
  /** No change at all: the lowest, so any attempt that produced a diff is kept over it. */
  noAnswer: -1,
} as const;
