import { type FileSummary, selectRegressionTests } from '../../localisation/index.js';
import { applyPatch, isPytestCommand, pathViolations, prepareCheckout, type PytestRunResult, runEnvironmentTests } from '../../sandbox/index.js';
import { attemptScore, UNTESTED_SCORE } from '../attempt-score.js';
import type { AgentDeps } from '../deps.js';
import type { AgentStateType, AgentUpdate, AttemptRecord, FailureCategory } from '../state.js';

/** Outcomes that count as passing: an existing test passing before must still pass after (a new skip is a regression). */
const PASSING = new Set(['PASSED', 'XFAIL', 'XPASS']);
/** A repository with at most this many test files runs its whole suite for regressions. */
const WHOLE_SUITE_FILES = 20;
/** A pytest test module's file name. */
const TEST_FILE = /(^|\/)(test_[^/]*|[^/]*_test)\.py$/;
/** Test files run for regressions at most (the nearest by import distance first). */
const MAX_REGRESSION_FILES = 8;

/**
 * The reproduction file passes when none of its tests failed or errored and at least one ran and
 * passed: a skip proves nothing, but a skipped neighbour does not sink a file whose other tests pass.
 */
export function reproductionPassed(run: PytestRunResult | undefined): boolean {
  if (run === undefined || !run.consistent || run.timedOut || run.crashed || run.collectionErrors.length > 0) return false;
  const statuses = Object.values(run.outcomes).map((o) => o.status);
  return statuses.some((s) => s === 'PASSED') && !statuses.some((s) => s === 'FAILED' || s === 'ERROR');
}

/** Signs that a failing reproduction test is broken in itself rather than catching the bug. */
const BROKEN_TEST = /fixture '[^']+' not found|\bNameError\b|\bSyntaxError\b|\bImportError\b|\bModuleNotFoundError\b|\bIndentationError\b/;

/** A failing reproduction test whose failure is the test's own: the same setup error or broken code before and after the patch. */
export function reproductionBroken(before: PytestRunResult | undefined, after: PytestRunResult | undefined): boolean {
  if (!after) return false;
  const failing = Object.entries(after.outcomes).filter(([, o]) => o.status === 'FAILED' || o.status === 'ERROR');
  if (failing.length === 0) return false;
  // The same breakage without the patch: the test's own fault. Anything new is the patch's doing.
  return failing.every(([id, o]) => before?.outcomes[id]?.status === o.status && (o.status === 'ERROR' || BROKEN_TEST.test(o.message ?? '')));
}

const tail = (text: string, max = 3000) => (text.length > max ? `…${text.slice(-max)}` : text);
const output = (run: PytestRunResult) => tail(run.exec.stdout.text + run.exec.stderr.text);

/**
 * Existing tests that passed before the patch and fail, error or skip after it. A run cut short by
 * its time limit still counts for the tests it reached: a test it never reached is not a
 * regression, a test that a finished run no longer reports (say, its module no longer imports) is.
 */
export function newlyFailing(before: PytestRunResult | undefined, after: PytestRunResult | undefined): string[] {
  if (!before || !after) return [];
  const cut = after.timedOut || after.crashed;
  return Object.entries(before.outcomes)
    .filter(([id, o]) => {
      if (!PASSING.has(o.status)) return false;
      // The test a cut-short run was stopped in failed by the stop, not by the patch.
      if (cut && id === after.interruptedIn) return false;
      const now = after.outcomes[id]?.status;
      return now === undefined ? !cut : !PASSING.has(now) && now !== o.status;
    })
    .map(([id]) => id);
}

/** Words too common to tell one test file from another. */
const COMMON_NAMES = new Set(
  ('self cls None True False return def class import from pass raise yield lambda with else elif for while not and is in or if try except finally ' +
    'assert del global nonlocal async await print len str int float list dict set tuple bool object isinstance getattr setattr hasattr type super ' +
    'range open kwargs args value name result data path file text key items append get msg error Exception ValueError TypeError').split(' '),
);

/**
 * The names a diff touches, most telling first: the functions and classes its hunks sit in or
 * define, then the identifiers on its changed lines (comments and strings left out).
 */
export function changedNames(diff: string, max = 30): string[] {
  const defined: string[] = [];
  const used: string[] = [];
  let python = false;
  for (const line of diff.split('\n')) {
    if (line.startsWith('diff --git ')) python = /\.py$/.test(line);
    if (!python) continue;
    const hunk = line.match(/^@@ [^@]* @@\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)/);
    if (hunk) defined.push(hunk[1]!);
    if (!/^[+-]/.test(line) || /^(\+\+\+|---) /.test(line)) continue;
    const code = line.slice(1).replace(/#.*$/, '').replace(/(["'])(?:\\.|(?!\1).)*\1/g, '');
    const def = code.match(/^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)/);
    if (def) defined.push(def[1]!);
    for (const m of code.matchAll(/[A-Za-z_]\w{2,}/g)) used.push(m[0]);
  }
  return [...new Set([...defined, ...used])].filter((n) => !COMMON_NAMES.has(n) && !n.startsWith('__')).slice(0, max);
}

