import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dpoCandidates,
  exportTrainingData,
  readTrajectory,
  sftCandidates,
  type RunTrace,
} from '../../training/index.js';

// Hand-written trajectories in the event format of the sampling contract (issue 17): an attempt
// draws several candidates; each generate call, patch, apply and test result names its candidate,
// a test result names every candidate of the group it judged, and a `select` log per attempt says
// how each candidate fared and which won.

const SYSTEM = 'You are fixwright, an agent that fixes issues.';
const ISSUE = 'add(2, 3) returns -1 instead of 5';
const CONTEXT: Record<string, string> = {
  conformal_set: 'calc.py (whole) and tests/test_calc.py',
  top_file: 'calc.py (whole)',
  top_k_functions: 'calc.py: def add',
};
const opening = (cut: string) => [
  { role: 'system', content: SYSTEM },
  { role: 'user', content: `Issue: ${ISSUE}\n\nCode (${cut}): ${CONTEXT[cut]}` },
];
const FEEDBACK =
  'Your previous attempt failed (repro_still_fails): the reproduction test still fails with the patch applied';
const answer = (expr: string, note = '') =>
  `calc.py\n\`\`\`python\n<<<<<<< SEARCH\n    return a - b\n=======\n    return ${expr}\n>>>>>>> REPLACE\n\`\`\`\n${note}`;
const diff = (expr: string) =>
  `--- a/calc.py\n+++ b/calc.py\n@@ -1,3 +1,3 @@\n def add(a, b):\n-    return a - b\n+    return ${expr}\n`;

type Data = Record<string, unknown>;
/** Events as the log writes them: one task, seq from 1. */
const log = (taskId: string, events: Array<[string, Data]>) =>
  events
    .map(([type, data], i) =>
      JSON.stringify({
        task_id: taskId,
        seq: i + 1,
        ts: `2026-11-26T19:00:${String(i % 60).padStart(2, '0')}Z`,
        type,
        data,
      }),
    )
    .join('\n') + '\n';

interface Cand {
  candidate: number;
  cut: string;
  expr: string;
  group: number;
  /** The category selection recorded, or null for one that failed no judge test. */
  failure: string | null;
  note?: string;
  /** Not applied or tested (no patch, apply or test events). */
  untested?: boolean;
}

/** The events of one sampled attempt: every candidate's generate call, patch and apply, one test per group, the select log. */
function sampledAttempt(
  attempt: number,
  cands: Cand[],
  winner: number,
  feedback?: { answer: string },
): Array<[string, Data]> {
  const events: Array<[string, Data]> = [];
  const temps = [0.2, 0.8, 0.6, 1.0];
  for (const c of cands) {
    const messages = [
      ...opening(c.cut),
      ...(feedback
        ? [
            { role: 'assistant', content: feedback.answer },
            { role: 'user', content: FEEDBACK },
          ]
        : []),
    ];
    events.push([
      'model_call',
      {
        step: 'generate',
        attempt,
        candidate: c.candidate,
        context_cut: c.cut,
        temperature: temps[c.candidate - 1],
        model: 'scripted',
        messages,
        response: answer(c.expr, c.note),
      },
    ]);
  }
  for (const c of cands) {
    if (c.untested) continue;
    events.push([
      'patch',
      { attempt, candidate: c.candidate, group: c.group, diff: diff(c.expr), files: ['calc.py'], tests: [] },
    ]);
    events.push(['apply_result', { attempt, candidate: c.candidate, ok: true, method: 'search_replace' }]);
  }
  for (const group of new Set(cands.filter((c) => !c.untested).map((c) => c.group))) {
    const members = cands.filter((c) => c.group === group && !c.untested);
    events.push([
      'test_result',
      {
        attempt,
        candidate: group,
        candidates: members.map((c) => c.candidate),
        reproduction: ['tests/test_repro_add.py'],
        before: { passed: 0, failed: 1 },
        after: {
          passed: members[0]!.failure ? 0 : 1,
          failed: members[0]!.failure ? 1 : 0,
          output: `output of group ${group} in attempt ${attempt}: return ${members[0]!.expr}`,
        },
        existing: { regressions: [] },
      },
    ]);
  }
  const ranked = [...cands].sort((a, b) =>
    a.candidate === winner
      ? -1
      : b.candidate === winner
        ? 1
        : Number(a.failure !== null) - Number(b.failure !== null) || a.candidate - b.candidate,
  );
  events.push([
    'log',
    {
      step: 'select',
      attempt,
      winner,
      reason: `candidate ${winner} over another: it passes more judge tests`,
      judges: [{ path: 'tests/test_repro_add.py', source: 'reproduce', valid: true }],
      candidates: ranked.map((c) => ({
        candidate: c.candidate,
        temperature: temps[c.candidate - 1],
        context_cut: c.cut,
        group: c.untested ? null : c.group,
        votes: c.untested ? 0 : cands.filter((o) => o.group === c.group && !o.untested).length,
        tests_passed: c.failure ? 0 : 1,
        tests_valid: 1,
        regressions: [],
        failure: c.untested ? 'no_edits' : c.failure,
        message: c.untested
          ? 'never applied'
          : c.failure
            ? `selection: candidate ${c.candidate} of attempt ${attempt} still fails`
            : null,
        score: c.failure ? 0 : 1,
        input_tokens: 100,
        output_tokens: 20,
        cost_usd: 0,
        diff_chars: diff(c.expr).length,
      })),
    },
  ]);
  return events;
}

