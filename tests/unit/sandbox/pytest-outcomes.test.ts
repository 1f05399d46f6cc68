import { describe, expect, it } from 'vitest';
import { parsePluginReport, parsePytestSummary } from '../../../sandbox/pytest-outcomes.js';

const line = (o: object) => JSON.stringify(o);
const phases = (nodeid: string, call: object | null, setup: object = { outcome: 'passed' }) =>
  [
    line({ event: 'start', nodeid }),
    line({ event: 'report', nodeid, when: 'setup', ...setup }),
    ...(call ? [line({ event: 'report', nodeid, when: 'call', ...call })] : []),
    line({ event: 'report', nodeid, when: 'teardown', outcome: 'passed' }),
  ].join('\n');

describe('parsePluginReport', () => {
  it('folds phases into one status per test', () => {
    const text = [
      phases('t.py::ok', { outcome: 'passed' }),
      phases('t.py::bad', { outcome: 'failed', message: 'assert 1 == 2' }),
      phases('t.py::fixture', null, { outcome: 'failed', message: 'fixture boom' }),
      phases('t.py::skip', null, { outcome: 'skipped' }),
      phases('t.py::xf', { outcome: 'skipped', wasxfail: true }),
      phases('t.py::xp', { outcome: 'passed', wasxfail: true }),
      line({ event: 'finish', exitstatus: 1 }),
    ].join('\n');
    const run = parsePluginReport(text);
    expect(run.outcomes).toEqual({
      't.py::ok': { status: 'PASSED' },
      't.py::bad': { status: 'FAILED', message: 'assert 1 == 2' },
      't.py::fixture': { status: 'ERROR', message: 'fixture boom' },
      't.py::skip': { status: 'SKIPPED' },
      't.py::xf': { status: 'XFAIL' },
      't.py::xp': { status: 'XPASS' },
    });
    expect(run.exitStatus).toBe(1);
    expect(run.interruptedIn).toBeUndefined();
  });

  it('keeps FAILED when teardown also fails, and marks teardown-only errors', () => {
    const text = [
      line({ event: 'start', nodeid: 'a' }),
      line({ event: 'start', nodeid: 'b' }),
      line({ event: 'report', nodeid: 'a', when: 'call', outcome: 'failed', message: 'x' }),
      line({ event: 'report', nodeid: 'a', when: 'teardown', outcome: 'failed', message: 'y' }),
      line({ event: 'report', nodeid: 'b', when: 'call', outcome: 'passed' }),
      line({ event: 'report', nodeid: 'b', when: 'teardown', outcome: 'failed', message: 'z' }),
    ].join('\n');
    const run = parsePluginReport(text);
    expect(run.outcomes.a?.status).toBe('FAILED');
    expect(run.outcomes.b?.status).toBe('ERROR');
  });

  it('names the test that was running when pytest died, and survives a cut last line', () => {
    const text = [
      phases('t.py::first', { outcome: 'passed' }),
      line({ event: 'start', nodeid: 't.py::crash' }),
      '{"event": "rep',
    ].join('\n');
    const run = parsePluginReport(text);
    expect(run.interruptedIn).toBe('t.py::crash');
    expect(run.exitStatus).toBeUndefined();
    expect(run.outcomes['t.py::first']?.status).toBe('PASSED');
  });

  it('ignores forged lines: a second report for a phase, or a test that never started', () => {
    const text = [
      phases('t.py::bad', { outcome: 'failed', message: 'boom' }),
      line({ event: 'report', nodeid: 't.py::bad', when: 'call', outcome: 'passed' }),
      line({ event: 'report', nodeid: 't.py::ghost', when: 'call', outcome: 'passed' }),
    ].join('\n');
    const run = parsePluginReport(text);
    expect(run.outcomes).toEqual({ 't.py::bad': { status: 'FAILED', message: 'boom' } });
    expect(run.ignoredLines).toBe(2);
  });

  it('records collection errors', () => {
    const run = parsePluginReport(
      line({ event: 'collect_error', nodeid: 'tests/test_broken.py', message: 'ImportError' }),
    );
    expect(run.collectionErrors).toEqual([{ nodeid: 'tests/test_broken.py', message: 'ImportError' }]);
  });
});

describe('parsePytestSummary', () => {
  it('reads -rA summary lines, including ids with spaces and messages', () => {
    const log = [
      '=========================== short test summary info ============================',
      'PASSED tests/test_a.py::test_one',
      'PASSED tests/test_a.py::test_p[a b]',
      'FAILED tests/test_a.py::test_two - assert 1 == 2',
      'SKIPPED [1] tests/test_a.py:9: no reason',
      'XFAIL tests/test_a.py::test_x - reason',
      'ERROR tests/test_b.py - ImportError: no module',
      '==================== 1 failed, 2 passed in 0.12s =====================',
    ].join('\n');
    const run = parsePytestSummary(log);
    expect(run.outcomes).toEqual({
      'tests/test_a.py::test_one': { status: 'PASSED' },
      'tests/test_a.py::test_p[a b]': { status: 'PASSED' },
      'tests/test_a.py::test_two': { status: 'FAILED', message: 'assert 1 == 2' },
      'tests/test_a.py::test_x': { status: 'XFAIL', message: 'reason' },
    });
    expect(run.collectionErrors).toEqual([{ nodeid: 'tests/test_b.py', message: 'ImportError: no module' }]);
  });
});
