import { isTestFile } from '../../localisation/file-filter.js';
import { moduleNames } from '../../localisation/import-graph.js';
import { applyPatch, pathViolations, type PytestRunResult, runPytest } from '../../sandbox/index.js';
import type { AgentDeps } from '../deps.js';
import type { AgentStateType, AgentUpdate, AttemptRecord, FailureCategory } from '../state.js';

/** Outcomes an existing test may have after the patch without counting as a regression. */
const PASSING = new Set(['PASSED', 'XFAIL', 'SKIPPED']);

/** The reproduction test passes only when it ran: every outcome PASSED or XFAIL (a skip proves nothing). */
function passed(run: PytestRunResult | undefined): boolean {
  return (
    run !== undefined &&
    run.exec.exitCode === 0 &&
    run.consistent &&
    run.collectionErrors.length === 0 &&
    Object.values(run.outcomes).length > 0 &&
    Object.values(run.outcomes).every((o) => o.status === 'PASSED' || o.status === 'XFAIL')
  );
}

const tail = (text: string, max = 3000) => (text.length > max ? `…${text.slice(-max)}` : text);

/** Existing test files that import one of the modules a diff touches (their tests must not newly fail). */
function testsOfTouchedModules(deps: AgentDeps, touched: string[]): string[] {
  const names = touched.flatMap((p) => moduleNames(p)).flatMap((m) => [m, m.split('.').pop()!]);
  if (names.length === 0) return [];
  const escaped = [...new Set(names)].map((n) => n.replace(/\./g, '\\.')).join('|');
  const importer = new RegExp(`^\\s*(?:from\\s+(?:${escaped})(?:\\.\\w+)*\\s+import|import\\s+(?:${escaped})\\b)`, 'm');
  return (deps.run.snapshot?.files ?? [])
    .filter((f) => isTestFile(f.path) && importer.test(f.text))
    .map((f) => f.path)
    .slice(0, 20);
}

/**
 * Proves an attempt in one fresh sandbox: the reproduction test must fail before the patch and
 * pass after it, and the existing tests of the touched modules must not newly fail.
 */
export async function testNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  const current = state.current!;
  const diff = current.diff!;
  const existing = new Set((deps.run.snapshot?.files ?? []).map((f) => f.path));
  const tests = current.tests.filter((t) => pathViolations(t.path).length === 0 && !existing.has(t.path) && t.path.endsWith('.py'));
  const touched = [...diff.matchAll(/^diff --git a\/\S+ b\/(\S+\.py)$/gm)].map((m) => m[1]!);
  const regressionTargets = testsOfTouchedModules(deps, touched);
  const timeoutSeconds = deps.testTimeoutSeconds;
  let record: AttemptRecord;
  try {
    record = await deps.sandbox.withSandbox({ repo: deps.repo, leaseSeconds: timeoutSeconds * 5 + 120 }, async (session) => {
      const targets = tests.map((t) => t.path);
      if (tests.length > 0) await session.putFiles('/work', Object.fromEntries(tests.map((t) => [t.path, t.content])));
      const before = targets.length ? await runPytest(session, { targets, timeoutSeconds, signal: deps.signal }) : undefined;
      const baseline = regressionTargets.length ? await runPytest(session, { targets: regressionTargets, timeoutSeconds, signal: deps.signal }) : undefined;
      const applied = await applyPatch(session, diff, { timeoutSeconds: 60 });
      deps.events.emit('apply_result', { attempt: state.attempt, ok: applied.ok, ...(applied.ok ? { method: applied.method } : { message: applied.message }) });
      if (!applied.ok) {
        return { ...current, failure: { category: 'patch_does_not_apply' as const, message: applied.message }, score: -0.5 };
      }
      const after = targets.length ? await runPytest(session, { targets, timeoutSeconds, signal: deps.signal }) : undefined;
      const afterExisting = regressionTargets.length ? await runPytest(session, { targets: regressionTargets, timeoutSeconds, signal: deps.signal }) : undefined;
      const regressions = baseline && afterExisting
        ? Object.entries(baseline.outcomes)
            .filter(([id, o]) => PASSING.has(o.status) && !PASSING.has(afterExisting.outcomes[id]?.status ?? 'MISSING'))
            .map(([id]) => id)
        : [];
      const reproFailedBefore = before !== undefined && !passed(before);
      const reproPassedAfter = passed(after);
      deps.events.emit('test_result', {
        attempt: state.attempt,
        reproduction: targets,
        before: before && { outcomes: before.outcomes, exit_code: before.exec.exitCode, output: tail(before.exec.stdout.text + before.exec.stderr.text) },
        after: after && { outcomes: after.outcomes, exit_code: after.exec.exitCode, timed_out: after.timedOut, output: tail(after.exec.stdout.text + after.exec.stderr.text) },
        existing: regressionTargets,
        existing_after: afterExisting && { outcomes: afterExisting.outcomes, exit_code: afterExisting.exec.exitCode },
        regressions,
      });
      let failure: { category: FailureCategory; message: string; logs?: string } | undefined;
      const logs = after ? tail(after.exec.stdout.text + after.exec.stderr.text) : undefined;
      if (after?.timedOut || afterExisting?.timedOut) failure = { category: 'timeout', message: `the tests ran past ${timeoutSeconds}s`, logs };
      else if (after && after.collectionErrors.length > 0) failure = { category: 'import_error', message: `the reproduction test could not be collected: ${after.collectionErrors[0]!.message.split('\n').slice(-1)[0]}`, logs };
      else if (targets.length === 0) {
        const clash = current.tests.find((t) => existing.has(t.path));
        failure = {
          category: 'no_reproduction_test',
          message: clash
            ? `the reproduction test must be a new file, and ${clash.path} already exists; name a new one`
            : 'the answer held no reproduction test (a python block starting with "# tests/test_….py")',
        };
      }
      else if (!reproPassedAfter) failure = { category: 'repro_still_fails', message: 'the reproduction test still fails with the patch applied', logs };
      else if (!reproFailedBefore) failure = { category: 'repro_did_not_fail', message: 'the reproduction test passes without the patch, so it does not reproduce the issue', logs: before && tail(before.exec.stdout.text) };
      else if (regressions.length > 0) failure = { category: 'regression', message: `existing tests newly fail: ${regressions.slice(0, 5).join(', ')}`, logs: afterExisting && tail(afterExisting.exec.stdout.text) };
      const score = 1 + (reproPassedAfter ? 2 : 0) + (reproFailedBefore ? 1 : 0) + (regressions.length === 0 ? 1 : 0) - diff.length / 1e5;
      return { ...current, tests, reproFailedBefore, reproPassedAfter, regressions, score, ...(failure ? { failure } : {}) };
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'FW_ERR_CANCELLED' || deps.signal?.aborted) throw err;
    record = { ...current, failure: { category: 'sandbox_error', message: (err as Error).message }, score: 0 };
  }
  return { current: record, attempts: [record] };
}
