/** A test's outcome, in the vocabulary of SWE-bench's log parsers (plus XPASS, kept apart). */
export type TestStatus = 'PASSED' | 'FAILED' | 'ERROR' | 'SKIPPED' | 'XFAIL' | 'XPASS';

/** One test's outcome and, for failures, a short message. */
export interface TestOutcome {
  status: TestStatus;
  message?: string;
}

/** Everything one pytest run told us. */
export interface ParsedTestRun {
  outcomes: Record<string, TestOutcome>;
  /** Modules or packages that failed to import or collect, with pytest's message. */
  collectionErrors: Array<{ nodeid: string; message: string }>;
  /** The test that was running when pytest stopped without finishing (crash or timeout). */
  interruptedIn?: string;
  /** pytest's exit status as pytest saw it, when it got to the end. */
  exitStatus?: number;
  /** Report lines that were ignored: a second report for the same test phase, or a test that never started. */
  ignoredLines: number;
}

interface ReportLine {
  event?: string;
  nodeid?: string;
  when?: string;
  outcome?: string;
  wasxfail?: boolean;
  message?: string;
  exitstatus?: number;
}

/** Folds a test's setup/call/teardown reports into one status, as pytest's own summary does. */
function fold(previous: TestOutcome | undefined, line: ReportLine): TestOutcome {
  const { when, outcome, wasxfail } = line;
  if (outcome === 'failed') {
    // A failing teardown after a failed call keeps the call's FAILED; setup/teardown errors are ERROR.
    if (when === 'call') return { status: 'FAILED', message: line.message };
    return previous?.status === 'FAILED' ? previous : { status: 'ERROR', message: line.message };
  }
  if (outcome === 'skipped') return { status: wasxfail ? 'XFAIL' : 'SKIPPED' };
  if (when === 'call') return { status: wasxfail ? 'XPASS' : 'PASSED' };
  // Passing setup/teardown phases never overwrite what the call decided.
  return previous ?? { status: 'PASSED' };
}

/** Parses the JSON lines written by fixwright's pytest plugin; broken lines are skipped. */
export function parsePluginReport(text: string): ParsedTestRun {
  const outcomes: Record<string, TestOutcome> = {};
  const collectionErrors: ParsedTestRun['collectionErrors'] = [];
  const started: string[] = [];
  const tornDown = new Set<string>();
  const startedSet = new Set<string>();
  const seenPhases = new Set<string>();
  let ignoredLines = 0;
  let exitStatus: number | undefined;
  for (const raw of text.split('\n')) {
    if (!raw.trim()) continue;
    let line: ReportLine;
    try {
      line = JSON.parse(raw) as ReportLine;
    } catch {
      continue; // The last line can be cut by a kill mid-write.
    }
    if (line.event === 'start' && line.nodeid) {
      started.push(line.nodeid);
      startedSet.add(line.nodeid);
    } else if (line.event === 'report' && line.nodeid) {
      // First report per phase wins, and only for tests pytest announced: lines appended later
      // (by test code that found the file) cannot overwrite a real outcome or invent a test.
      const phase = `${line.nodeid}\0${line.when}`;
      if (!startedSet.has(line.nodeid) || seenPhases.has(phase)) {
        ignoredLines += 1;
        continue;
      }
      seenPhases.add(phase);
      outcomes[line.nodeid] = fold(outcomes[line.nodeid], line);
      if (line.when === 'teardown') tornDown.add(line.nodeid);
    } else if (line.event === 'collect_error')
      collectionErrors.push({ nodeid: line.nodeid ?? '', message: line.message ?? '' });
    else if (line.event === 'finish' && typeof line.exitstatus === 'number') exitStatus = line.exitstatus;
  }
  const result: ParsedTestRun = { outcomes, collectionErrors, ignoredLines };
  if (exitStatus !== undefined) result.exitStatus = exitStatus;
  const last = started[started.length - 1];
  // A test counts as running only until its teardown report arrives.
  if (exitStatus === undefined && last !== undefined && !tornDown.has(last)) result.interruptedIn = last;
  return result;
}

const SUMMARY_LINE = /^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (.+?)(?: - (.*))?$/;

/**
 * Reads pytest's `-rA` short summary ("PASSED path::test", "FAILED path::test - msg"): the
 * fallback when the plugin could not load. Lines such as "SKIPPED [1] file:12: reason" carry no
 * node id and are skipped.
 */
export function parsePytestSummary(log: string): ParsedTestRun {
  const outcomes: Record<string, TestOutcome> = {};
  const collectionErrors: ParsedTestRun['collectionErrors'] = [];
  for (const raw of log.split('\n')) {
    const m = SUMMARY_LINE.exec(raw.trimEnd());
    if (!m) continue;
    const [, status, target, message] = m as unknown as [string, TestStatus, string, string | undefined];
    if (target.startsWith('[')) continue;
    if (status === 'ERROR' && !target.includes('::')) {
      collectionErrors.push({ nodeid: target, message: message ?? '' });
      continue;
    }
    outcomes[target] = message ? { status, message } : { status };
  }
  return { outcomes, collectionErrors, ignoredLines: 0 };
}