/** A test's name within its file (`Class::test[param]`), to match a reproduction test with an existing one. */
const testName = (id: string) => (id.includes('::') ? id.slice(id.indexOf('::') + 2) : id);

/**
 * Splits newly failing existing tests into regressions and those a reproduction test of the same
 * name (class and parameters included) redefines: one that failed without the patch and passes
 * with it, so it states a new expectation rather than excusing a breakage.
 */
export function supersede(
  failing: readonly string[],
  reproAfter: PytestRunResult | undefined,
  reproBefore: PytestRunResult | undefined,
): { regressions: string[]; superseded: string[] } {
  const redefined = new Set(
    Object.entries(reproAfter?.outcomes ?? {})
      .filter(([id, o]) => o.status === 'PASSED' && reproBefore?.outcomes[id] !== undefined && reproBefore.outcomes[id]!.status !== 'PASSED')
      .map(([id]) => testName(id)),
  );
  return { regressions: failing.filter((id) => !redefined.has(testName(id))), superseded: failing.filter((id) => redefined.has(testName(id))) };
}

/** The test files a run cut short finished: those with outcomes, less the one it stopped in. */
export function completedFiles(run: PytestRunResult, paths: readonly string[]): string[] {
  // Runners whose ids name no file cannot say which files finished: none is counted as checked.
  if (Object.keys(run.outcomes).some((id) => !id.includes('::'))) return [];
  const fileOf = (id: string) => id.split('::')[0]!;
  const reached = new Set(Object.keys(run.outcomes).map(fileOf));
  if (run.interruptedIn) reached.delete(fileOf(run.interruptedIn));
  return paths.filter((p) => reached.has(p));
}

/** A run's outcomes for some files only (ids without a file, as Django's and SymPy's runners name tests, are all kept). */
function onlyFiles(run: PytestRunResult | undefined, files: readonly string[]): PytestRunResult | undefined {
  if (!run) return undefined;
  if (Object.keys(run.outcomes).some((id) => !id.includes('::'))) return run;
  const keep = new Set(files);
  return { ...run, outcomes: Object.fromEntries(Object.entries(run.outcomes).filter(([id]) => keep.has(id.split('::')[0]!))) };
}

/**
 * The functions and classes a diff's hunks sit in, read from the files' own symbols (a generated
 * diff carries no function context in its hunk headers): `getbasetemp`, `TempPathFactory`.
 */
export function enclosingNames(diff: string, summaries: ReadonlyArray<{ path: string; symbols: ReadonlyArray<{ name: string; qualname: string; startLine: number; endLine: number }> }>): string[] {
  const byPath = new Map(summaries.map((s) => [s.path, s]));
  const names: string[] = [];
  let file: string | undefined;
  for (const line of diff.split('\n')) {
    const header = line.match(/^--- a\/(.+)$/);
    if (header) file = header[1];
    const hunk = line.match(/^@@ -(\d+)(?:,(\d+))? /);
    if (!hunk || !file) continue;
    const from = Number(hunk[1]);
    const to = from + Math.max(0, Number(hunk[2] ?? 1) - 1);
    for (const symbol of byPath.get(file)?.symbols ?? []) {
      if (symbol.startLine <= to && from <= symbol.endLine) names.push(...symbol.qualname.split('.'));
    }
  }
  return [...new Set(names)];
}

/** The existing tests that could newly fail: the whole suite of a small repository, else those that import what the diff touches. */
export function regressionTargets(
  files: ReadonlyArray<{ path: string; text: string }>,
  touched: readonly string[],
  names: readonly string[] = [],
  summaries?: readonly FileSummary[],
): { tests: Array<{ path: string; reason: string }>; left: string[] } {
  const all = files.filter((f) => TEST_FILE.test(f.path));
  if (all.length > 0 && all.length <= WHOLE_SUITE_FILES) return { tests: all.map((f) => ({ path: f.path, reason: `the whole suite (${all.length} test files)` })), left: [] };
  const reaching = selectRegressionTests(files, touched, { maxFiles: Number.MAX_SAFE_INTEGER, names, summaries }).tests;
  return { tests: reaching.slice(0, MAX_REGRESSION_FILES).map((t) => ({ path: t.path, reason: t.reason })), left: reaching.slice(MAX_REGRESSION_FILES).map((t) => t.path) };
}

/**
 * Proves an attempt in one fresh sandbox of the project's environment: the reproduction test must
 * fail before the patch and pass after it, and the existing tests that reach the touched modules
 * must not newly fail.
 */
