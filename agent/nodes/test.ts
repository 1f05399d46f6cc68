import { type FileSummary, selectRegressionTests } from '../../localisation/index.js';
import type { EventData } from '../../events/index.js';
import {
  applyPatch,
  type BuiltExtensions,
  checkExtensionBuild,
  isPytestCommand,
  pathViolations,
  prepareCheckout,
  putExtensionBuild,
  type PytestRunResult,
  runEnvironmentTests,
  type TestEnvironment,
} from '../../sandbox/index.js';
import { attemptScore, UNTESTED_SCORE } from '../attempt-score.js';
import type { AgentDeps } from '../deps.js';
import { busy } from '../run-clock.js';
import type { ReproductionTest } from '../edits/index.js';
import { normalisedTest } from '../sampling/normalise.js';
import { selectCandidate } from '../sampling/select.js';
import type {
  AgentStateType,
  AgentUpdate,
  AttemptRecord,
  CandidateDraft,
  CandidateRecord,
  FailureCategory,
  JudgeTest,
} from '../state.js';
import { emitSelection, untestedCandidate } from './apply.js';

/** Outcomes that count as passing: an existing test passing before must still pass after (a new skip is a regression). */
const PASSING = new Set(['PASSED', 'XFAIL', 'XPASS']);
/** A repository with at most this many test files runs its whole suite for regressions. */
const WHOLE_SUITE_FILES = 20;
/** A pytest test module's file name. */
const TEST_FILE = /(^|\/)(test_[^/]*|[^/]*_test)\.py$/;
/** Test files run for regressions at most (the nearest by import distance first). */
const MAX_REGRESSION_FILES = 8;
/** More test files, when candidates touch different code: each one's neighbourhood is checked. */
const MAX_EXTRA_REGRESSION_FILES = 4;

/**
 * The reproduction file passes when none of its tests failed or errored and at least one ran and
 * passed: a skip proves nothing, but a skipped neighbour does not sink a file whose other tests pass.
 */
export function reproductionPassed(run: PytestRunResult | undefined): boolean {
  if (run === undefined || !run.consistent || run.timedOut || run.crashed || run.collectionErrors.length > 0)
    return false;
  const statuses = Object.values(run.outcomes).map((o) => o.status);
  return statuses.some((s) => s === 'PASSED') && !statuses.some((s) => s === 'FAILED' || s === 'ERROR');
}

/** Signs that a failing reproduction test is broken in itself rather than catching the bug. */
const BROKEN_TEST =
  /fixture '[^']+' not found|\bNameError\b|\bSyntaxError\b|\bImportError\b|\bModuleNotFoundError\b|\bIndentationError\b/;

