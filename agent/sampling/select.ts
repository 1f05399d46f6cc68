import { ATTEMPT_TIER } from '../attempt-score.js';
import type { CandidateRecord, JudgeTest, Selection } from '../state.js';

/** What selection reads of a candidate, best when larger (regressions and size when smaller). */
interface Standing {
  record: CandidateRecord;
  tier: number;
  diffChars: number;
}

/** A change that never ran (it does not apply, or the sandbox failed): below every tested tier, which start at 1. */
const UNTESTED_TIER = 0;
/** No change at all: below everything, and never a winner. */
const NO_CHANGE_TIER = -1;

/** A candidate's tier: proven (0 regressions) › fixed with regressions › honest failure › proves nothing › untested. */
function tierOf(c: CandidateRecord, anyValid: boolean): number {
  if (!c.diff || c.group === undefined) return NO_CHANGE_TIER;
  if (!c.failure) return ATTEMPT_TIER.verified;
  if (['patch_does_not_apply', 'sandbox_error'].includes(c.failure.category)) return UNTESTED_TIER;
  // Only a candidate that passed its judges is judged on regressions.
  if (c.failure.category === 'regression') return ATTEMPT_TIER.fixedWithRegressions;
  return anyValid ? ATTEMPT_TIER.reproducedOnly : ATTEMPT_TIER.provesNothing;
}

/** The keys in the order they decide, each with how it reads in a reason. */
const KEYS: Array<{ better: (a: Standing, b: Standing) => number; says: (a: Standing, b: Standing) => string }> = [
  {
    better: (a, b) => a.tier - b.tier,
    says: (a) =>
      a.record.failure
        ? `it gets furthest (${a.record.failure.category})`
        : 'it is proven: it makes the failing reproduction tests pass and breaks no existing test',
  },
  {
    better: (a, b) => a.record.testsPassed - b.record.testsPassed,
    says: (a, b) => `it passes more judge tests (${a.record.testsPassed} against ${b.record.testsPassed})`,
  },
  {
    better: (a, b) => b.record.regressions.length - a.record.regressions.length,
    says: (a, b) =>
      `it breaks fewer existing tests (${a.record.regressions.length} against ${b.record.regressions.length})`,
  },
  {
    better: (a, b) => a.record.votes - b.record.votes,
    says: (a, b) => `more candidates wrote the same fix (${a.record.votes} against ${b.record.votes})`,
  },
  // Equivalent candidates share their group's results, but only its first was applied and run: that one stands for the group.
  {
    better: (a, b) => Number(a.record.candidate === a.record.group) - Number(b.record.candidate === b.record.group),
    says: () => 'it is the one of its group that was run',
  },
  {
    better: (a, b) => b.diffChars - a.diffChars,
    says: (a, b) => `it is the smaller change (${a.diffChars} against ${b.diffChars} characters)`,
  },
  {
    better: (a, b) => b.record.candidate - a.record.candidate,
    says: () => 'the tests cannot tell the two apart: the lower candidate number wins',
  },
];

const compare = (a: Standing, b: Standing) => {
  for (const key of KEYS) {
    const d = key.better(a, b);
    if (d !== 0) return -d;
  }
  return 0;
};

/**
 * Picks an attempt's candidate: tests first (proven over fixed-with-regressions over honest
 * failures; then more judge tests passed; then fewer regressions), then votes of equivalent
 * candidates, then the smaller change, then the lower number: deterministic, whatever order the
 * answers came in. A minority fix that the tests prove beats a majority they do not.
 */
export function selectCandidate(candidates: readonly CandidateRecord[], judges: readonly JudgeTest[]): Selection {
  const anyValid = judges.some((j) => j.valid);
  const standings = candidates.map((record) => ({
    record,
    tier: tierOf(record, anyValid),
    diffChars: record.diff?.length ?? 0,
  }));
  const ranked = [...standings].sort(compare);
  const best = ranked[0];
  if (!best || best.tier === NO_CHANGE_TIER)
    return {
      reason: 'no candidate produced a change to test',
      ranking: ranked.map((s) => s.record.candidate),
      judges: [...judges],
    };
  // The runner-up is the best candidate of another group: equivalent candidates share every result.
  const other = ranked.find((s) => s.record.group !== best.record.group && s.tier !== NO_CHANGE_TIER);
  let reason: string;
  if (candidates.length === 1) reason = 'the only candidate';
  else if (!other)
    reason =
      best.record.votes > 1
        ? `all ${best.record.votes} candidates with a change wrote the same fix`
        : 'the only candidate with a change';
  else {
    const key = KEYS.find((k) => k.better(best, other) !== 0) ?? KEYS[KEYS.length - 1]!;
    reason = `candidate ${best.record.candidate} over candidate ${other.record.candidate}: ${key.says(best, other)}`;
  }
  if (judges.length === 0 && candidates.length > 1) reason = `no reproduction test judged them; ${reason}`;
  // A winner that is not proven says so: being chosen is not being right.
  if (best.record.failure) reason += `; it is not proven (${best.record.failure.category})`;
  return { winner: best.record.candidate, reason, ranking: ranked.map((s) => s.record.candidate), judges: [...judges] };
}