export async function testNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  const current = state.current!;
  const diff = current.diff!;
  const prepared = deps.run.environment;
  if (!prepared) {
    const record = { ...current, failure: { category: 'sandbox_error' as const, message: 'no environment was resolved for this run' }, score: UNTESTED_SCORE.sandboxError };
    return { current: record, attempts: [record] };
  }
  const { environment, image } = prepared;
  const snapshotFiles = deps.run.snapshot?.files ?? [];
  const existing = new Set(snapshotFiles.map((f) => f.path));
  const tests = current.tests.filter((t) => pathViolations(t.path).length === 0 && !existing.has(t.path) && t.path.endsWith('.py'));
  const touched = [...diff.matchAll(/^diff --git a\/\S+ b\/(\S+\.py)$/gm)].map((m) => m[1]!);
  const names = [...new Set([...enclosingNames(diff, deps.run.index?.summaries ?? []), ...changedNames(diff)])].slice(0, 40);
  // The localiser parsed these files already: no attempt parses the repository again.
  const regressionSelection = regressionTargets(snapshotFiles, touched, names, deps.run.index?.summaries);
  const regressionTests = regressionSelection.tests;
  const regressionPaths = regressionTests.map((t) => t.path);
  const timeoutSeconds = deps.testTimeoutSeconds;
  const run = (session: Parameters<typeof runEnvironmentTests>[0], targets: string[], options: { timeout?: number; existing?: boolean } = {}) =>
    targets.length
      ? runEnvironmentTests(session, environment, targets, {
          timeoutSeconds: options.timeout ?? timeoutSeconds,
          signal: deps.signal,
          // One existing file that does not import must not stop pytest before the others run.
          ...(options.existing && isPytestCommand(environment.testCmd) ? { extraArgs: ['--continue-on-collection-errors'] } : {}),
        })
      : Promise.resolve(undefined);
  let record: AttemptRecord;
  try {
    record = await deps.sandbox.withSandbox({ repo: deps.repo, image, leaseSeconds: timeoutSeconds * 5 + 120 }, async (session) => {
      await prepareCheckout(session, environment);
      const targets = tests.map((t) => t.path);
      if (tests.length > 0) await session.putFiles('/work', Object.fromEntries(tests.map((t) => [t.path, t.content])));
      const before = await run(session, targets);
      // The existing tests before the patch do not change between attempts: run once per set, then re-used.
      // Files that do not finish within the limit without the patch are left unchecked (and said so).
      const baselineKey = regressionPaths.join('\n');
      let existingBefore = deps.run.regressionBefore?.get(baselineKey);
      if (!existingBefore && regressionPaths.length > 0) {
        const first = (await run(session, regressionPaths, { existing: true }))!;
        // Files that do not even collect without the patch cannot show a regression.
        const collected = regressionPaths.filter((p) => !first.collectionErrors.some((e) => e.nodeid === p || e.nodeid.startsWith(`${p}::`)));
        existingBefore = { run: first, checked: first.timedOut || first.crashed ? completedFiles(first, collected) : collected };
        (deps.run.regressionBefore ??= new Map()).set(baselineKey, existingBefore);
      }
      const checked = existingBefore?.checked ?? [];
      const unchecked = regressionPaths.filter((p) => !checked.includes(p));
      const applied = await applyPatch(session, diff, { timeoutSeconds: 60 });
      deps.events.emit('apply_result', { attempt: state.attempt, ok: applied.ok, ...(applied.ok ? { method: applied.method } : { message: applied.message }) });
      if (!applied.ok) {
        return { ...current, failure: { category: 'patch_does_not_apply' as const, message: applied.message }, score: UNTESTED_SCORE.doesNotApply };
      }
      const after = await run(session, targets);
      // Time on a shared machine varies: the checked files get twice what they took without the patch (at most 3x the limit).
      const tookSeconds = (existingBefore?.run.exec.durationMs ?? 0) / 1000;
      const existingTimeout = Math.min(3 * timeoutSeconds, Math.max(timeoutSeconds, 2 * tookSeconds + 30));
      const afterExisting = await run(session, checked, { timeout: existingTimeout, existing: true });
      const beforeChecked = existingBefore && onlyFiles(existingBefore.run, checked);
      // An existing test the reproduction file redefines (the same test name) is superseded by it: the
      // fix is meant to change what the old version asserts. Any other newly failing test is a regression.
      const { regressions, superseded } = supersede(newlyFailing(beforeChecked, afterExisting), after, before);
      // The checked files finished without the patch: running past the limit, or crashing, with it is the patch's doing.
      const hung = (afterExisting?.timedOut === true || afterExisting?.crashed === true) && regressions.length === 0;
      const reproFailedBefore = before !== undefined && !reproductionPassed(before);
      const reproPassedAfter = reproductionPassed(after);
      deps.events.emit('test_result', {
        attempt: state.attempt,
        environment: environment.key,
        reproduction: targets,
        before: before && { outcomes: before.outcomes, exit_code: before.exec.exitCode, output: output(before) },
        after: after && { outcomes: after.outcomes, exit_code: after.exec.exitCode, timed_out: after.timedOut, output: output(after) },
        existing: checked,
        existing_why: regressionTests,
        existing_unchecked: [
          ...unchecked.map((path) => ({
            path,
            reason: existingBefore?.run.collectionErrors.some((e) => e.nodeid === path || e.nodeid.startsWith(`${path}::`))
              ? 'does not collect without the patch'
              : existingBefore?.run.crashed
                ? 'pytest crashed before finishing it without the patch'
                : `did not finish within ${timeoutSeconds}s without the patch`,
          })),
          ...regressionSelection.left.map((path) => ({ path, reason: `not run: beyond the ${MAX_REGRESSION_FILES} most relevant test files` })),
        ],
        existing_after: afterExisting && { outcomes: afterExisting.outcomes, exit_code: afterExisting.exec.exitCode, timed_out: afterExisting.timedOut },
        regressions,
        superseded,
      });
      let failure: { category: FailureCategory; message: string; logs?: string } | undefined;
      const logs = after ? output(after) : undefined;
      const collectError = after?.collectionErrors[0]?.message.trim().split('\n').slice(-1)[0];
      // A timeout or an import failure that the test also had without the patch is the test's fault
      // (rewrite it); one that only the patch brings is the fix's.
      if (after?.timedOut && before?.timedOut) failure = { category: 'timeout', message: `the reproduction test ran past ${timeoutSeconds}s, with and without the patch`, logs };
      else if (after?.timedOut) failure = { category: 'repro_still_fails', message: `with the patch the reproduction test runs past ${timeoutSeconds}s (it finished without it)`, logs };
      else if (after && after.collectionErrors.length > 0 && before && before.collectionErrors.length > 0) {
        failure = { category: 'import_error', message: `the reproduction test could not be collected: ${collectError}`, logs };
      } else if (after && after.collectionErrors.length > 0) {
        failure = { category: 'repro_still_fails', message: `with the patch the reproduction test no longer imports: ${collectError}`, logs };
      } else if (targets.length === 0) {
        const clash = current.tests.find((t) => existing.has(t.path));
        failure = {
          category: 'no_reproduction_test',
          message: clash
            ? `the reproduction test must be a new file, and ${clash.path} already exists; name a new one`
            : 'the answer held no reproduction test (a python block starting with "# tests/test_….py")',
        };
      } else if (!reproPassedAfter && reproductionBroken(before, after)) {
        failure = { category: 'repro_broken', message: 'the reproduction test breaks in its own code (an error in the test or its setup, not a failing check); rewrite the test', logs };
      } else if (!reproPassedAfter) failure = { category: 'repro_still_fails', message: 'the reproduction test still fails with the patch applied', logs };
      else if (!reproFailedBefore) failure = { category: 'repro_did_not_fail', message: 'the reproduction test passes without the patch, so it does not reproduce the issue', logs: before && tail(before.exec.stdout.text) };
      else if (hung) {
        failure = {
          category: 'regression',
          message: afterExisting!.crashed
            ? `regression: the existing tests crash with the patch, though they finished without it (in ${afterExisting!.interruptedIn ?? 'an unknown test'})`
            : `regression: existing tests ran past ${Math.round(existingTimeout)}s with the patch, though they finished in ${Math.round(tookSeconds)}s without it (stopped in ${afterExisting!.interruptedIn ?? 'an unknown test'})`,
          logs: tail(afterExisting!.exec.stdout.text),
        };
      } else if (regressions.length > 0) {
        failure = {
          category: 'regression',
          message: `regression: existing tests newly fail with the patch: ${regressions.slice(0, 5).join(', ')}${regressions.length > 5 ? ` and ${regressions.length - 5} more` : ''}`,
          logs: afterExisting && tail(afterExisting.exec.stdout.text),
        };
      }
      // A test broken in its own code proved nothing, whatever it did before.
      const testProved = reproFailedBefore && failure?.category !== 'repro_broken';
      const score = attemptScore({ reproFailedBefore: testProved, reproPassedAfter, regressions: regressions.length + (hung ? 1 : 0), diffChars: diff.length });
      return { ...current, tests, reproFailedBefore, reproPassedAfter, regressions, regressionTests, score, ...(failure ? { failure } : {}) };
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'FW_ERR_CANCELLED' || deps.signal?.aborted) throw err;
    record = { ...current, failure: { category: 'sandbox_error', message: (err as Error).message }, score: UNTESTED_SCORE.sandboxError };
  }
  return { current: record, attempts: [record] };
}
