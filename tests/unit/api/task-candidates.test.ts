import { describe, expect, it } from 'vitest';
import { changesSummary, type TaskSummary } from '../../../api/task.js';
import { diffOf, fold, fourCandidates, log, oldLog, rated, run } from '../../helpers/candidate-events.js';

const FOUR = fourCandidates();
const OLD = oldLog();

describe('the task summary of an attempt with several candidates', () => {
  it('lists every candidate best first with its rating, its diff and the tests of its group; the attempt is the winner', () => {
    const summary = fold(FOUR);
    expect(summary.attempts).toHaveLength(1);
    const [attempt] = summary.attempts;
    expect(attempt!.candidates!.map((c) => c.candidate)).toEqual([2, 1, 3, 4]);
    const [c2, c1, c3, c4] = attempt!.candidates!;
    expect(c2).toMatchObject({
      temperature: 0.4,
      context_cut: 'top_file',
      group: 2,
      votes: 1,
      tests_passed: 2,
      tests_valid: 2,
      failure: null,
      diff: diffOf('a + b'),
      files: ['calc.py'],
    });
    expect(c2!.tests).toMatchObject({ candidate: 2, after: run('PASSED') });
    // 1 and 3 share one test run.
    expect(c1!.tests).toMatchObject({ candidate: 1, candidates: [1, 3], after: run('FAILED') });
    expect(c3!.tests).toEqual(c1!.tests);
    expect(c3).toMatchObject({
      group: 1,
      votes: 2,
      failure: 'repro_still_fails',
      diff: diffOf('a * b'),
      unpriced: true,
    });
    expect(c1!.unpriced).toBeUndefined();
    expect(c4).toMatchObject({
      group: null,
      failure: 'edit_not_applied',
      apply: { ok: false, category: 'edit_not_applied' },
    });
    expect(c4!.diff).toBeUndefined();
    expect(c4!.tests).toBeUndefined();

    expect(attempt!.selection).toEqual({
      winner: 2,
      reason: 'candidate 2 passes 2 of 2 valid judge tests with no regression',
      judges: [
        { path: 'tests/test_repro_add.py', source: 'reproduce', valid: true },
        { path: 'tests/test_repro_add_2.py', source: 'candidate 2', valid: true },
        { path: 'tests/test_repro_add_3.py', source: 'candidate 3', valid: false, why: 'passes without any patch' },
      ],
    });
    // The attempt's own fields are the winner's, not candidate 1's.
    expect(attempt).toMatchObject({
      candidate: 2,
      diff: diffOf('a + b'),
      files: ['calc.py'],
      apply: { candidate: 2, ok: true },
      tests: { candidate: 2, after: run('PASSED') },
      failure: null,
      score: 1,
    });
    expect(summary).toMatchObject({ verdict: 'resolved', final_patch: diffOf('a + b'), unpriced_calls: 1 });
  });

  it("shows candidate 1 as the attempt until the selection, and no other candidate's failure as the attempt's", () => {
    const beforeSelect = fold(
      FOUR.slice(
        0,
        FOUR.findIndex((e) => e.data.step === 'select'),
      ),
    );
    const [attempt] = beforeSelect.attempts;
    expect(attempt!.candidates!.map((c) => c.candidate)).toEqual([1, 2, 3, 4]);
    expect(attempt).toMatchObject({ diff: diffOf('a * b'), tests: { candidate: 1 } });
    expect(attempt!.failure).toBeUndefined(); // candidate 4's edit did not apply; the attempt is not failed for it
    expect(attempt!.selection).toBeUndefined();
  });

  it('folds to the same view event by event, through a stored (JSON) summary, or all at once', () => {
    const whole = fold(FOUR);
    const cut = 9;
    const stored = JSON.parse(JSON.stringify(fold(FOUR.slice(0, cut)))) as TaskSummary;
    expect(fold(FOUR.slice(cut), stored)).toEqual(whole);
    // The worker persists the summary on every event that changes it: the select log is one.
    expect(FOUR.filter((e) => e.type === 'log').every(changesSummary)).toBe(true);
    expect(changesSummary(log('t', ['log', { step: 'context', note: 'x' }])[0]!)).toBe(false);
  });

  it('a retried run starts its candidates afresh', () => {
    const retried = fold(log('t', ['status', { status: 'running', retry: true }]), fold(FOUR));
    expect(retried.attempts).toEqual([]);
  });

  it("with no winner, the best-rated candidate stands for the attempt and its failure is the attempt's", () => {
    const events = log(
      't',
      ['patch', { attempt: 1, candidate: 1, group: 1, diff: diffOf('a * b'), files: ['calc.py'] }],
      ['apply_result', { attempt: 1, candidate: 1, ok: false, category: 'edit_not_applied', message: 'no match' }],
      ['patch', { attempt: 1, candidate: 2, group: 2, diff: diffOf('a / b'), files: ['calc.py'] }],
      ['apply_result', { attempt: 1, candidate: 2, ok: true }],
      ['test_result', { attempt: 1, candidate: 2, candidates: [2], after: run('FAILED') }],
      ['log', { step: 'generate', stopped_by: 'cost', attempt: 1, drawn: 2, wanted: 4 }],
      [
        'log',
        {
          step: 'select',
          attempt: 1,
          winner: null,
          reason: 'no candidate passes a valid judge test',
          judges: [],
          candidates: [
            rated(2, { failure: 'repro_still_fails', message: 'still fails', score: 0.2 }),
            rated(1, { failure: 'edit_not_applied', message: 'no match' }),
          ],
        },
      ],
    );
    const [attempt] = fold(events).attempts;
    expect(attempt).toMatchObject({
      candidate: 2,
      diff: diffOf('a / b'),
      failure: { category: 'repro_still_fails', message: 'still fails' },
      score: 0.2,
      selection: { winner: null },
      sampling: { stopped_by: 'cost', drawn: 2, wanted: 4 },
    });
  });
});

describe('the task summary of an old log (no candidate fields)', () => {
  it('reads every event as candidate 1: the attempt fields as before, one candidate, no selection', () => {
    const [first, second] = fold(OLD).attempts;
    expect(first).toEqual({
      attempt: 1,
      diff: diffOf('a * b'),
      files: ['calc.py'],
      apply: { attempt: 1, ok: true, method: 'git apply' },
      tests: { attempt: 1, before: run('FAILED'), after: run('FAILED'), regressions: [] },
      reflection: { category: 'repro_still_fails', message: 'still fails' },
      failure: { category: 'repro_still_fails', message: 'still fails' },
      score: 0.3,
      candidates: [
        {
          candidate: 1,
          temperature: 0,
          diff: diffOf('a * b'),
          files: ['calc.py'],
          apply: { attempt: 1, ok: true, method: 'git apply' },
          tests: { attempt: 1, before: run('FAILED'), after: run('FAILED'), regressions: [] },
        },
      ],
    });
    expect(second).toMatchObject({
      attempt: 2,
      apply: { ok: false },
      failure: { category: 'edit_not_applied', message: 'no match' },
      candidates: [{ candidate: 1 }],
    });
    expect(second!.diff).toBeUndefined();
    expect(second!.selection).toBeUndefined();
  });
});