/**
 * Two attempts of four candidates. Attempt 1 fails: candidates 1 and 3 write the same fix (group 1),
 * 2 and 4 others; selection keeps 2, and reflection looks at it. Attempt 2: candidate 2 (top file
 * alone) is the only one with its fix, a minority against candidates 3 and 4 (group 3), and the
 * tests prove it; candidate 1 passes the tests too but lost on size.
 */
const ATTEMPT1: Cand[] = [
  { candidate: 1, cut: 'conformal_set', expr: 'a * b', group: 1, failure: 'repro_still_fails' },
  { candidate: 2, cut: 'top_file', expr: 'b - a', group: 2, failure: 'repro_still_fails' },
  {
    candidate: 3,
    cut: 'top_k_functions',
    expr: 'a * b',
    group: 1,
    failure: 'repro_still_fails',
    note: '(the same fix, said otherwise)',
  },
  { candidate: 4, cut: 'conformal_set', expr: 'a - b - 0', group: 4, failure: 'repro_still_fails' },
];
const ATTEMPT2: Cand[] = [
  { candidate: 1, cut: 'conformal_set', expr: 'sum([a, b])', group: 1, failure: null },
  { candidate: 2, cut: 'top_file', expr: 'a + b', group: 2, failure: null },
  { candidate: 3, cut: 'top_k_functions', expr: 'b * a', group: 3, failure: 'repro_still_fails' },
  { candidate: 4, cut: 'conformal_set', expr: 'b * a', group: 3, failure: 'repro_still_fails', note: '(b times a)' },
];
const SAMPLED = log('task-sampled', [
  ['status', { status: 'running', repo: 'https://github.com/acme/calc' }],
  ...sampledAttempt(1, ATTEMPT1, 2),
  ['reflection', { attempt: 1, category: 'repro_still_fails', message: 'reflection: multiplying is not adding' }],
  ...sampledAttempt(2, ATTEMPT2, 2, { answer: answer('a * b') }),
  [
    'done',
    {
      status: 'resolved',
      attempts: 2,
      chosen_attempt: 2,
      chosen_candidate: 2,
      attempt_results: [
        { attempt: 1, failure: 'repro_still_fails', message: 'x', score: 0, candidate: 2, candidates: 4 },
        { attempt: 2, failure: null, message: null, score: 1, candidate: 2, candidates: 4 },
      ],
      stopped_by: null,
      patch: diff('a + b'),
    },
  ],
]);

