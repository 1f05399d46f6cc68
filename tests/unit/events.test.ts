import { describe, expect, it } from 'vitest';
import { EventLog } from '../../agent/events.js';
import { EVENT_COMPONENTS } from '../../api/schemas/events.js';
import {
  EVENT_TYPES,
  EventPayloads,
  eventRecordProblem,
  isCurrentEvent,
  isEventRecord,
  type EmitData,
  type EventType,
} from '../../events/index.js';

const timing = { wall_ms: 10, model_ms: 4, test_ms: 3, own_ms: 3 };
const run = (status: string) => ({
  outcomes: { 'tests/test_repro.py::test_add': { status } },
  exit_code: status === 'PASSED' ? 0 : 1,
  timed_out: false,
  output: '1 failed',
});

// One payload per type with the fields its emitter writes (agent/graph.ts, agent/ask-model.ts,
// agent/nodes/*, api/run-task.ts): the schema must accept each as a current event.
const written: { [K in EventType]: EmitData<K> } = {
  status: { status: 'running', repo: 'acme/calc', model: 'gpt-4o-mini', retry: true, reason: 'lost' },
  node_start: { node: 'generate', attempt: 0 },
  node_end: { node: 'generate', attempt: 0, duration_ms: 12.5, timing },
  log: { step: 'baseline', imports: ['calc'], ok: true, collected: null },
  localised_files: {
    files: [{ path: 'calc.py', score: 0.9, in_set: true }],
    set_size: 1,
    coverage: null,
    indexed_files: 4,
  },
  context: {
    files: [{ path: 'calc.py', mode: 'whole', likely_to_change: ['add'] }],
    chars: 120,
    cuts: { top_file: { files: [{ path: 'calc.py', mode: 'condensed', likely_to_change: [] }], chars: 80 } },
  },
  model_call: {
    step: 'generate',
    attempt: 1,
    candidate: 2,
    context_cut: 'top_file',
    model: 'gpt-4o-mini',
    temperature: 0.4,
    messages: [
      { role: 'system', content: 'fix it' },
      { role: 'user', content: 'the issue' },
    ],
    response: 'an edit',
    usage: { input_tokens: 100, output_tokens: 20 },
    cost_usd: 0.01,
    priced: true,
    duration_ms: 800,
  },
  patch: { attempt: 1, candidate: 2, group: 2, diff: '--- a/calc.py', files: ['calc.py'], tests: [] },
  apply_result: { attempt: 1, candidate: 2, ok: false, category: 'edit_not_applied', message: 'no match' },
  test_result: {
    attempt: 1,
    candidate: 1,
    candidates: [1, 3],
    environment: 'python3.11-abc',
    reproduction: ['tests/test_repro.py'],
    judges: [
      { path: 'tests/test_repro.py', source: 'reproduce', failed_before: true, passed_after: true, failure: null },
    ],
    before: run('FAILED'),
    after: run('PASSED'),
    existing: ['tests/test_calc.py'],
    existing_why: [{ path: 'tests/test_calc.py', reason: 'imports calc' }],
    existing_unchecked: [],
    existing_after: run('PASSED'),
    regressions: [],
    superseded: [],
  },
  reflection: { attempt: 1, category: 'repro_still_fails', message: 'still fails' },
  done: {
    status: 'resolved',
    attempts: 1,
    chosen_attempt: 1,
    chosen_candidate: 2,
    attempt_results: [{ attempt: 1, candidate: 2, candidates: 4, failure: null, message: null, score: 1 }],
    stopped_by: null,
    patch: '--- a/calc.py',
    timing: {
      ...timing,
      one_off: timing,
      attempts: { ...timing, count: 1, own_ms_per_attempt: 3 },
      nodes: { generate: { ...timing, runs: 1 } },
    },
  },
  error: { status: 'failed', code: 'FW_ERR_INTERNAL', message: 'internal error: boom' },
};