/** A failing reproduction test whose failure is the test's own: the same setup error or broken code before and after the patch. */
export function reproductionBroken(before: PytestRunResult | undefined, after: PytestRunResult | undefined): boolean {
  if (!after) return false;
  const failing = Object.entries(after.outcomes).filter(([, o]) => o.status === 'FAILED' || o.status === 'ERROR');
  if (failing.length === 0) return false;
  // The same breakage without the patch: the test's own fault. Anything new is the patch's doing.
  return failing.every(
    ([id, o]) =>
      before?.outcomes[id]?.status === o.status && (o.status === 'ERROR' || BROKEN_TEST.test(o.message ?? '')),
  );
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
  (
    'self cls None True False return def class import from pass raise yield lambda with else elif for while not and is in or if try except finally ' +
    'assert del global nonlocal async await print len str int float list dict set tuple bool object isinstance getattr setattr hasattr type super ' +
    'range open kwargs args value name result data path file text key items append get msg error Exception ValueError TypeError'
  ).split(' '),
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
    const code = line
      .slice(1)
      .replace(/#.*$/, '')
      .replace(/(["'])(?:\\.|(?!\1).)*\1/g, '');
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
      .filter(
        ([id, o]) =>
          o.status === 'PASSED' &&
          reproBefore?.outcomes[id] !== undefined &&
          reproBefore.outcomes[id]!.status !== 'PASSED',
      )
      .map(([id]) => testName(id)),
  );
  return {
    regressions: failing.filter((id) => !redefined.has(testName(id))),
    superseded: failing.filter((id) => redefined.has(testName(id))),
  };
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
  return {
    ...run,
    outcomes: Object.fromEntries(Object.entries(run.outcomes).filter(([id]) => keep.has(id.split('::')[0]!))),
  };
}

/**
 * The functions and classes a diff's hunks sit in, read from the files' own symbols (a generated
 * diff carries no function context in its hunk headers): `getbasetemp`, `TempPathFactory`.
 */
export function enclosingNames(
  diff: string,
  summaries: ReadonlyArray<{
    path: string;
    symbols: ReadonlyArray<{ name: string; qualname: string; startLine: number; endLine: number }>;
  }>,
): string[] {
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
  if (all.length > 0 && all.length <= WHOLE_SUITE_FILES)
    return {
      tests: all.map((f) => ({ path: f.path, reason: `the whole suite (${all.length} test files)` })),
      left: [],
    };
  const reaching = selectRegressionTests(files, touched, { maxFiles: Number.MAX_SAFE_INTEGER, names, summaries }).tests;
  return {
    tests: reaching.slice(0, MAX_REGRESSION_FILES).map((t) => ({ path: t.path, reason: t.reason })),
    left: reaching.slice(MAX_REGRESSION_FILES).map((t) => t.path),
  };
}

/**
 * Whether an existing-test run with a patch, started before the run without it was known, is the
 * run the baseline asks for: the same files in the same order, under a limit that made no
 * difference (the rule's own, or a lower one the run finished within). A run that stands gives
 * the verdict a run after the baseline would have given.
 */
export function standsAsRuled(
  ran: { files: readonly string[]; limit: number; afterExisting: PytestRunResult | undefined },
  checked: readonly string[],
  ruleLimit: number,
): boolean {
  const sameFiles = ran.files.length === checked.length && ran.files.every((f, i) => f === checked[i]);
  if (!sameFiles) return false;
  if (ran.limit === ruleLimit) return true;
  return ran.afterExisting !== undefined && !ran.afterExisting.timedOut && ran.limit <= ruleLimit;
}

/** Judge tests at most per attempt: each is run without any patch and with every candidate. */
const MAX_JUDGE_TESTS = 6;

/** A reproduction test as it judges: its file, where it came from, and its key for de-duplication. */
interface Judge {
  path: string;
  content: string;
  source: string;
  key: string;
}

/** A name beside `path` that no file and no other judge has (`test_x.py` → `test_x_2.py`). */
function freeName(path: string, taken: (p: string) => boolean): string {
  const stem = path.replace(/\.py$/, '');
  for (let n = 2; ; n++) if (!taken(`${stem}_${n}.py`)) return `${stem}_${n}.py`;
}

/**
 * Every reproduction test of an attempt, de-duplicated: the reproduction step's first, then each
 * candidate's own in candidate order. The same test written twice (layout, comments) judges once;
 * two different tests under one name are both kept, the later renamed.
 */
export function judgeTests(
  reproTests: readonly ReproductionTest[],
  drafts: readonly CandidateDraft[],
  existing: ReadonlySet<string>,
): { judges: Judge[]; clash?: string } {
  const judges: Judge[] = [];
  let clash: string | undefined;
  const offered = [
    ...reproTests.map((t) => ({ test: t, source: 'reproduce' })),
    ...drafts.flatMap((d) => (d.tests ?? []).map((t) => ({ test: t, source: `candidate ${d.candidate}` }))),
  ];
  for (const { test, source } of offered) {
    // Only test modules judge: a conftest.py or another module would change how every test runs.
    if (pathViolations(test.path).length > 0 || !TEST_FILE.test(test.path)) continue;
    if (existing.has(test.path)) {
      clash ??= test.path;
      continue;
    }
    const key = normalisedTest(test.content);
    if (judges.some((j) => j.key === key)) continue;
    if (judges.length >= MAX_JUDGE_TESTS) break;
    const path = judges.some((j) => j.path === test.path)
      ? freeName(test.path, (p) => existing.has(p) || judges.some((j) => j.path === p))
      : test.path;
    judges.push({ path, content: test.content, source, key });
  }
  return { judges, ...(clash ? { clash } : {}) };
}

/** A combined run's outcomes for one test file. */
function fileRun(run: PytestRunResult, path: string): PytestRunResult {
  const mine = (id: string) => id === path || id.startsWith(`${path}::`);
  return {
    ...run,
    outcomes: Object.fromEntries(Object.entries(run.outcomes).filter(([id]) => mine(id))),
    collectionErrors: run.collectionErrors.filter((e) => mine(e.nodeid)),
  };
}

/** How one judge test fared with one candidate: the classification a single reproduction test always had. */
interface TestVerdict {
  failedBefore: boolean;
  passedAfter: boolean;
  failure?: { category: FailureCategory; message: string; logs?: string };
}

function verdictOf(
  before: PytestRunResult | undefined,
  after: PytestRunResult | undefined,
  timeoutSeconds: number,
): TestVerdict {
  const logs = after ? output(after) : undefined;
  const collectError = after?.collectionErrors[0]?.message.trim().split('\n').slice(-1)[0];
  const failedBefore = before !== undefined && !reproductionPassed(before);
  const passedAfter = reproductionPassed(after);
  const v = (category: FailureCategory, message: string, l = logs): TestVerdict => ({
    failedBefore,
    passedAfter,
    failure: { category, message, logs: l },
  });
  // A timeout or an import failure that the test also had without the patch is the test's fault
  // (rewrite it); one that only the patch brings is the fix's.
  if (after?.timedOut && before?.timedOut)
    return v('timeout', `the reproduction test ran past ${timeoutSeconds}s, with and without the patch`);
  if (after?.timedOut)
    return v(
      'repro_still_fails',
      `with the patch the reproduction test runs past ${timeoutSeconds}s (it finished without it)`,
    );
  if (after && after.collectionErrors.length > 0 && before && before.collectionErrors.length > 0)
    return v('import_error', `the reproduction test could not be collected: ${collectError}`);
  if (after && after.collectionErrors.length > 0)
    return v('repro_still_fails', `with the patch the reproduction test no longer imports: ${collectError}`);
  if (!passedAfter && reproductionBroken(before, after))
    return v(
      'repro_broken',
      'the reproduction test breaks in its own code (an error in the test or its setup, not a failing check); rewrite the test',
    );
  if (!passedAfter) return v('repro_still_fails', 'the reproduction test still fails with the patch applied');
  if (!failedBefore)
    return v(
      'repro_did_not_fail',
      'the reproduction test passes without the patch, so it does not reproduce the issue',
      before && tail(before.exec.stdout.text),
    );
  return { failedBefore, passedAfter };
}

/** Merges per-file runs into one outcome map for the event log (ids name their file). */
const merged = (runs: ReadonlyArray<PytestRunResult | undefined>) =>
  Object.assign({}, ...runs.map((r) => r?.outcomes ?? {})) as PytestRunResult['outcomes'];

/** A sandbox session the tests run in. */
type Session = Parameters<typeof runEnvironmentTests>[0];
/** One group of equivalent candidates: tested once, in one sandbox, with its lead's diff. */
type GroupPlan = { lead: number; members: CandidateDraft[]; diff: string };
/** Why a candidate failed, as its record carries it. */
type Failure = { category: FailureCategory; message: string; logs?: string };
/** An existing-test set's run without any patch, and the files in it that finished (the checked ones). */
type ExistingBefore = { run: PytestRunResult; checked: string[] };

/** What every sandbox of one test node shares: the run's environment and its build, the judge tests, the limit. */
interface TestRun {
  state: AgentStateType;
  deps: AgentDeps;
  environment: TestEnvironment;
  image: string | undefined;
  /** The project's extensions, built by the baseline: each sandbox starts from them. */
  built: BuiltExtensions | undefined;
  /** With a build, the limits of the build's own sandbox: a patch may make it build again there. */
  limits: { limits?: ReturnType<AgentDeps['sandbox']['extensionBuildLimits']> };
  judges: Judge[];
  timeoutSeconds: number;
}

/** The existing tests run for regressions: which, why, and how they fared without any patch. */
interface ExistingTests {
  selection: { tests: Array<{ path: string; reason: string }>; left: string[] };
  paths: string[];
  before: ExistingBefore | undefined;
  checked: string[];
  unchecked: string[];
  /** Their limit with a patch, and how long they took without it. */
  timeout: number;
  tookSeconds: number;
}

/** What one group's sandbox ran with its patch: the judges, and the existing tests (`files`, under `limit` seconds). */
interface PatchedRun {
  after: Map<string, PytestRunResult>;
  afterExisting: PytestRunResult | undefined;
  files: readonly string[];
  limit: number;
}

/** What one group's sandbox found; the verdict is decided once every group has run. */
interface GroupRun {
  verdicts: Map<string, TestVerdict>;
  regressions: string[];
  hungMessage?: string;
  regressionLogs?: string;
}

/** The judges that decide, and how each group fared with each. */
interface Binding {
  /** Judges that fail without any patch and do not break in their own code with every candidate. */
  valid: Judge[];
  fromReproduce: Judge[];
  /** The judges a proven candidate must pass every one of. */
  binding: Judge[];
  passes: (lead: number, j: Judge) => boolean;
  brokenEverywhere: (j: Judge) => boolean;
}

/** Selects among the rated candidates; `perCandidate` holds what the attempt record takes from its winner's test run. */
function finishWith(
  state: AgentStateType,
  deps: AgentDeps,
  records: CandidateRecord[],
  judges: JudgeTest[],
  perCandidate: Record<number, Partial<AttemptRecord>> = {},
) {
  const selection = selectCandidate(records, judges);
  const winner = records.find((c) => c.candidate === selection.winner) ?? records[0]!;
  const draft = state.drafts.find((d) => d.candidate === winner.candidate);
  const record: AttemptRecord = {
    attempt: state.attempt,
    candidate: winner.candidate,
    diff: winner.diff,
    tests: [],
    score: winner.score,
    ...(winner.failure ? { failure: winner.failure } : {}),
    ...(perCandidate[winner.candidate] ?? {}),
    candidates: [...records].sort((a, b) => a.candidate - b.candidate),
    selection,
  };
  emitSelection(deps, record);
  return { current: record, attempts: [record], ...(draft ? { answer: draft.answer } : {}) };
}

/** Every candidate untested for one reason the whole attempt shares (no environment, extensions that did not build). */
function untestedAttempt(state: AgentStateType, deps: AgentDeps, message: string) {
  const failure = { category: 'sandbox_error' as const, message };
  return finishWith(
    state,
    deps,
    state.drafts.map((d) =>
      untestedCandidate(d.diff ? { ...d, failure } : d, d.diff ? UNTESTED_SCORE.sandboxError : UNTESTED_SCORE.noAnswer),
    ),
    [],
  );
}

/** A cancellation (the run's signal, or a sandbox cancelled under it): never turned into a candidate's failure. */
function isCancel(deps: AgentDeps, err: unknown): boolean {
  return (err as { code?: string }).code === 'FW_ERR_CANCELLED' || deps.signal?.aborted === true;
}

/**
 * After a patch: the extensions it changed are built again in the patch's sandbox. A build that
 * fails is logged and the tests run on what it left, as the official harness's failed install.
 */
async function rebuildAfterPatch(t: TestRun, session: Session): Promise<void> {
  if (!t.built) return;
  const rebuild = await checkExtensionBuild(session, t.environment, t.deps.signal);
  if (rebuild.failed) t.deps.events.emit('log', { step: 'test', level: 'warn', message: rebuild.failed.slice(-2000) });
}

/** Runs test targets in the environment (none: nothing runs), on the run's clock. */
function runTests(
  t: TestRun,
  session: Session,
  targets: string[],
  options: { timeout?: number; existing?: boolean } = {},
): Promise<PytestRunResult | undefined> {
  const { deps, environment } = t;
  return targets.length
    ? busy(
        deps.run.clock,
        'test',
        () =>
          runEnvironmentTests(session, environment, targets, {
            timeoutSeconds: options.timeout ?? t.timeoutSeconds,
            signal: deps.signal,
            // One file that does not import must not stop pytest before the others run.
            ...((options.existing || targets.length > 1) && isPytestCommand(environment.testCmd)
              ? { extraArgs: ['--continue-on-collection-errors'] }
              : {}),
          }),
        (r) => r.exec.durationMs,
      )
    : Promise.resolve(undefined);
}

/** Every judge test in one run where the ids say which file each outcome is of; one run per file otherwise, or when the run was cut short. */
async function runJudges(t: TestRun, session: Session, list: readonly Judge[]): Promise<Map<string, PytestRunResult>> {
  const out = new Map<string, PytestRunResult>();
  if (list.length === 0) return out;
  if (list.length > 1 && isPytestCommand(t.environment.testCmd)) {
    const all = (await runTests(
      t,
      session,
      list.map((j) => j.path),
    ))!;
    if (!all.timedOut && !all.crashed && all.consistent) {
      for (const j of list) out.set(j.path, fileRun(all, j.path));
      return out;
    }
  }
  for (const j of list) out.set(j.path, (await runTests(t, session, [j.path]))!);
  return out;
}

/** The environment's files and the judge tests in one exec (the judges last, so they win). */
async function putJudges(t: TestRun, session: Session): Promise<void> {
  if (t.built) await putExtensionBuild(session, t.built);
  await prepareCheckout(session, t.environment, Object.fromEntries(t.judges.map((j) => [j.path, j.content])));
}

/** The existing tests' limit with a patch: twice what they took without it, as time on a shared machine varies (at most 3x the limit). */
function existingLimit(timeoutSeconds: number, without: { run: PytestRunResult } | undefined) {
  const tookSeconds = (without?.run.exec.durationMs ?? 0) / 1000;
  return { tookSeconds, timeout: Math.min(3 * timeoutSeconds, Math.max(timeoutSeconds, 2 * tookSeconds + 30)) };
}

/** Groups of equivalent candidates (the same key), each under its first member: each group is tested once. */
function candidateGroups(tested: readonly CandidateDraft[]): Map<number, CandidateDraft[]> {
  const groups = new Map<number, CandidateDraft[]>();
  for (const d of tested) {
    const lead = tested.find((o) => o.key === d.key)!.candidate;
    groups.set(lead, [...(groups.get(lead) ?? []), d]);
  }
  return groups;
}

/**
 * The existing tests every group runs: the union of those that reach what each group's diff
 * touches, so no candidate wins by being checked less.
 */
function regressionSelectionFor(deps: AgentDeps, plans: readonly GroupPlan[]) {
  const snapshotFiles = deps.run.snapshot?.files ?? [];
  const selections = plans.map(({ diff }) => {
    const touched = [...diff.matchAll(/^diff --git a\/\S+ b\/(\S+\.py)$/gm)].map((m) => m[1]!);
    const names = [...new Set([...enclosingNames(diff, deps.run.index?.summaries ?? []), ...changedNames(diff)])].slice(
      0,
      40,
    );
    // The localiser parsed these files already: no attempt parses the repository again.
    return regressionTargets(snapshotFiles, touched, names, deps.run.index?.summaries);
  });
  return unionOfSelections(selections, MAX_REGRESSION_FILES + MAX_EXTRA_REGRESSION_FILES);
}

/** A judge's key among the runs without a patch: its path and its normalised content. */
const judgeKey = (j: Judge) => `${j.path}\u0000${j.key}`;

/**
 * Without any patch, in a sandbox of its own that runs beside the candidates' (the pool bounds how
 * many run at once): the judge tests and the existing tests, each once per run. A failure is the
 * error every candidate is then untested with.
 */
function runWithoutPatch(
  t: TestRun,
  newJudges: readonly Judge[],
  regression: { paths: string[]; setKey: string; isNew: boolean },
): Promise<{ error?: string }> {
  const { deps } = t;
  const judgeBefore = deps.run.judgeBefore!;
  const regressionBefore = deps.run.regressionBefore!;
  if (newJudges.length === 0 && !regression.isNew) return Promise.resolve({});
  return deps.sandbox
    .withSandbox(
      { repo: deps.repo, image: t.image, leaseSeconds: t.timeoutSeconds * (4 + newJudges.length) + 120, ...t.limits },
      async (session) => {
        if (t.built) await putExtensionBuild(session, t.built);
        await prepareCheckout(session, t.environment, Object.fromEntries(newJudges.map((j) => [j.path, j.content])));
        for (const [path, result] of await runJudges(t, session, newJudges))
          judgeBefore.set(judgeKey(newJudges.find((j) => j.path === path)!), result);
        // Files that do not finish within the limit, or do not even collect, without the patch are left unchecked (and said so).
        if (regression.isNew) {
          const first = (await runTests(t, session, regression.paths, { existing: true }))!;
          const collected = regression.paths.filter(
            (p) => !first.collectionErrors.some((e) => e.nodeid === p || e.nodeid.startsWith(`${p}::`)),
          );
          regressionBefore.set(regression.setKey, {
            run: first,
            checked: first.timedOut || first.crashed ? completedFiles(first, collected) : collected,
          });
        }
      },
    )
    .then(
      () => ({}),
      (err) => {
        if (isCancel(deps, err)) throw err;
        return { error: (err as Error).message };
      },
    );
}

/**
 * One group's sandbox: its patch applied (how it applied is kept in `applyResults`, told later),
 * the extensions rebuilt, every judge test run, then the existing tests.
 */
function runGroup(
  t: TestRun,
  plan: GroupPlan,
  existing: { known: ExistingBefore | undefined; paths: string[] },
  applyResults: Map<number, EventData<'apply_result'>>,
): Promise<PatchedRun | { applyFailed: string }> {
  const { deps, judges, timeoutSeconds } = t;
  const { known } = existing;
  return deps.sandbox.withSandbox(
    { repo: deps.repo, image: t.image, leaseSeconds: timeoutSeconds * (5 + judges.length) + 120, ...t.limits },
    async (session): Promise<PatchedRun | { applyFailed: string }> => {
      await putJudges(t, session);
      const applied = await applyPatch(session, plan.diff, { timeoutSeconds: 60 });
      applyResults.set(plan.lead, {
        attempt: t.state.attempt,
        candidate: plan.lead,
        ok: applied.ok,
        ...(applied.ok ? { method: applied.method } : { message: applied.message }),
      });
      if (!applied.ok) return { applyFailed: applied.message };
      await rebuildAfterPatch(t, session);
      const after = await runJudges(t, session, judges);
      // The set's run without the patch is still going: every file of the set runs under the plain
      // limit, which stands only where it is what the checked files under their own limit would
      // have been (standsAsRuled); otherwise those run again in a sandbox of their own.
      const files = known ? known.checked : existing.paths;
      const limit = known ? existingLimit(timeoutSeconds, known).timeout : timeoutSeconds;
      return {
        after,
        afterExisting: await runTests(t, session, [...files], { timeout: limit, existing: true }),
        files,
        limit,
      };
    },
  );
}

/** The checked files again, with the patch, in a fresh sandbox, under the rule's limit. */
function rerunExisting(t: TestRun, plan: GroupPlan, existing: ExistingTests): Promise<PytestRunResult | undefined> {
  const { deps, judges, timeoutSeconds } = t;
  if (existing.checked.length === 0) return Promise.resolve(undefined);
  return deps.sandbox.withSandbox(
    { repo: deps.repo, image: t.image, leaseSeconds: timeoutSeconds * (5 + judges.length) + 120, ...t.limits },
    async (session) => {
      await putJudges(t, session);
      const applied = await applyPatch(session, plan.diff, { timeoutSeconds: 60 });
      if (!applied.ok) throw new Error(`the patch applied once and then did not: ${applied.message}`);
      await rebuildAfterPatch(t, session);
      // As in every other sandbox: the judges run first, so the existing tests see what they leave behind.
      await runJudges(t, session, judges);
      return runTests(t, session, existing.checked, { timeout: existing.timeout, existing: true });
    },
  );
}

/**
 * Each group's patched run as the verdict takes it: the run itself where its existing tests stand
 * as ruled, else with them run again; a group whose sandbox failed or whose patch did not apply is
 * recorded untested through `untested`.
 */
async function patchedRuns(
  t: TestRun,
  plans: readonly GroupPlan[],
  settled: ReadonlyArray<PromiseSettledResult<PatchedRun | { applyFailed: string }>>,
  existing: ExistingTests,
  skip: (plan: GroupPlan) => boolean,
  untested: (plan: GroupPlan, failure: Failure, score: number) => void,
): Promise<Map<number, PatchedRun>> {
  const patched = new Map<number, PatchedRun>();
  await Promise.all(
    plans.map(async (plan, i) => {
      const outcome = settled[i]!;
      if (skip(plan)) return;
      if (outcome.status === 'rejected')
        return untested(
          plan,
          { category: 'sandbox_error', message: (outcome.reason as Error).message },
          UNTESTED_SCORE.sandboxError,
        );
      if ('applyFailed' in outcome.value)
        return untested(
          plan,
          { category: 'patch_does_not_apply', message: outcome.value.applyFailed },
          UNTESTED_SCORE.doesNotApply,
        );
      if (standsAsRuled(outcome.value, existing.checked, existing.timeout))
        return void patched.set(plan.lead, outcome.value);
      try {
        patched.set(plan.lead, {
          ...outcome.value,
          afterExisting: await rerunExisting(t, plan, existing),
          files: existing.checked,
          limit: existing.timeout,
        });
      } catch (err) {
        if (isCancel(t.deps, err)) throw err;
        untested(plan, { category: 'sandbox_error', message: (err as Error).message }, UNTESTED_SCORE.sandboxError);
      }
    }),
  );
  return patched;
}

/** Why each existing test file was not checked: it did not collect, crash or finish without the patch, or it was beyond the set. */
function uncheckedReasons(existing: ExistingTests, timeoutSeconds: number) {
  return [
    ...existing.unchecked.map((path) => ({
      path,
      reason: existing.before?.run.collectionErrors.some((e) => e.nodeid === path || e.nodeid.startsWith(`${path}::`))
        ? 'does not collect without the patch'
        : existing.before?.run.crashed
          ? 'pytest crashed before finishing it without the patch'
          : `did not finish within ${timeoutSeconds}s without the patch`,
    })),
    ...existing.selection.left.map((path) => ({
      path,
      reason: `not run: beyond the ${existing.paths.length} most relevant test files`,
    })),
  ];
}

/**
 * One group's findings: each judge's verdict, the existing tests that newly fail (less those a judge
 * redefines), and a hang or crash the patch brings; told in a `test_result` event.
 */
function groupRunOf(
  t: TestRun,
  plan: GroupPlan,
  found: PatchedRun,
  before: Map<string, PytestRunResult | undefined>,
  existing: ExistingTests,
): GroupRun {
  const { deps, judges, timeoutSeconds, environment } = t;
  const { after, afterExisting } = found;
  const beforeChecked = existing.before && onlyFiles(existing.before.run, existing.checked);
  const judgeAfter = judges.length
    ? ({ ...[...after.values()][0]!, outcomes: merged([...after.values()]) } as PytestRunResult)
    : undefined;
  const judgeBeforeAll = judges.length
    ? ({ ...before.get(judges[0]!.path)!, outcomes: merged([...before.values()]) } as PytestRunResult)
    : undefined;
  // An existing test a judge test redefines (the same test name) is superseded by it: the fix is
  // meant to change what the old version asserts. Any other newly failing test is a regression.
  const { regressions, superseded } = supersede(newlyFailing(beforeChecked, afterExisting), judgeAfter, judgeBeforeAll);
  // The checked files finished without the patch: running past the limit, or crashing, with it is the patch's doing.
  const hung = (afterExisting?.timedOut === true || afterExisting?.crashed === true) && regressions.length === 0;
  const verdicts = new Map(
    judges.map((j) => [j.path, verdictOf(before.get(j.path), after.get(j.path), timeoutSeconds)]),
  );
  const primary =
    judges.find(
      (j) => verdicts.get(j.path)!.failedBefore && verdicts.get(j.path)!.failure?.category !== 'repro_broken',
    ) ?? judges[0];
  deps.events.emit('test_result', {
    attempt: t.state.attempt,
    candidate: plan.lead,
    candidates: plan.members.map((m) => m.candidate),
    environment: environment.key,
    reproduction: judges.map((j) => j.path),
    judges: judges.map((j) => ({
      path: j.path,
      source: j.source,
      failed_before: verdicts.get(j.path)!.failedBefore,
      passed_after: verdicts.get(j.path)!.passedAfter,
      failure: verdicts.get(j.path)!.failure?.category ?? null,
    })),
    // The exit code and output shown are the primary judge's (the first that failed without the patch).
    before: judgeBeforeAll &&
      primary && {
        outcomes: judgeBeforeAll.outcomes,
        exit_code: before.get(primary.path)?.exec.exitCode,
        output: output(before.get(primary.path)!),
      },
    after: judgeAfter &&
      primary && {
        outcomes: judgeAfter.outcomes,
        exit_code: after.get(primary.path)?.exec.exitCode,
        timed_out: [...after.values()].some((r) => r.timedOut),
        output: output(after.get(primary.path)!),
      },
    existing: existing.checked,
    existing_why: existing.selection.tests,
    existing_unchecked: uncheckedReasons(existing, timeoutSeconds),
    existing_after: afterExisting && {
      outcomes: afterExisting.outcomes,
      exit_code: afterExisting.exec.exitCode,
      timed_out: afterExisting.timedOut,
      output: output(afterExisting),
    },
    regressions,
    superseded,
  });
  const hungMessage = !hung
    ? undefined
    : afterExisting!.crashed
      ? `regression: the existing tests crash with the patch, though they finished without it (in ${afterExisting!.interruptedIn ?? 'an unknown test'})`
      : `regression: existing tests ran ` +
        `past ${Math.round(existing.timeout)}s with the patch, though they finished ` +
        `in ${Math.round(existing.tookSeconds)}s without it (stopped in ${afterExisting!.interruptedIn ?? 'an unknown test'})`;
  return { verdicts, regressions, hungMessage, regressionLogs: afterExisting && tail(afterExisting.exec.stdout.text) };
}

/**
 * Which judges decide. A judge is valid when it fails without any patch. The reproduction step's
 * tests were written before any fix was seen: when one of them is valid, those judge alone, and a
 * proven candidate must pass every one. Otherwise the candidates' own tests judge, each only if some
 * candidate passes it (one that no fix passes may assert the wrong thing), and a proven candidate
 * must pass every such test: candidates whose tests contradict each other prove nothing.
 */
function bindingJudges(
  judges: readonly Judge[],
  before: Map<string, PytestRunResult | undefined>,
  runs: Map<number, GroupRun>,
): Binding {
  const passes = (lead: number, j: Judge) => {
    const v = runs.get(lead)?.verdicts.get(j.path);
    return v !== undefined && !v.failure;
  };
  const brokenEverywhere = (j: Judge) =>
    runs.size > 0 && [...runs.values()].every((r) => r.verdicts.get(j.path)?.failure?.category === 'repro_broken');
  // A test that breaks in its own code with every candidate judges nothing, however it failed without a patch.
  const valid = judges.filter((j) => {
    const b = before.get(j.path);
    return b !== undefined && !reproductionPassed(b) && !brokenEverywhere(j);
  });
  const fromReproduce = valid.filter((j) => j.source === 'reproduce');
  const binding =
    fromReproduce.length > 0 ? fromReproduce : valid.filter((j) => [...runs.keys()].some((lead) => passes(lead, j)));
  return { valid, fromReproduce, binding, passes, brokenEverywhere };
}

/** Why one group's candidates are not a proven fix: no judge, no judge passed, a hang or crash, or regressions; none when proven. */
function groupFailure(
  judges: readonly Judge[],
  clash: string | undefined,
  plan: GroupPlan,
  found: GroupRun,
  b: Binding,
): Failure | undefined {
  const verdictFor = (j: Judge) => found.verdicts.get(j.path)!;
  const proven = b.binding.length > 0 && b.binding.every((j) => b.passes(plan.lead, j));
  const firstFailing = b.binding.find((j) => !b.passes(plan.lead, j));
  const primary = b.valid.find((j) => verdictFor(j).failure?.category !== 'repro_broken') ?? judges[0];
  if (judges.length === 0) {
    return {
      category: 'no_reproduction_test',
      message: clash
        ? `the reproduction test must be a new file, and ${clash} already exists; name a new one`
        : 'the answer held no reproduction test (a python block starting with "# tests/test_….py")',
    };
  } else if (!proven) {
    return (
      (firstFailing ? verdictFor(firstFailing).failure : primary ? verdictFor(primary).failure : undefined) ?? {
        category: 'repro_still_fails',
        message: 'no candidate passes any of the reproduction tests that fail without a patch',
      }
    );
  } else if (found.hungMessage)
    return { category: 'regression', message: found.hungMessage, logs: found.regressionLogs };
  else if (found.regressions.length > 0) {
    return {
      category: 'regression',
      message:
        `regression: existing tests newly fail with the ` +
        `patch: ${found.regressions.slice(0, 5).join(', ')}${found.regressions.length > 5 ? ` and ${found.regressions.length - 5} more` : ''}`,
      logs: found.regressionLogs,
    };
  }
  return undefined;
}

/** One group's score and what its attempt record would take from its test run. */
function groupScore(t: TestRun, plan: GroupPlan, found: GroupRun, b: Binding, selection: ExistingTests['selection']) {
  const verdictFor = (j: Judge) => found.verdicts.get(j.path)!;
  const proven = b.binding.length > 0 && b.binding.every((j) => b.passes(plan.lead, j));
  // A test broken in its own code proved nothing, whatever it did before.
  const testProved = b.valid.some((j) => verdictFor(j).failure?.category !== 'repro_broken');
  const testsPassed = b.valid.filter((j) => b.passes(plan.lead, j)).length;
  const score = attemptScore({
    reproFailedBefore: testProved,
    reproPassedAfter: proven,
    regressions: found.regressions.length + (found.hungMessage ? 1 : 0),
    diffChars: plan.diff.length,
  });
  const extra: Partial<AttemptRecord> = {
    reproFailedBefore: b.valid.length > 0,
    reproPassedAfter: proven,
    regressions: found.regressions,
    regressionTests: selection.tests,
    tests: t.judges.map((j) => ({ path: j.path, content: j.content })),
  };
  return { testsPassed, score, extra };
}

/** Each judge test as the selection reports it: valid, or why it does not judge. */
function judgeSummary(
  judges: readonly Judge[],
  before: Map<string, PytestRunResult | undefined>,
  b: Binding,
): JudgeTest[] {
  return judges.map((j) => {
    const run = before.get(j.path);
    const why = !run
      ? 'did not run without the patch'
      : reproductionPassed(run)
        ? 'passes without any patch, so it shows no bug'
        : b.brokenEverywhere(j)
          ? 'breaks in its own code with every candidate'
          : !b.binding.includes(j)
            ? b.fromReproduce.length > 0
              ? "a candidate's own test: the reproduction step's tests decide"
              : 'no candidate passes it'
            : undefined;
    return { path: j.path, source: j.source, valid: why === undefined, ...(why ? { why } : {}) };
  });
}

/**
 * Proves an attempt's candidates in the project's environment. Every judge test (the reproduction
 * step's and each candidate's own, de-duplicated) runs once without any patch, in one sandbox with
 * the existing tests' baseline; each group of equivalent candidates gets one fresh sandbox, where
 * its patch is applied and every judge test and the existing tests that reach what it touches run
 * again. These sandboxes run at the same time, as far as the sandbox pool allows: a group's
 * existing tests that ran before the baseline was known stand only where they are the run the
 * baseline asks for (the same files, a limit that made no difference), else they run again. A
 * candidate is proven when a judge test that failed without it passes with it and no existing test
 * newly fails; selection then keeps one candidate.
 */
export async function testNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  const drafts = state.drafts;
  const prepared = deps.run.environment;
  if (!prepared) return untestedAttempt(state, deps, 'no environment was resolved for this run');
  const { environment, image } = prepared;
  // The baseline built (and cached) the project's extensions: each sandbox below starts from them.
  let built: BuiltExtensions | undefined;
  try {
    built = await deps.sandbox.prepareExtensionBuild(environment, { image, repo: deps.repo, signal: deps.signal });
  } catch (err) {
    if (deps.signal?.aborted) throw err;
    return untestedAttempt(state, deps, `the project's extensions did not build: ${(err as Error).message}`);
  }
  const limits = environment.build ? { limits: deps.sandbox.extensionBuildLimits() } : {};
  const existingFiles = new Set((deps.run.snapshot?.files ?? []).map((f) => f.path));
  const { judges, clash } = judgeTests(state.reproTests, drafts, existingFiles);
  const t: TestRun = {
    state,
    deps,
    environment,
    image,
    built,
    limits,
    judges,
    timeoutSeconds: deps.testTimeoutSeconds,
  };

  const groups = candidateGroups(drafts.filter((d) => d.diff));
  const plans: GroupPlan[] = [...groups].map(([lead, members]) => ({ lead, members, diff: members[0]!.diff! }));
  const selection = regressionSelectionFor(deps, plans);
  const regressionPaths = selection.tests.map((s) => s.path);
  const setKey = regressionPaths.join('\n');

  // Without any patch: the judge tests and the existing tests, each once per run.
  const judgeBefore = (deps.run.judgeBefore ??= new Map<string, PytestRunResult>());
  const regressionBefore = (deps.run.regressionBefore ??= new Map<string, ExistingBefore>());
  const newJudges = judges.filter((j) => !judgeBefore.has(judgeKey(j)));
  const newSet = setKey !== '' && !regressionBefore.has(setKey);
  const records = new Map<number, CandidateRecord>();
  const perCandidate: Record<number, Partial<AttemptRecord>> = {};
  const base = (d: CandidateDraft, lead: number): CandidateRecord => ({
    candidate: d.candidate,
    temperature: d.temperature,
    context: d.context,
    diff: d.diff,
    group: lead,
    votes: groups.get(lead)!.length,
    testsPassed: 0,
    regressions: [],
    score: UNTESTED_SCORE.sandboxError,
    tokens: d.tokens,
    costUsd: d.costUsd,
  });
  const untested = (plan: GroupPlan, failure: Failure, score: number) => {
    for (const d of plan.members) records.set(d.candidate, { ...base(d, plan.lead), failure, score });
  };

  const withoutPatch = runWithoutPatch(t, newJudges, { paths: regressionPaths, setKey, isNew: newSet });
  /** How each group's patch applied, told once every sandbox is done: in candidate order, and only for candidates that are judged. */
  const applyResults = new Map<number, EventData<'apply_result'>>();
  const known = regressionBefore.get(setKey);
  // Every sandbox is waited for, so none is left running when a cancellation ends the node.
  const [[beforeSettled], settled] = await Promise.all([
    Promise.allSettled([withoutPatch]),
    Promise.allSettled(plans.map((plan) => runGroup(t, plan, { known, paths: regressionPaths }, applyResults))),
  ]);
  const cancelled = [beforeSettled!, ...settled].find((s) => s.status === 'rejected' && isCancel(deps, s.reason));
  if (cancelled) throw (cancelled as PromiseRejectedResult).reason;
  const beforeError =
    beforeSettled!.status === 'fulfilled' ? beforeSettled!.value.error : (beforeSettled!.reason as Error).message;
  if (beforeError !== undefined)
    for (const p of plans)
      untested(p, { category: 'sandbox_error', message: beforeError }, UNTESTED_SCORE.sandboxError);
  else for (const p of plans) if (applyResults.has(p.lead)) deps.events.emit('apply_result', applyResults.get(p.lead)!);

  const before = new Map(judges.map((j) => [j.path, judgeBefore.get(judgeKey(j))]));
  const existingBefore = regressionBefore.get(setKey);
  const checked = existingBefore?.checked ?? [];
  const { tookSeconds, timeout } = existingLimit(t.timeoutSeconds, existingBefore);
  const existing: ExistingTests = {
    selection,
    paths: regressionPaths,
    before: existingBefore,
    checked,
    unchecked: regressionPaths.filter((p) => !checked.includes(p)),
    timeout,
    tookSeconds,
  };
  const patched = await patchedRuns(t, plans, settled, existing, (plan) => records.has(plan.lead), untested);

  const runs = new Map<number, GroupRun>();
  // In the candidates' order, whichever sandbox finished first.
  for (const plan of plans) {
    const found = patched.get(plan.lead);
    if (found) runs.set(plan.lead, groupRunOf(t, plan, found, before, existing));
  }
  const binding = bindingJudges(judges, before, runs);
  for (const plan of plans) {
    const found = runs.get(plan.lead);
    if (!found) continue;
    const failure = groupFailure(judges, clash, plan, found, binding);
    const { testsPassed, score, extra } = groupScore(t, plan, found, binding, selection);
    for (const d of plan.members) {
      records.set(d.candidate, {
        ...base(d, plan.lead),
        testsPassed,
        regressions: found.hungMessage ? [...found.regressions, found.hungMessage] : found.regressions,
        score,
        ...(failure ? { failure } : {}),
      });
      perCandidate[d.candidate] = extra;
    }
  }
  for (const d of drafts) if (!d.diff) records.set(d.candidate, untestedCandidate(d, UNTESTED_SCORE.noAnswer));
  return finishWith(state, deps, [...records.values()], judgeSummary(judges, before, binding), perCandidate);
}

/**
 * One set of existing tests from several candidates' selections: each one's most relevant files in
 * turn (round robin), so that every candidate's neighbourhood is checked, up to `max` files.
 */
export function unionOfSelections(
  selections: ReadonlyArray<{ tests: Array<{ path: string; reason: string }>; left: string[] }>,
  max: number,
): { tests: Array<{ path: string; reason: string }>; left: string[] } {
  const same = selections.every(
    (s) => s.tests.map((t) => t.path).join('\n') === selections[0]!.tests.map((t) => t.path).join('\n'),
  );
  if (same) return selections[0] ?? { tests: [], left: [] };
  // A whole small suite is never cut.
  max = Math.max(max, ...selections.map((s) => s.tests.length));
  const tests: Array<{ path: string; reason: string }> = [];
  const seen = new Set<string>();
  const queues = selections.map((s) => [
    ...s.tests,
    ...s.left.map((path) => ({ path, reason: 'reaches a touched module' })),
  ]);
  for (let i = 0; queues.some((q) => i < q.length); i++) {
    for (const q of queues) {
      const t = q[i];
      if (t && !seen.has(t.path)) {
        seen.add(t.path);
        tests.push(t);
      }
    }
  }
  return { tests: tests.slice(0, max), left: tests.slice(max).map((t) => t.path) };
}