/** One attempt: candidates 1 and 2 write the same passing fix, 3 fails, 4 was never applied. */
const MAJORITY = log('task-majority', [
  ['status', { status: 'running', repo: 'acme/other' }],
  ...sampledAttempt(
    1,
    [
      { candidate: 1, cut: 'conformal_set', expr: 'a + b', group: 1, failure: null },
      { candidate: 2, cut: 'top_file', expr: 'a + b', group: 1, failure: null, note: '(same)' },
      { candidate: 3, cut: 'conformal_set', expr: 'a / b', group: 3, failure: 'repro_still_fails' },
      { candidate: 4, cut: 'top_k_functions', expr: 'a', group: 4, failure: null, untested: true },
    ],
    1,
  ),
  [
    'done',
    {
      status: 'resolved',
      attempts: 1,
      chosen_attempt: 1,
      chosen_candidate: 1,
      attempt_results: [{ attempt: 1, failure: null, message: null, score: 1, candidate: 1, candidates: 4 }],
      stopped_by: null,
      patch: diff('a + b'),
    },
  ],
]);

/** A trajectory from before sampling: no candidate fields, no select log; attempt 1 fails and is reflected on, attempt 2 passes. */
const OLD_EVENTS: Array<[string, Data]> = [
  ['status', { status: 'running', repo: 'acme/old' }],
  [
    'model_call',
    {
      step: 'reproduce',
      attempt: 0,
      model: 'scripted',
      temperature: 0.2,
      messages: opening('conformal_set'),
      response: 'a test',
    },
  ],
  [
    'model_call',
    {
      step: 'generate',
      attempt: 1,
      model: 'scripted',
      temperature: 0.2,
      messages: opening('conformal_set'),
      response: answer('a * b'),
    },
  ],
  ['patch', { attempt: 1, diff: diff('a * b'), files: ['calc.py'], tests: [] }],
  ['apply_result', { attempt: 1, ok: true, method: 'search_replace' }],
  [
    'test_result',
    {
      attempt: 1,
      reproduction: ['tests/test_repro_add.py'],
      before: { failed: 1 },
      after: { failed: 1, output: 'AssertionError: 6 != 5' },
      existing: {},
    },
  ],
  [
    'reflection',
    { attempt: 1, category: 'repro_still_fails', message: 'the reproduction test still fails with the patch applied' },
  ],
  [
    'model_call',
    {
      step: 'generate',
      attempt: 2,
      model: 'scripted',
      temperature: 0.2,
      messages: [
        ...opening('conformal_set'),
        { role: 'assistant', content: answer('a * b') },
        { role: 'user', content: FEEDBACK },
      ],
      response: answer('a + b'),
    },
  ],
  ['patch', { attempt: 2, diff: diff('a + b'), files: ['calc.py'], tests: [] }],
  ['apply_result', { attempt: 2, ok: true, method: 'search_replace' }],
  [
    'test_result',
    {
      attempt: 2,
      reproduction: ['tests/test_repro_add.py'],
      before: { failed: 1 },
      after: { passed: 1, output: '1 passed' },
      existing: {},
    },
  ],
  [
    'done',
    {
      status: 'resolved',
      attempts: 2,
      chosen_attempt: 2,
      attempt_results: [
        { attempt: 1, failure: 'repro_still_fails', message: 'm', score: 0 },
        { attempt: 2, failure: null, message: null, score: 1 },
      ],
      stopped_by: null,
      patch: diff('a + b'),
    },
  ],
];
const OLD = log('task-old', OLD_EVENTS);

/** The same run as the log writes it now with samples 1: candidate 1 everywhere, one select log per attempt. */
const SAMPLES_ONE = log(
  'task-old',
  OLD_EVENTS.flatMap(([type, data]): Array<[string, Data]> => {
    const withCandidate: Data =
      ['model_call', 'patch', 'apply_result', 'test_result'].includes(type) &&
      !(type === 'model_call' && data.step === 'reproduce')
        ? { ...data, candidate: 1, ...(type === 'test_result' ? { candidates: [1] } : {}) }
        : data;
    if (type === 'done') return [[type, { ...data, chosen_candidate: 1 }]];
    if (type !== 'test_result') return [[type, withCandidate]];
    const failed = data.attempt === 1;
    return [
      [type, withCandidate],
      [
        'log',
        {
          step: 'select',
          attempt: data.attempt,
          winner: 1,
          reason: 'the only candidate',
          judges: [],
          candidates: [
            {
              candidate: 1,
              temperature: 0.2,
              context_cut: 'conformal_set',
              group: 1,
              votes: 1,
              failure: failed ? 'repro_still_fails' : null,
              message: failed ? 'the reproduction test still fails with the patch applied' : null,
            },
          ],
        },
      ],
    ];
  }),
);