/** The record EventLog writes for this payload (a fresh log per event: `done` and `error` end one). */
const emitted = <K extends EventType>(type: K, data: EmitData<K>) => new EventLog('task-1').emit(type, data)!;

describe('the event schema', () => {
  it('has one payload schema per event type, and the OpenAPI document one component each', () => {
    expect(Object.keys(EventPayloads).sort()).toEqual([...EVENT_TYPES].sort());
    for (const type of EVENT_TYPES) {
      expect(EVENT_COMPONENTS[`EventData_${type}`], type).toBeDefined();
      expect(EVENT_COMPONENTS[`Event_${type}`], type).toBeDefined();
    }
    // OpenAPI 3.0 knows neither `const`, `patternProperties` nor a null type (it says `nullable`).
    expect(JSON.stringify(EVENT_COMPONENTS)).not.toMatch(/"const"|"patternProperties"|"type":"null"/);
    expect(JSON.stringify(EVENT_COMPONENTS)).toMatch(/"nullable":true/);
  });

  it('accepts a record of each type as the event log writes it', () => {
    for (const type of EVENT_TYPES) {
      const event = emitted(type, written[type]);
      expect(isEventRecord(event), type).toBe(true);
      expect(isCurrentEvent(event), type).toBe(true);
      // What a reader gets back from a trajectory line or a WebSocket message.
      expect(isCurrentEvent(JSON.parse(JSON.stringify(event))), type).toBe(true);
    }
  });

  it('rejects a payload with a field of the wrong type or a missing required field', () => {
    expect(isCurrentEvent({ ...emitted('patch', written.patch), data: { ...written.patch, diff: 5 } })).toBe(false);
    const { diff: _diff, ...noDiff } = written.patch;
    // @ts-expect-error a payload without a required field does not build either
    expect(isCurrentEvent(emitted('patch', noDiff))).toBe(false);
    expect(isCurrentEvent(emitted('done', { ...written.done, status: 'fixed' as 'failed' }))).toBe(false);
    expect(isCurrentEvent(emitted('node_end', { ...written.node_end, node: 'think' as 'test' }))).toBe(false);
    // The payload of another type does not pass for this one.
    expect(isCurrentEvent({ ...emitted('reflection', written.reflection), type: 'patch' })).toBe(false);
  });

  it('reads records of older versions by their envelope, and says what is wrong with one that is not an event', () => {
    // Before the rename a localised file said `inSet`; before sampling a patch had no candidate.
    const old = { task_id: 't', seq: 3, ts: 'x', type: 'patch', data: { attempt: 1, diff: 'd' } };
    expect(isEventRecord(old)).toBe(true);
    expect(isCurrentEvent(old)).toBe(false);
    expect(isEventRecord({ ...old, type: 'patched' })).toBe(false);
    expect(eventRecordProblem({ ...old, type: 'patched' })?.path).toBe('/type');
    expect(isEventRecord({ ...old, data: [] })).toBe(false);
    expect(isEventRecord({ ...old, seq: 0 })).toBe(false);
    expect(eventRecordProblem({ event: 'patch', payload: {} })).toMatchObject({ path: '' });
    expect(eventRecordProblem(old)).toBeUndefined();
  });

  it('type-checks what is emitted against the payload of its type', () => {
    const log = new EventLog('task-2');
    // @ts-expect-error a patch's diff is a string
    log.emit('patch', { attempt: 1, diff: 5 });
    // @ts-expect-error a misspelled field is not part of the reflection payload
    log.emit('reflection', { atempt: 1, category: 'timeout', message: 'slow' });
    // @ts-expect-error a run ends resolved, unverified, failed or in error
    log.emit('done', { status: 'fixed' });
    // @ts-expect-error not an event type
    log.emit('patched', {});
    // @ts-expect-error an error says what went wrong: its message is required
    log.emit('error', { status: 'failed' });
    // `log` is open-ended: a step writes fields of its own.
    log.emit('log', { step: 'select', winner: 2 });
    expect(log.events.map((e) => e.type)).toEqual(['patch', 'reflection', 'done']);
  });
});
