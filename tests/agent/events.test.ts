import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EventLog, redact } from '../../agent/events.js';

describe('EventLog', () => {
  it('numbers events from 1 without gaps and writes each as a line as it happens', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fw-ev-')), 'trajectory.jsonl');
    const log = new EventLog('task-1', file);
    const seen: number[] = [];
    log.subscribe((e) => seen.push(e.seq));
    log.emit('status', { status: 'running' });
    log.emit('node_end', {
      node: 'apply',
      attempt: 1,
      duration_ms: 3,
      timing: { wall_ms: 3, model_ms: 0, test_ms: 0, own_ms: 3 },
    });
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.task_id, l.seq, l.type])).toEqual([
      ['task-1', 1, 'status'],
      ['task-1', 2, 'node_end'],
    ]);
    expect(seen).toEqual([1, 2]);
  });

  it('redacts secrets inside strings without changing the record’s shape or ordinary words', () => {
    const data = {
      message: 'header is Bearer abcdefgh12345 then',
      other: 'x y',
      nested: ['my key local-key-XYZ123', 'disk-partition-table', 'sk-abcdefghijklmnopqrstuv'],
      n: 5,
    };
    expect(redact(data, ['local-key-XYZ123'])).toEqual({
      message: 'header is [redacted] then',
      other: 'x y',
      nested: ['my key [redacted]', 'disk-partition-table', '[redacted]'],
      n: 5,
    });
    // GitHub, Hugging Face and AWS shapes too, at the start of a line as much as inside one.
    const tokens = {
      gh: `token\nghp_${'a1B2'.repeat(9)}`,
      hf: `hf_${'Zx9'.repeat(11)} in env`,
      aws: 'id AKIAIOSFODNN7EXAMPLE.',
    };
    expect(redact(tokens, [])).toEqual({ gh: 'token\n[redacted]', hf: '[redacted] in env', aws: 'id [redacted].' });
    // Prose about bearer tokens is left alone (an issue about auth headers keeps its words).
    expect(redact('requests sends Bearer authentication headers', [])).toBe(
      'requests sends Bearer authentication headers',
    );
    const log = new EventLog('t', undefined, ['local-key-XYZ123']);
    expect(() =>
      log.emit('model_call', {
        step: 'generate',
        attempt: 1,
        model: 'scripted',
        messages: [],
        response: 'fixed it.\nAuthorization: Bearer tok',
      }),
    ).not.toThrow();
  });

  it('ends at done or error: a step still unwinding after a cancel records nothing past the end', () => {
    const log = new EventLog('t');
    log.emit('node_start', { node: 'baseline', attempt: 0 });
    log.emit('done', { status: 'failed', stopped_by: 'cancelled' });
    expect(
      log.emit('node_end', {
        node: 'baseline',
        attempt: 0,
        duration_ms: 1,
        timing: { wall_ms: 1, model_ms: 0, test_ms: 0, own_ms: 1 },
      }),
    ).toBeUndefined();
    expect(log.emit('error', { status: 'failed', message: 'late' })).toBeUndefined();
    expect(log.events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'node_start'],
      [2, 'done'],
    ]);
  });
});
