import { type FileSummary, selectRegressionTests } from '../../localisation/index.js';
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
  const tested = drafts.filter((d) => d.diff);
  const prepared = deps.run.environment;
  /** Selects among the rated candidates; `perCandidate` holds what the attempt record takes from its winner's test run. */
  const finishWith = (
    records: CandidateRecord[],
    judges: JudgeTest[],
    perCandidate: Record<number, Partial<AttemptRecord>> = {},
  ) => {
    const selection = selectCandidate(records, judges);
    const winner = records.find((c) => c.candidate === selection.winner) ?? records[0]!;
    const draft = drafts.find((d) => d.candidate === winner.candidate);
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
  };
  if (!prepared) {
    const failure = { category: 'sandbox_error' as const, message: 'no environment was resolved for this run' };
    return finishWith(
      drafts.map((d) =>
        untestedCandidate(
          d.diff ? { ...d, failure } : d,
          d.diff ? UNTESTED_SCORE.sandboxError : UNTESTED_SCORE.noAnswer,
        ),
      ),
      [],
    );
  }
  const { environment, image } = prepared;
  // The baseline built (and cached) the project's extensions: each sandbox below starts from them.
  let built: BuiltExtensions | undefined;
  try {
    built = await deps.sandbox.prepareExtensionBuild(environment, { image, repo: deps.repo, signal: deps.signal });
  } catch (err) {
    if (deps.signal?.aborted) throw err;
    const failure = {
      category: 'sandbox_error' as const,
      message: `the project's extensions did not build: ${(err as Error).message}`,
    };
    return finishWith(
      drafts.map((d) =>
        untestedCandidate(
          d.diff ? { ...d, failure } : d,
          d.diff ? UNTESTED_SCORE.sandboxError : UNTESTED_SCORE.noAnswer,
        ),
      ),
      [],
    );
  }
  /**
   * After a patch: the extensions it changed are built again in the patch's sandbox. A build that
   * fails is logged and the tests run on what it left, as the official harness's failed install.
   */
  const rebuildAfterPatch = async (session: Parameters<typeof runEnvironmentTests>[0]) => {
    if (!built) return;
    const rebuild = await checkExtensionBuild(session, environment, deps.signal);
    if (rebuild.failed) deps.events.emit('log', { step: 'test', level: 'warn', message: rebuild.failed.slice(-2000) });
  };
  /** With a build, the limits of the build's own sandbox: a patch may make it build again there. */
  const limits = environment.build ? { limits: deps.sandbox.extensionBuildLimits() } : {};
  const snapshotFiles = deps.run.snapshot?.files ?? [];
  const existing = new Set(snapshotFiles.map((f) => f.path));
  const { judges, clash } = judgeTests(state.reproTests, drafts, existing);
  const timeoutSeconds = deps.testTimeoutSeconds;
  const run = (
    session: Parameters<typeof runEnvironmentTests>[0],
    targets: string[],
    options: { timeout?: number; existing?: boolean } = {},
  ) =>
    targets.length
      ? busy(
          deps.run.clock,
          'test',
          () =>
            runEnvironmentTests(session, environment, targets, {
              timeoutSeconds: options.timeout ?? timeoutSeconds,
              signal: deps.signal,
              // One file that does not import must not stop pytest before the others run.
              ...((options.existing || targets.length > 1) && isPytestCommand(environment.testCmd)
                ? { extraArgs: ['--continue-on-collection-errors'] }
                : {}),
            }),
          (r) => r.exec.durationMs,
        )
      : Promise.resolve(undefined);
  /** Every judge test in one run where the ids say which file each outcome is of; one run per file otherwise, or when the run was cut short. */
  const runJudges = async (
    session: Parameters<typeof runEnvironmentTests>[0],
    list: readonly Judge[],
  ): Promise<Map<string, PytestRunResult>> => {
    const out = new Map<string, PytestRunResult>();
    if (list.length === 0) return out;
    if (list.length > 1 && isPytestCommand(environment.testCmd)) {
      const all = (await run(
        session,
        list.map((j) => j.path),
      ))!;
      if (!all.timedOut && !all.crashed && all.consistent) {
        for (const j of list) out.set(j.path, fileRun(all, j.path));
        return out;
      }
    }
    for (const j of list) out.set(j.path, (await run(session, [j.path]))!);
    return out;
  };

  // Each group of equivalent candidates is tested once. Every group runs the same existing tests (the
  // union of those that reach what each touches), so no candidate wins by being checked less.
  const groups = new Map<number, CandidateDraft[]>();
  for (const d of tested) {
    const lead = tested.find((o) => o.key === d.key)!.candidate;
    groups.set(lead, [...(groups.get(lead) ?? []), d]);
  }
  const selections = [...groups.values()].map((members) => {
    const diff = members[0]!.diff!;
    const touched = [...diff.matchAll(/^diff --git a\/\S+ b\/(\S+\.py)$/gm)].map((m) => m[1]!);
    const names = [...new Set([...enclosingNames(diff, deps.run.index?.summaries ?? []), ...changedNames(diff)])].slice(
      0,
      40,
    );
    // The localiser parsed these files already: no attempt parses the repository again.
    return regressionTargets(snapshotFiles, touched, names, deps.run.index?.summaries);
  });
  const regressionSelection = unionOfSelections(selections, MAX_REGRESSION_FILES + MAX_EXTRA_REGRESSION_FILES);
  const regressionPaths = regressionSelection.tests.map((t) => t.path);
  const setKey = regressionPaths.join('\n');
  const plans = [...groups].map(([lead, members]) => ({ lead, members, diff: members[0]!.diff! }));

  // Without any patch: the judge tests and the existing tests, each once per run.
  const judgeKey = (j: Judge) => `${j.path}\u0000${j.key}`;
  const judgeBefore = (deps.run.judgeBefore ??= new Map<string, PytestRunResult>());
  const regressionBefore = (deps.run.regressionBefore ??= new Map<
    string,
    { run: PytestRunResult; checked: string[] }
  >());
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
  const untested = (
    plan: (typeof plans)[number],
    failure: { category: FailureCategory; message: string },
    score: number,
  ) => {
    for (const d of plan.members) records.set(d.candidate, { ...base(d, plan.lead), failure, score });
  };
  const isCancel = (err: unknown) =>
    (err as { code?: string }).code === 'FW_ERR_CANCELLED' || deps.signal?.aborted === true;
  /** The existing tests' limit with a patch: twice what they took without it, as time on a shared machine varies (at most 3x the limit). */
  const existingLimit = (without: { run: PytestRunResult } | undefined) => {
    const tookSeconds = (without?.run.exec.durationMs ?? 0) / 1000;
    return { tookSeconds, timeout: Math.min(3 * timeoutSeconds, Math.max(timeoutSeconds, 2 * tookSeconds + 30)) };
  };
  const putJudges = async (session: Parameters<typeof runEnvironmentTests>[0]) => {
    // The environment's files and the judge tests in one exec (the judges last, so they win).
    if (built) await putExtensionBuild(session, built);
    await prepareCheckout(session, environment, Object.fromEntries(judges.map((j) => [j.path, j.content])));
  };

  // Without any patch, in a sandbox of its own that runs beside the candidates' (the pool bounds how
  // many run at once): the judge tests and the existing tests, each once per run.
  const withoutPatch: Promise<{ error?: string }> =
    newJudges.length > 0 || newSet
      ? deps.sandbox
          .withSandbox(
            { repo: deps.repo, image, leaseSeconds: timeoutSeconds * (4 + newJudges.length) + 120, ...limits },
            async (session) => {
              if (built) await putExtensionBuild(session, built);
              await prepareCheckout(
                session,
                environment,
                Object.fromEntries(newJudges.map((j) => [j.path, j.content])),
              );
              for (const [path, result] of await runJudges(session, newJudges))
                judgeBefore.set(judgeKey(newJudges.find((j) => j.path === path)!), result);
              // Files that do not finish within the limit, or do not even collect, without the patch are left unchecked (and said so).
              if (newSet) {
                const first = (await run(session, regressionPaths, { existing: true }))!;
                const collected = regressionPaths.filter(
                  (p) => !first.collectionErrors.some((e) => e.nodeid === p || e.nodeid.startsWith(`${p}::`)),
                );
                regressionBefore.set(setKey, {
                  run: first,
                  checked: first.timedOut || first.crashed ? completedFiles(first, collected) : collected,
                });
              }
            },
          )
          .then(
            () => ({}),
            (err) => {
              if (isCancel(err)) throw err;
              return { error: (err as Error).message };
            },
          )
      : Promise.resolve({});

  /** What one group's sandbox ran with its patch: the judges, and the existing tests (`files`, under `limit` seconds). */
  interface PatchedRun {
    after: Map<string, PytestRunResult>;
    afterExisting: PytestRunResult | undefined;
    files: readonly string[];
    limit: number;
  }
  const known = regressionBefore.get(setKey);
  /** How each group's patch applied, told once every sandbox is done: in candidate order, and only for candidates that are judged. */
  const applyResults = new Map<number, Record<string, unknown>>();
  const runGroup = (plan: (typeof plans)[number]) =>
    deps.sandbox.withSandbox(
      { repo: deps.repo, image, leaseSeconds: timeoutSeconds * (5 + judges.length) + 120, ...limits },
      async (session): Promise<PatchedRun | { applyFailed: string }> => {
        await putJudges(session);
        const applied = await applyPatch(session, plan.diff, { timeoutSeconds: 60 });
        applyResults.set(plan.lead, {
          attempt: state.attempt,
          candidate: plan.lead,
          ok: applied.ok,
          ...(applied.ok ? { method: applied.method } : { message: applied.message }),
        });
        if (!applied.ok) return { applyFailed: applied.message };
        await rebuildAfterPatch(session);
        const after = await runJudges(session, judges);
        // The set's run without the patch is still going: every file of the set runs under the plain
        // limit, which stands only where it is what the checked files under their own limit would
        // have been (standsAsRuled); otherwise those run again in a sandbox of their own.
        const files = known ? known.checked : regressionPaths;
        const limit = known ? existingLimit(known).timeout : timeoutSeconds;
        return {
          after,
          afterExisting: await run(session, [...files], { timeout: limit, existing: true }),
          files,
          limit,
        };
      },
    );
  // Every sandbox is waited for, so none is left running when a cancellation ends the node.
  const [[beforeSettled], settled] = await Promise.all([
    Promise.allSettled([withoutPatch]),
    Promise.allSettled(plans.map(runGroup)),
  ]);
  const cancelled = [beforeSettled!, ...settled].find((s) => s.status === 'rejected' && isCancel(s.reason));
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
  const unchecked = regressionPaths.filter((p) => !checked.includes(p));
  const { tookSeconds, timeout: existingTimeout } = existingLimit(existingBefore);
  /** The checked files again, with the patch, in a fresh sandbox, under the rule's limit. */
  const rerunExisting = (plan: (typeof plans)[number]) =>
    checked.length === 0
      ? Promise.resolve(undefined)
      : deps.sandbox.withSandbox(
          { repo: deps.repo, image, leaseSeconds: timeoutSeconds * (5 + judges.length) + 120, ...limits },
          async (session) => {
            await putJudges(session);
            const applied = await applyPatch(session, plan.diff, { timeoutSeconds: 60 });
            if (!applied.ok) throw new Error(`the patch applied once and then did not: ${applied.message}`);
            await rebuildAfterPatch(session);
            // As in every other sandbox: the judges run first, so the existing tests see what they leave behind.
            await runJudges(session, judges);
            return run(session, checked, { timeout: existingTimeout, existing: true });
          },
        );

  const patched = new Map<number, PatchedRun>();
  await Promise.all(
    plans.map(async (plan, i) => {
      const outcome = settled[i]!;
      if (records.has(plan.lead)) return;
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
      if (standsAsRuled(outcome.value, checked, existingTimeout)) return void patched.set(plan.lead, outcome.value);
      try {
        patched.set(plan.lead, {
          ...outcome.value,
          afterExisting: await rerunExisting(plan),
          files: checked,
          limit: existingTimeout,
        });
      } catch (err) {
        if (isCancel(err)) throw err;
        untested(plan, { category: 'sandbox_error', message: (err as Error).message }, UNTESTED_SCORE.sandboxError);
      }
    }),
  );

  /** What one group's sandbox found; the verdict is decided once every group has run. */
  interface GroupRun {
    verdicts: Map<string, TestVerdict>;
    regressions: string[];
    hungMessage?: string;
    regressionLogs?: string;
  }
  const runs = new Map<number, GroupRun>();
  // In the candidates' order, whichever sandbox finished first.
  for (const plan of plans) {
    const found = patched.get(plan.lead);
    if (!found) continue;
    const { after, afterExisting } = found;
    const beforeChecked = existingBefore && onlyFiles(existingBefore.run, checked);
    const judgeAfter = judges.length
      ? ({ ...[...after.values()][0]!, outcomes: merged([...after.values()]) } as PytestRunResult)
      : undefined;
    const judgeBeforeAll = judges.length
      ? ({ ...before.get(judges[0]!.path)!, outcomes: merged([...before.values()]) } as PytestRunResult)
      : undefined;
    // An existing test a judge test redefines (the same test name) is superseded by it: the fix is
    // meant to change what the old version asserts. Any other newly failing test is a regression.
    const { regressions, superseded } = supersede(
      newlyFailing(beforeChecked, afterExisting),
      judgeAfter,
      judgeBeforeAll,
    );
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
      attempt: state.attempt,
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
      existing: checked,
      existing_why: regressionSelection.tests,
      existing_unchecked: [
        ...unchecked.map((path) => ({
          path,
          reason: existingBefore?.run.collectionErrors.some(
            (e) => e.nodeid === path || e.nodeid.startsWith(`${path}::`),
          )
            ? 'does not collect without the patch'
            : existingBefore?.run.crashed
              ? 'pytest crashed before finishing it without the patch'
              : `did not finish within ${timeoutSeconds}s without the patch`,
        })),
        ...regressionSelection.left.map((path) => ({
          path,
          reason: `not run: beyond the ${regressionPaths.length} most relevant test files`,
        })),
      ],
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
        : `regression: existing tests ran past ${Math.round(existingTimeout)}s with the patch, though they finished in ${Math.round(tookSeconds)}s without it (stopped in ${afterExisting!.interruptedIn ?? 'an unknown test'})`;
    runs.set(plan.lead, {
      verdicts,
      regressions,
      hungMessage,
      regressionLogs: afterExisting && tail(afterExisting.exec.stdout.text),
    });
  }

  // Which judges decide. A judge is valid when it fails without any patch. The reproduction step's
  // tests were written before any fix was seen: when one of them is valid, those judge alone, and a
  // proven candidate must pass every one. Otherwise the candidates' own tests judge, each only if some
  // candidate passes it (one that no fix passes may assert the wrong thing), and a proven candidate
  // must pass every such test: candidates whose tests contradict each other prove nothing.
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
  for (const plan of plans) {
    const found = runs.get(plan.lead);
    if (!found) continue;
    const verdictFor = (j: Judge) => found.verdicts.get(j.path)!;
    const proven = binding.length > 0 && binding.every((j) => passes(plan.lead, j));
    const firstFailing = binding.find((j) => !passes(plan.lead, j));
    const primary = valid.find((j) => verdictFor(j).failure?.category !== 'repro_broken') ?? judges[0];
    let failure: { category: FailureCategory; message: string; logs?: string } | undefined;
    if (judges.length === 0) {
      failure = {
        category: 'no_reproduction_test',
        message: clash
          ? `the reproduction test must be a new file, and ${clash} already exists; name a new one`
          : 'the answer held no reproduction test (a python block starting with "# tests/test_….py")',
      };
    } else if (!proven) {
      failure = (firstFailing
        ? verdictFor(firstFailing).failure
        : primary
          ? verdictFor(primary).failure
          : undefined) ?? {
        category: 'repro_still_fails',
        message: 'no candidate passes any of the reproduction tests that fail without a patch',
      };
    } else if (found.hungMessage)
      failure = { category: 'regression', message: found.hungMessage, logs: found.regressionLogs };
    else if (found.regressions.length > 0) {
      failure = {
        category: 'regression',
        message: `regression: existing tests newly fail with the patch: ${found.regressions.slice(0, 5).join(', ')}${found.regressions.length > 5 ? ` and ${found.regressions.length - 5} more` : ''}`,
        logs: found.regressionLogs,
      };
    }
    // A test broken in its own code proved nothing, whatever it did before.
    const testProved = valid.some((j) => verdictFor(j).failure?.category !== 'repro_broken');
    const testsPassed = valid.filter((j) => passes(plan.lead, j)).length;
    const score = attemptScore({
      reproFailedBefore: testProved,
      reproPassedAfter: proven,
      regressions: found.regressions.length + (found.hungMessage ? 1 : 0),
      diffChars: plan.diff.length,
    });
    const extra: Partial<AttemptRecord> = {
      reproFailedBefore: valid.length > 0,
      reproPassedAfter: proven,
      regressions: found.regressions,
      regressionTests: regressionSelection.tests,
      tests: judges.map((j) => ({ path: j.path, content: j.content })),
    };
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
  const summary: JudgeTest[] = judges.map((j) => {
    const b = before.get(j.path);
    const why = !b
      ? 'did not run without the patch'
      : reproductionPassed(b)
        ? 'passes without any patch, so it shows no bug'
        : brokenEverywhere(j)
          ? 'breaks in its own code with every candidate'
          : !binding.includes(j)
            ? fromReproduce.length > 0
              ? "a candidate's own test: the reproduction step's tests decide"
              : 'no candidate passes it'
            : undefined;
    return { path: j.path, source: j.source, valid: why === undefined, ...(why ? { why } : {}) };
  });
  return finishWith([...records.values()], summary, perCandidate);
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
