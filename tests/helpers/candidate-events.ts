import type { AgentEvent, EventType } from '../../agent/index.js';
import { emptySummary, foldEvent, type TaskSummary } from '../../api/task.js';

// Hand-written event logs of the sampling contract (issue 17), for the reducer and UI tests.

/** Events numbered in order, as one run writes them. */
export function log(taskId: string, ...entries: Array<[EventType, Record<string, unknown>]>): AgentEvent[] {
  return entries.map(([type, data], i) => ({
    task_id: taskId,
    seq: i + 1,
    ts: '2026-11-26T00:00:00.000Z',
    type,
    data,
  }));
}

/** The summary a replay of these events builds. */
export const fold = (events: AgentEvent[], from: TaskSummary = emptySummary()) =>
  events.reduce((s, e) => foldEvent(s, e), from);

/** A one-line diff of calc.py's add. */
export const diffOf = (to: string) =>
  `--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return ${to}\n`;
/** One pytest run of the reproduction test with this outcome. */
export const run = (status: string) => ({
  outcomes: { 'tests/test_repro_add.py::test_add': { status } },
  exit_code: status === 'PASSED' ? 0 : 1,
});
/** A candidate's fix model call. */
export const call = (attempt: number, candidate: number, temperature: number, context_cut: string, priced = true) =>
  [
    'model_call',
    {
      step: 'generate',
      attempt,
      candidate,
      temperature,
      context_cut,
      usage: { input_tokens: 1000, output_tokens: 100 },
      cost_usd: priced ? 0.01 : 0,
      priced,
    },
  ] as [EventType, Record<string, unknown>];
/** One candidate as the `select` log rates it (defaults overridden by `more`). */
export const rated = (candidate: number, more: Record<string, unknown>) => ({
  candidate,
  temperature: 0,
  context_cut: 'conformal_set',
  group: candidate,
  votes: 1,
  tests_passed: 0,
  tests_valid: 2,
  regressions: [],
  failure: null,
  message: null,
  score: 0,
  input_tokens: 1000,
  output_tokens: 100,
  cost_usd: 0.01,
  diff_chars: 90,
  ...more,
});

/**
 * One attempt of four candidates: 1 and 3 write the same change (one group, tested once, wrong),
 * 2 is right, 4's edit does not apply. The judges pick 2.
 */
export const fourCandidates = (taskId = 't') =>
  log(
    taskId,
    ['status', { status: 'running' }],
    call(1, 1, 0, 'conformal_set'),
    call(1, 2, 0.4, 'top_file'),
    call(1, 3, 0.7, 'top_k_functions', false),
    call(1, 4, 0.7, 'conformal_set'),
    ['patch', { attempt: 1, candidate: 1, group: 1, diff: diffOf('a * b'), files: ['calc.py'] }],
    ['patch', { attempt: 1, candidate: 2, group: 2, diff: diffOf('a + b'), files: ['calc.py'] }],
    ['patch', { attempt: 1, candidate: 3, group: 1, diff: diffOf('a * b'), files: ['calc.py'] }],
    ['apply_result', { attempt: 1, candidate: 1, ok: true, method: 'git apply' }],
    ['apply_result', { attempt: 1, candidate: 2, ok: true, method: 'git apply' }],
    ['apply_result', { attempt: 1, candidate: 3, ok: true, method: 'git apply' }],
    [
      'apply_result',
      {
        attempt: 1,
        candidate: 4,
        ok: false,
        category: 'edit_not_applied',
        message: 'SEARCH block not found in calc.py',
      },
    ],
    [
      'test_result',
      {
        attempt: 1,
        candidate: 1,
        candidates: [1, 3],
        reproduction: ['tests/test_repro_add.py'],
        before: run('FAILED'),
        after: run('FAILED'),
        regressions: [],
      },
    ],
    [
      'test_result',
      {
        attempt: 1,
        candidate: 2,
        candidates: [2],
        reproduction: ['tests/test_repro_add.py'],
        before: run('FAILED'),
        after: run('PASSED'),
        regressions: [],
      },
    ],
    [
      'log',
      {
        step: 'select',
        attempt: 1,
        winner: 2,
        reason: 'candidate 2 passes 2 of 2 valid judge tests with no regression',
        judges: [
          { path: 'tests/test_repro_add.py', source: 'reproduce', valid: true },
          { path: 'tests/test_repro_add_2.py', source: 'candidate 2', valid: true },
          { path: 'tests/test_repro_add_3.py', source: 'candidate 3', valid: false, why: 'passes without any patch' },
        ],
        candidates: [
          rated(2, { temperature: 0.4, context_cut: 'top_file', tests_passed: 2, score: 1 }),
          rated(1, {
            votes: 2,
            failure: 'repro_still_fails',
            message: 'the reproduction test still fails',
            score: 0.3,
          }),
          rated(3, {
            temperature: 0.7,
            context_cut: 'top_k_functions',
            group: 1,
            votes: 2,
            failure: 'repro_still_fails',
            message: 'the reproduction test still fails',
            score: 0.3,
            cost_usd: 0,
          }),
          rated(4, {
            temperature: 0.7,
            group: null,
            tests_valid: 2,
            failure: 'edit_not_applied',
            message: 'SEARCH block not found in calc.py',
            score: 0,
            diff_chars: 0,
          }),
        ],
      },
    ],
    [
      'done',
      {
        status: 'resolved',
        chosen_attempt: 1,
        chosen_candidate: 2,
        patch: diffOf('a + b'),
        attempt_results: [{ attempt: 1, candidate: 2, candidates: 4, failure: null, score: 1 }],
      },
    ],
  );

/** A log from before sampling: no candidate on any event, no select log; attempt 1 fails its test, attempt 2 does not apply. */
export const oldLog = (taskId = 't') =>
  log(
    taskId,
    [
      'model_call',
      {
        step: 'reproduce',
        attempt: 1,
        temperature: 0,
        usage: { input_tokens: 10, output_tokens: 5 },
        cost_usd: 0.001,
        priced: true,
      },
    ],
    [
      'model_call',
      {
        step: 'generate',
        attempt: 1,
        temperature: 0,
        usage: { input_tokens: 10, output_tokens: 5 },
        cost_usd: 0.001,
        priced: true,
      },
    ],
    ['patch', { attempt: 1, diff: diffOf('a * b'), files: ['calc.py'], tests: ['tests/test_repro_add.py'] }],
    ['apply_result', { attempt: 1, ok: true, method: 'git apply' }],
    ['test_result', { attempt: 1, before: run('FAILED'), after: run('FAILED'), regressions: [] }],
    ['reflection', { attempt: 1, category: 'repro_still_fails', message: 'still fails' }],
    ['apply_result', { attempt: 2, ok: false, category: 'edit_not_applied', message: 'no match' }],
    [
      'done',
      {
        status: 'failed',
        chosen_attempt: null,
        patch: '',
        attempt_results: [
          { attempt: 1, failure: 'repro_still_fails', message: 'still fails', score: 0.3 },
          { attempt: 2, failure: 'edit_not_applied', message: 'no match', score: 0 },
        ],
      },
    ],
  );