describe('training data from sampled attempts (several candidates per attempt)', () => {
  let dir: string;
  const write = (name: string, text: string) => {
    const file = join(dir, name, 'trajectory.jsonl');
    mkdirSync(join(dir, name), { recursive: true });
    writeFileSync(file, text);
    return file;
  };
  const read = (name: string, text: string): RunTrace => {
    const { runs, problems } = readTrajectory(write(name, text));
    expect(problems).toEqual([]);
    expect(runs).toHaveLength(1);
    return runs[0]!;
  };
  const id = (t: { attempt: number; candidate: number }) => `${t.attempt}.${t.candidate}`;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fw-candidates-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads each candidate of each attempt: its request, answer, group, test output, selection verdict, and the chosen one', () => {
    const run = read('sampled', SAMPLED);
    expect(run.traces.map(id)).toEqual(['1.1', '1.2', '1.3', '1.4', '2.1', '2.2', '2.3', '2.4']);
    expect([run.chosenAttempt, run.chosenCandidate]).toEqual([2, 2]);
    const t = (a: number, c: number) => run.traces.find((x) => x.attempt === a && x.candidate === c)!;
    expect(t(2, 2)).toMatchObject({
      contextCut: 'top_file',
      temperature: 0.8,
      group: 2,
      failure: null,
      selected: true,
      judged: true,
      diff: diff('a + b'),
    });
    expect(t(2, 2).messages.at(-1)!.content).toBe(FEEDBACK);
    expect(t(2, 2).messages[1]!.content).toContain('calc.py (whole)');
    // A test result judges every candidate of its group: candidate 3 shares candidate 1's run.
    expect(t(1, 3).output).toBe('output of group 1 in attempt 1: return a * b');
    expect(t(1, 3).group).toBe(1);
    expect(t(2, 4).output).toBe('output of group 3 in attempt 2: return b * a');
    // The attempt's reflection belongs to the candidate it selected; the others carry selection's verdict.
    expect(t(1, 2).reflection).toEqual({
      category: 'repro_still_fails',
      message: 'reflection: multiplying is not adding',
    });
    expect(run.traces.filter((x) => x.selected).map(id)).toEqual(['1.2', '2.2']);
    expect(run.traces.filter((x) => x.reflection).map(id)).toEqual(['1.2']);
    expect(t(1, 4).failure).toEqual({
      category: 'repro_still_fails',
      message: 'selection: candidate 4 of attempt 1 still fails',
    });
    expect(t(2, 1).failure).toBeNull();

    // done names the chosen candidate: it decides even where nothing else in the log says (select
    // lines damaged and skipped, attempt_results without candidates).
    const lines = SAMPLED.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: Data });
    const damaged = lines
      .map((e) =>
        e.type === 'log'
          ? '{"task_id": "task-sampled", "seq": 9'
          : JSON.stringify(e.type === 'done' ? { ...e, data: { ...e.data, attempt_results: [] } } : e),
      )
      .join('\n');
    const { runs, problems } = readTrajectory(write('damaged', damaged));
    expect(problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/^not JSON/),
      expect.stringMatching(/^not JSON/),
    ]);
    expect(runs[0]!.chosenCandidate).toBe(2);
    // Without a selection, an attempt's reflection goes to candidate 1 (as before sampling).
    expect(runs[0]!.traces.filter((x) => x.reflection).map(id)).toEqual(['1.1']);
  });

  it('reads a trajectory from before sampling exactly as before: one trace per attempt, candidate 1, chosen candidate 1', () => {
    const run = read('old', OLD);
    expect(run).toEqual({
      file: join(dir, 'old', 'trajectory.jsonl'),
      taskId: 'task-old',
      repo: 'acme/old',
      instanceId: undefined,
      status: 'resolved',
      chosenAttempt: 2,
      chosenCandidate: 1,
      patch: diff('a + b'),
      traces: [
        {
          attempt: 1,
          candidate: 1,
          temperature: 0.2,
          messages: opening('conformal_set'),
          response: answer('a * b'),
          diff: diff('a * b'),
          output: 'AssertionError: 6 != 5',
          judged: true,
          selected: true,
          reflection: {
            category: 'repro_still_fails',
            message: 'the reproduction test still fails with the patch applied',
          },
        },
        {
          attempt: 2,
          candidate: 1,
          temperature: 0.2,
          messages: OLD_EVENTS[7]![1].messages,
          response: answer('a + b'),
          diff: diff('a + b'),
          output: '1 passed',
          judged: true,
          selected: true,
        },
      ],
    });
    const sft = sftCandidates(run, true).pairs;
    expect(sft.map((p) => [p.kind, p.attempt, p.candidate])).toEqual([
      ['reflection', 2, 1],
      ['negative_with_context', 1, 1],
    ]);
    expect(sft[1]!.response).toBe(
      'Failure (repro_still_fails): the reproduction test still fails with the patch applied',
    );
    expect(sft[1]!.messages.at(-1)!.content).toContain('AssertionError: 6 != 5');
    const dpo = dpoCandidates(run, true).pairs;
    expect(dpo).toEqual([
      {
        kind: 'preference',
        repo: 'acme/old',
        source: 'task-old',
        prompt: opening('conformal_set'),
        chosen: answer('a + b'),
        rejected: answer('a * b'),
        chosen_attempt: 2,
        rejected_attempt: 1,
        chosen_candidate: 1,
        rejected_candidate: 1,
        same_prompt: true,
      },
    ]);
    // The same run logged with samples 1 (candidate 1 everywhere, a select log per attempt) gives the same pairs.
    const now = read('samples-one', SAMPLES_ONE);
    expect(now.traces.map(id)).toEqual(['1.1', '2.1']);
    expect(sftCandidates(now, true).pairs).toEqual(sft);
    expect(dpoCandidates(now, true).pairs).toEqual(dpo);
  });

  it(
    "a failure by regression shows the existing tests' run (existing_after.output), not the passing " +
      'reproduction test; an old log shows the failure message',
    () => {
      const events = (withExisting: boolean): Array<[string, Data]> => [
        ['status', { status: 'running', repo: 'acme/regress' }],
        ...sampledAttempt(
          1,
          [
            { candidate: 1, cut: 'conformal_set', expr: 'a + b + 0', group: 1, failure: 'regression' },
            { candidate: 2, cut: 'top_file', expr: 'a + b', group: 2, failure: 'regression' },
          ],
          2,
        ).map(([type, data]): [string, Data] => {
          if (type === 'test_result')
            return [
              type,
              {
                ...data,
                ...(withExisting
                  ? {
                      existing_after: {
                        outcomes: {},
                        exit_code: 1,
                        output: `FAILED tests/test_calc.py::test_mul in group ${data.candidate as number}`,
                      },
                    }
                  : {}),
              },
            ];
          if (type !== 'log') return [type, data];
          const cands = (data.candidates as Data[]).map((c) => ({
            ...c,
            tests_passed: 1,
            message: `regression: tests/test_calc.py::test_mul passed before, fails now (candidate ${c.candidate as number})`,
          }));
          return [type, { ...data, candidates: cands }];
        }),
        [
          'reflection',
          { attempt: 1, candidate: 2, category: 'regression', message: 'reflection: the change breaks mul' },
        ],
        [
          'done',
          {
            status: 'failed',
            attempts: 1,
            chosen_attempt: 1,
            chosen_candidate: 2,
            attempt_results: [
              { attempt: 1, failure: 'regression', message: 'm', score: 0, candidate: 2, candidates: 2 },
            ],
            stopped_by: null,
            patch: diff('a + b'),
          },
        ],
      ];
      const feedback = (run: RunTrace) =>
        sftCandidates(run, false).pairs.map((p) => [`${p.attempt}.${p.candidate}`, p.messages.at(-1)!.content]);
      const now = feedback(read('regress', log('task-regress', events(true))));
      expect(now.map(([c]) => c)).toEqual(['1.1', '1.2']);
      expect(now[0]![1]).toContain('FAILED tests/test_calc.py::test_mul in group 1');
      expect(now[1]![1]).toContain('FAILED tests/test_calc.py::test_mul in group 2');
      for (const [, text] of now) expect(text).not.toContain('output of group');
      // Before test_result carried the existing tests' output: what the failure said.
      const old = feedback(read('regress-old', log('task-regress-old', events(false))));
      expect(old[0]![1]).toContain('regression: tests/test_calc.py::test_mul passed before, fails now (candidate 1)');
      expect(old[1]![1]).toContain('reflection: the change breaks mul');
      for (const [, text] of old) expect(text).not.toContain('output of group');
    },
  );

  it('SFT: the chosen candidate is the only positive; each failing group of equivalent candidates is one negative with its diagnosis', () => {
    const run = read('sampled', SAMPLED);
    const { pairs, skipped } = sftCandidates(run, true);
    expect(pairs.map((p) => `${p.kind} ${p.attempt}.${p.candidate}`)).toEqual([
      'reflection 2.2',
      'negative_with_context 1.1',
      'negative_with_context 1.2',
      'negative_with_context 1.4',
      'negative_with_context 2.3',
    ]);
    expect(pairs[0]!.response).toBe(answer('a + b'));
    expect(pairs[0]!.messages.at(-1)!.content).toBe(FEEDBACK);
    // Reflection's diagnosis for the candidate it looked at, selection's for the others, each with its group's output.
    expect(pairs[1]!.response).toBe('Failure (repro_still_fails): selection: candidate 1 of attempt 1 still fails');
    expect(pairs[1]!.messages.at(-1)!.content).toContain('output of group 1 in attempt 1');
    expect(pairs[2]!.response).toBe('Failure (repro_still_fails): reflection: multiplying is not adding');
    expect(pairs[4]!.messages.at(-2)!.content).toBe(answer('b * a'));
    expect(pairs[4]!.messages.at(-1)!.content).toContain('output of group 3 in attempt 2');
    // 1.3 and 2.4 share a group with a negative; 2.1 passed the tests and lost on selection.
    expect(skipped).toEqual({ equivalent: 2, passed_tests: 1, untested: 0, no_diagnosis: 0 });
    // A run that did not pass has no positive: its candidates teach only their diagnoses.
    expect(sftCandidates(run, false).pairs.map((p) => p.kind)).not.toContain('reflection');

    // The last attempt is never reflected on: the candidate it selected has no diagnosis to teach
    // (as before sampling), its losing candidates have selection's.
    const last = read(
      'last',
      log('task-last', [
        ['status', { status: 'running', repo: 'acme/last' }],
        ...sampledAttempt(
          1,
          [
            { candidate: 1, cut: 'conformal_set', expr: 'a * b', group: 1, failure: 'repro_still_fails' },
            { candidate: 2, cut: 'top_file', expr: 'b - a', group: 2, failure: 'repro_still_fails' },
          ],
          1,
        ),
        [
          'done',
          {
            status: 'failed',
            attempts: 1,
            chosen_attempt: 1,
            chosen_candidate: 1,
            attempt_results: [
              { attempt: 1, failure: 'repro_still_fails', message: 'm', score: 0, candidate: 1, candidates: 2 },
            ],
            stopped_by: null,
            patch: diff('a * b'),
          },
        ],
      ]),
    );
    const lost = sftCandidates(last, false);
    expect(lost.pairs.map((p) => `${p.kind} ${p.attempt}.${p.candidate}`)).toEqual(['negative_with_context 1.2']);
    expect(lost.skipped).toEqual({ equivalent: 0, passed_tests: 0, untested: 0, no_diagnosis: 1 });
  });

  it("DPO: the minority winner is chosen against each failing group, on the winner's prompt, never against an equivalent or a passing candidate", () => {
    const run = read('sampled', SAMPLED);
    const { pairs, skipped } = dpoCandidates(run, true);
    expect(
      pairs.map((p) => `${p.rejected_attempt}.${p.rejected_candidate} ${p.same_prompt ? 'same' : 'other'}`),
    ).toEqual(['1.1 other', '1.2 same', '1.4 other', '2.3 other']);
    for (const p of pairs) {
      expect(p.chosen).toBe(answer('a + b'));
      expect([p.chosen_attempt, p.chosen_candidate]).toEqual([2, 2]);
      // The winner's request before feedback: its own cut (the top file alone).
      expect(p.prompt).toEqual(opening('top_file'));
    }
    expect(pairs.map((p) => p.rejected)).not.toContain(answer('sum([a, b])'));
    expect(skipped).toEqual({ equivalent: 2, passed_tests: 1, untested: 0, no_diagnosis: 0 });

    const majority = read('majority', MAJORITY);
    const m = dpoCandidates(majority, true);
    // Candidate 2 wrote the winner's fix: no pair against it; 4 was never tested.
    expect(m.pairs.map((p) => `${p.chosen_candidate}>${p.rejected_candidate} ${p.same_prompt}`)).toEqual(['1>3 true']);
    expect(m.skipped).toEqual({ equivalent: 1, passed_tests: 0, untested: 1, no_diagnosis: 0 });
    const s = sftCandidates(majority, true);
    expect(s.pairs.map((p) => `${p.kind} ${p.candidate}`)).toEqual(['positive 1', 'negative_with_context 3']);
    expect(s.skipped).toEqual({ equivalent: 1, passed_tests: 0, untested: 1, no_diagnosis: 0 });
  });

  it('export: rows name their candidates, the card counts the candidates left out and the pairs on another prompt, check_data.py accepts the files', () => {
    const pool = join(dir, 'pool');
    for (const [name, text] of Object.entries({ sampled: SAMPLED, majority: MAJORITY, old: OLD })) {
      mkdirSync(join(pool, name), { recursive: true });
      writeFileSync(join(pool, name, 'trajectory.jsonl'), text);
    }
    const base = {
      trajectories: [pool],
      evalReports: [],
      style: 'chatml' as const,
      maxTokens: 8192,
      valFraction: 0,
      secrets: [],
    };
    const dpo = exportTrainingData({ ...base, format: 'dpo', out: join(dir, 'dpo.jsonl') });
    const rows = readFileSync(join(dir, 'dpo.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(4 + 1 + 1);
    expect(rows.filter((r) => r.repo === 'acme/calc').map((r) => r.rejected_candidate)).toEqual([1, 2, 4, 3]);
    expect(dpo.card.candidates).toEqual({
      traces: 8 + 4 + 2,
      runs_sampled: 2,
      skipped: { equivalent: 3, passed_tests: 1, untested: 1, no_diagnosis: 0 },
      other_prompt: 3,
    });
    expect(readFileSync(join(dir, 'dpo.card.md'), 'utf8')).toMatch(
      /3 rows pair a rejected answer drawn from another context cut on the winner's prompt/,
    );
    const sft = exportTrainingData({ ...base, format: 'sft', out: join(dir, 'sft.jsonl') });
    expect(sft.card.per_kind).toEqual({ reflection: 2, positive: 1, negative_with_context: 4 + 1 + 1 });
    expect(sft.card.candidates.skipped).toEqual({ equivalent: 3, passed_tests: 1, untested: 1, no_diagnosis: 0 });
    for (const file of ['dpo.jsonl', 'sft.jsonl']) {
      const check = spawnSync('python3', ['training/check_data.py', join(dir, file)], { encoding: 'utf8' });
      expect(check.status, check.stderr).toBe(0);
    }
  });
});
