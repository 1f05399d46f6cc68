import { describe, expect, it } from 'vitest';
import {
  attributeRun,
  coveredMs,
  execsOf,
  isTestCommand,
  overlapMs,
  parseContainerEvent,
  parseNodeSpans,
  segmentRun,
  spread,
  testIntervals,
  type ContainerEvent,
} from '../../perf/agent-loop-timing.js';

const T0 = Date.parse('2026-11-27T08:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

/** A trajectory line as fixwright writes it. */
function line(seq: number, ms: number, type: string, data: Record<string, unknown>): string {
  return JSON.stringify({ task_id: 't', seq, ts: at(ms), type, data });
}

/** A trajectory from [node, start, end] triples (ms after T0), with a model_call inside to be ignored. */
function trajectory(nodes: Array<[string, number, number]>): string {
  const lines = [line(1, 0, 'status', { status: 'running' })];
  for (const [node, start, end] of nodes) {
    lines.push(line(lines.length + 1, start, 'node_start', { node, attempt: 0 }));
    lines.push(line(lines.length + 1, start + 1, 'model_call', { step: node }));
    lines.push(line(lines.length + 1, end, 'node_end', { node, attempt: 1, duration_ms: end - start }));
  }
  return `${lines.join('\n')}\n`;
}

describe('interval arithmetic', () => {
  it('counts overlapping and touching intervals once', () => {
    expect(
      coveredMs([
        { start: 0, end: 10 },
        { start: 5, end: 15 },
        { start: 15, end: 20 },
        { start: 30, end: 31 },
      ]),
    ).toBe(21);
    expect(
      coveredMs([
        { start: 5, end: 5 },
        { start: 9, end: 3 },
      ]),
    ).toBe(0);
  });

  it('clips to a window', () => {
    expect(
      overlapMs(
        [
          { start: 0, end: 10 },
          { start: 8, end: 25 },
          { start: 40, end: 50 },
        ],
        { start: 5, end: 20 },
      ),
    ).toBe(15);
    expect(overlapMs([{ start: 0, end: 4 }], { start: 5, end: 20 })).toBe(0);
  });

  it('takes the median, minimum and maximum', () => {
    expect(spread([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3 });
    expect(spread([4, 1, 2, 3])).toEqual({ median: 2.5, min: 1, max: 4 });
    expect(() => spread([])).toThrow();
  });
});

describe('per-attempt attribution', () => {
  // localise 0-100, context 100-110, baseline 120-900, reproduce 900-950; attempt 1: generate
  // 1000-1050, apply 1060-1100, test 1100-3000, reflect 3000-3010; attempt 2: generate 3020-3060,
  // apply 3060-3080, test 3080-4000; finish 4010-4020. Process 0-5000 (ms after T0).
  const nodes: Array<[string, number, number]> = [
    ['localise', 0, 100],
    ['context', 100, 110],
    ['baseline', 120, 900],
    ['reproduce', 900, 950],
    ['generate', 1000, 1050],
    ['apply', 1060, 1100],
    ['test', 1100, 3000],
    ['reflect', 3000, 3010],
    ['generate', 3020, 3060],
    ['apply', 3060, 3080],
    ['test', 3080, 4000],
    ['finish', 4010, 4020],
  ];
  const spans = parseNodeSpans(trajectory(nodes));
  const abs = (start: number, end: number) => ({ start: T0 + start, end: T0 + end });

  it('reads node spans from a trajectory and splits them into one-off nodes and attempts', () => {
    expect(spans).toHaveLength(12);
    const segments = segmentRun(spans);
    expect(segments.before.map((s) => s.node)).toEqual(['localise', 'context', 'baseline', 'reproduce']);
    expect(segments.attempts.map((a) => a.map((s) => s.node))).toEqual([
      ['generate', 'apply', 'test', 'reflect'],
      ['generate', 'apply', 'test'],
    ]);
    expect(segments.after.map((s) => s.node)).toEqual(['finish']);
  });

  it('takes the model and test time inside each window out of it, overlaps once', () => {
    const model = [abs(930, 940), abs(1010, 1040), abs(3030, 3050), abs(4500, 4600)];
    // Two tests overlap in attempt 1 (1200-1700 and 1500-2000: 800 ms covered); one in the baseline.
    const tests = [abs(300, 700), abs(1200, 1700), abs(1500, 2000), abs(3100, 3900)];
    const r = attributeRun(spans, model, tests, abs(0, 5000));
    expect(r.attempts).toHaveLength(2);
    // Attempt 1: window 1000-3010 = 2010 ms, less 30 model and 800 tests.
    expect(r.attempts[0]).toEqual({ wallMs: 2010, modelMs: 30, testMs: 800, ownMs: 1180 });
    // Attempt 2: window 3020-4000 = 980 ms, less 20 model and 800 tests.
    expect(r.attempts[1]).toEqual({ wallMs: 980, modelMs: 20, testMs: 800, ownMs: 160 });
    expect(r.ownPerAttemptMs).toBe((1180 + 160) / 2);
    // One-off: 0-950 (950 ms, 10 model, 400 tests) and finish 4010-4020 (10 ms).
    expect(r.oneOff).toEqual({ wallMs: 960, modelMs: 10, testMs: 400, ownMs: 550 });
    // The process: 5000 ms less 160 model and 2000 tests; outside the nodes: what the windows leave.
    expect(r.process).toEqual({ wallMs: 5000, modelMs: 160, testMs: 2000, ownMs: 2840 });
    expect(r.outsideNodesOwnMs).toBe(2840 - 1180 - 160 - 550);
    // Before localise: nothing (it starts with the process); after finish (4020): 980 ms less 100 model.
    expect(r.startupOwnMs).toBe(0);
    expect(r.exitOwnMs).toBe(880);
  });

  it('counts a model call and a test that overlap once', () => {
    const r = attributeRun(spans, [abs(1100, 1600)], [abs(1200, 1700)], abs(0, 5000));
    expect(r.attempts[0]!.ownMs).toBe(2010 - 600);
  });

  it('refuses a run that made no attempt, and a node_end without a start', () => {
    expect(() => attributeRun(parseNodeSpans(trajectory(nodes.slice(0, 4))), [], [], abs(0, 5000))).toThrow(
      /no generate/,
    );
    expect(() => parseNodeSpans(line(1, 0, 'node_end', { node: 'test', duration_ms: 1 }))).toThrow(
      /without a node_start/,
    );
    expect(() => parseNodeSpans('{"ts": 1')).toThrow(/not JSON/);
  });

  it("ends a node left open at the run's last event", () => {
    const text = [line(1, 0, 'node_start', { node: 'generate' }), line(2, 700, 'error', { message: 'x' })].join('\n');
    expect(parseNodeSpans(text)).toEqual([{ node: 'generate', start: T0, end: T0 + 700 }]);
  });
});

describe('test execs from Docker events', () => {
  it('tells the test runs from the helpers around them', () => {
    expect(
      isTestCommand(
        'timeout --kill-after=5 120 python3 -m pytest -rA --tb=short -p no:cacheprovider tests/test_calc.py',
      ),
    ).toBe(true);
    // The plugin written by the exec that then replaces itself with pytest.
    expect(
      isTestCommand(
        'sh -c dir=$1 code=$2; shift 2\n{ mkdir -p "$dir" && cat > "$dir/p.py"; } || exit 1\nexec ' +
          '"$@" < /dev/null sh /tmp/fixwright/pytest 125 timeout --kill-after=5 120 python3 -m pytest -rA',
      ),
    ).toBe(true);
    expect(isTestCommand('pytest -q')).toBe(true);
    expect(isTestCommand('env A=1 /usr/local/bin/py.test tests')).toBe(true);
    expect(isTestCommand('sh -c cd /work && exec pytest tests')).toBe(true);
    expect(isTestCommand('sh -c mkdir -p "$1" && tar -x --no-same-owner -C "$1" -f - sh /tmp/fixwright/pytest')).toBe(
      false,
    );
    expect(isTestCommand('cat /tmp/fixwright/pytest-report-1a00ab48.jsonl')).toBe(false);
    expect(isTestCommand('python3 -c import pytest')).toBe(false);
    expect(isTestCommand('git apply --verbose /tmp/fixwright/patch.diff')).toBe(false);
  });

  const ns = (ms: number) => String(BigInt(T0 + ms) * 1_000_000n + 123n);
  /** An event line as Docker's stream sends it (timeNano past 2^53: exact only as read from the text). */
  function dockerLine(action: string, ms: number, execID?: string): string {
    const attributes: Record<string, string> = {
      'fixwright.owner.pid': '4242',
      image: 'fixwright-sandbox:base',
      ...(execID ? { execID } : {}),
    };
    return (
      `{"status":${JSON.stringify(action)}` +
      `,"id":"c1","Type":"container","Action":${JSON.stringify(action)}` +
      `,"Actor":{"ID":"c1","Attributes":${JSON.stringify(attributes)}},"scope":"local","time":1,"timeNano":${ns(ms)}}`
    );
  }

  it('pairs exec_start and exec_die by exec id and keeps only the test runs', () => {
    const events = [
      dockerLine('create', 0),
      dockerLine('exec_create: tar -x --no-same-owner -C /work -f -', 10, 'e1'),
      dockerLine('exec_start: tar -x --no-same-owner -C /work -f -', 12, 'e1'),
      dockerLine('exec_create: timeout --kill-after=5 120 python3 -m pytest -rA', 100, 'e2'),
      dockerLine('exec_die', 60, 'e1'),
      dockerLine('exec_start: timeout --kill-after=5 120 python3 -m pytest -rA', 105, 'e2'),
      dockerLine('exec_die', 455, 'e2'),
      // A test killed with its container: it ends at the container's death.
      dockerLine('exec_start: pytest -q', 500, 'e3'),
      dockerLine('die', 800),
      dockerLine('destroy', 810),
    ].map((l) => parseContainerEvent(l)!);
    expect(events.every((e) => e !== undefined)).toBe(true);
    expect(events[0]!.attributes['fixwright.owner.pid']).toBe('4242');
    expect(events[0]!.timeNano % 1000n).toBe(123n);
    const execs = execsOf(events);
    expect(execs.map((e) => e.execId)).toEqual(['e1', 'e2', 'e3']);
    expect(execs[1]).toMatchObject({
      command: 'timeout --kill-after=5 120 python3 -m pytest -rA',
      start: T0 + 105,
      end: T0 + 455,
    });
    const tests = testIntervals(execs);
    expect(tests).toHaveLength(2);
    expect(tests[0]!.end - tests[0]!.start).toBeCloseTo(350, 3);
    expect(tests[1]!.end - tests[1]!.start).toBeCloseTo(300, 3);
  });

  it('ignores lines that are not container events', () => {
    expect(parseContainerEvent('not json')).toBeUndefined();
    expect(
      parseContainerEvent('{"Type":"network","Action":"connect","timeNano":1,"Actor":{"ID":"n"}}'),
    ).toBeUndefined();
    const e: ContainerEvent | undefined = parseContainerEvent(
      '{"Type":"container","Action":"start","timeNano":"5","Actor":{"ID":"c"}}',
    );
    expect(e).toMatchObject({ action: 'start', timeNano: 5n, containerId: 'c', attributes: {} });
  });
});
