import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { gitDirOf } from '../../localisation/index.js';
import {
  applyPatch,
  parseTestLog,
  prepareCheckout,
  prepareEnvironmentImage,
  extensionBuildLimits,
  prepareExtensionBuild,
  putExtensionBuild,
  testRunEnv,
  type BuiltExtensions,
  type LogStatus,
  type PipSettings,
  type SandboxRuntime,
} from '../../sandbox/index.js';
import { environmentFor, type loadEnvironmentTable } from './environments.js';
import { grade, logDescribesRun, testDirectives, type Grade, type GradingRule } from './grading.js';
import type { EvalRow, Prediction } from './instances.js';

/** How an instance's evaluation ended; only `resolved` and `unresolved` carry a verdict. */
export type EvalStatus = 'resolved' | 'unresolved' | 'empty_patch' | 'apply_error' | 'env_error' | 'test_error';

/** One instance's evaluation, as report.json holds it. */
export interface InstanceResult {
  instance_id: string;
  repo: string;
  version: string | null;
  status: EvalStatus;
  /** Why, for anything but resolved. */
  reason: string | null;
  environment: string;
  tests: Record<string, LogStatus>;
  fail_to_pass: Grade['fail_to_pass'] | null;
  pass_to_pass: Grade['pass_to_pass'] | null;
  /** Set when every failing test is one the environment table says needs outside hosts: the verdict stands, but offline it could not be otherwise. */
  offline_limited?: boolean;
  /** The test command's exit status (null: it did not run to an end). */
  exit_code?: number | null;
  /**
   * Set on an env_error the official harness would have graded all the same (its test command ran
   * and printed no result: completed and unresolved there), so `official` counts it as completed.
   */
  official_completed?: true;
  /** The test run's log (stdout then stderr), kept beside the result. */
  log: string;
  duration_ms: number;
}

/** What every instance's evaluation shares. */
export interface EvalContext {
  runtime: SandboxRuntime;
  docker: Docker;
  table: ReturnType<typeof loadEnvironmentTable>;
  /** `DIR/<owner>/<name>` git mirrors or checkouts. */
  reposDir: string;
  timeoutSeconds: number;
  /** The official release whose grading rule decides the verdict. */
  grading: GradingRule;
  /** Where pip may look while an environment image builds. */
  pip?: PipSettings;
  signal?: AbortSignal;
}

/** Bytes of test log kept: enough for `-rA` summaries of the largest suites. */
const LOG_CAP = 64 << 20;

/** The files a patch touches (both sides of every `diff --git` header). */
function patchPaths(patch: string): string[] {
  return [
    ...new Set([...patch.matchAll(/^diff --git a\/(.*) b\/(.*)$/gm)].flatMap((m) => [m[1]!.trim(), m[2]!.trim()])),
  ];
}

/**
 * The test patch's files as they were at `base_commit` (null: not there), read from git on the
 * host. The official harness checks these out before applying the test patch, so a model patch
 * that edits a test the benchmark runs cannot change what is graded.
 */
function testFilesAtBase(gitDir: string, commit: string, testPatch: string): Map<string, Buffer | null> {
  const files = new Map<string, Buffer | null>();
  for (const path of patchPaths(testPatch)) {
    try {
      files.set(
        path,
        execFileSync('git', ['--git-dir', gitDir, 'show', `${commit}:${path}`], {
          maxBuffer: 64 << 20,
          stdio: ['ignore', 'pipe', 'ignore'],
        }),
      );
    } catch {
      files.set(path, null);
    }
  }
  return files;
}

/**
 * Evaluates one prediction the official way: the repository at `base_commit` in its environment,
 * the model patch applied (git apply, then patch --fuzz=5), then the test patch, then the test
 * files the test patch touches run with the repository's command; the log is parsed with the
 * repository's parser and graded. Environment problems are decided before any test runs.
 */
export async function evaluateInstance(
  row: EvalRow,
  prediction: Prediction,
  ctx: EvalContext,
): Promise<InstanceResult> {
  const started = Date.now();
  const env = environmentFor(ctx.table, row.repo, row.version);
  const base = {
    instance_id: row.instance_id,
    repo: row.repo,
    version: row.version ?? null,
    environment: env.key,
    tests: {},
    fail_to_pass: null,
    pass_to_pass: null,
    log: '',
  };
  const end = (status: EvalStatus, reason: string | null, extra: Partial<InstanceResult> = {}): InstanceResult => ({
    ...base,
    ...extra,
    status,
    reason,
    duration_ms: Date.now() - started,
  });

  // Only "" (or null) is an empty patch to the official harness; whitespace goes to `git apply` and fails there.
  if (prediction.model_patch === '') return end('empty_patch', 'the prediction has no patch');
  if (!env.supported) return end('env_error', env.reason);
  const checkout = join(ctx.reposDir, row.repo);
  if (!existsSync(checkout))
    return end('env_error', `repository ${row.repo} not found under ${ctx.reposDir} (expected ${checkout})`);
  const gitDir = gitDirOf(checkout) ?? checkout;
  let image: string | undefined;
  try {
    image = (await prepareEnvironmentImage(ctx.docker, env, { pip: ctx.pip })).image;
  } catch (err) {
    return end('env_error', `the environment image did not build: ${(err as Error).message.slice(0, 500)}`);
  }
  // The extensions are built from the base commit in a sandbox of their own (cached, shared by
  // every instance whose extension sources are the same); a patch that changes one is built again
  // in the test's sandbox (prepareCheckout). A failure of the base's build is the environment's,
  // decided before any verdict; one after the patches is the patch's (graded, as officially).
  let built: BuiltExtensions | undefined;
  try {
    built = await prepareExtensionBuild(ctx.runtime, env, {
      image,
      repo: { kind: 'git', gitDir, commit: row.base_commit },
      signal: ctx.signal,
    });
  } catch (err) {
    if (ctx.signal?.aborted) throw err;
    return end('env_error', `the extensions did not build: ${(err as Error).message.slice(-3000)}`);
  }
  try {
    return await ctx.runtime.withSandbox(
      // One sandbox per instance: nothing of this tree is started ahead of need.
      // With a build, the limits of the build's own sandbox: a patch may make it build again here.
      {
        image,
        repo: { kind: 'git', gitDir, commit: row.base_commit },
        outputCapBytes: LOG_CAP,
        leaseSeconds: ctx.timeoutSeconds + 600,
        warm: false,
        ...(env.build ? { limits: extensionBuildLimits(ctx.runtime.settings) } : {}),
      },
      async (session) => {
        if (built) await putExtensionBuild(session, built);
        const applied = await applyPatch(session, prediction.model_patch, { timeoutSeconds: 120, asHarness: true });
        if (!applied.ok) return end('apply_error', applied.message);
        const reset = testFilesAtBase(gitDir, row.base_commit, row.test_patch);
        const restore = Object.fromEntries([...reset].filter(([, c]) => c !== null) as Array<[string, Buffer]>);
        const absent = [...reset].filter(([, c]) => c === null).map(([p]) => p);
        if (absent.length > 0) await session.execTrusted(['rm', '-f', '--', ...absent], { timeoutSeconds: 60 });
        if (Object.keys(restore).length > 0) await session.putFiles('/work', restore);
        const tests = await applyPatch(session, row.test_patch, { timeoutSeconds: 120, asHarness: true });
        // The official eval script goes on to the tests (no `set -e`) with the test files the test
        // patch could not write missing, so the row is graded there, and not resolved.
        if (!tests.ok)
          return end('unresolved', `the test patch does not apply after the model patch: ${tests.message}`);
        const rebuild = await prepareCheckout(session, env);
        // The official install step after the patch fails without stopping the script: the tests
        // run (and fail to import); the build's tail goes before the verdict's reason.
        const afterBuild = (reason: string | null) =>
          rebuild?.failed && reason !== null ? `${rebuild.failed.slice(-2500)}\n— then the tests: ${reason}` : reason;
        const run = await session.run([...env.testCmd, ...testDirectives(row.test_patch, env.directives)], {
          timeoutSeconds: ctx.timeoutSeconds,
          env: testRunEnv(env),
          signal: ctx.signal,
        });
        const log = run.stdout.text + (run.stderr.text ? `\n${run.stderr.text}` : '');
        // The program did not start (not found, not executable): the environment's fault, not the patch's.
        if (run.exitCode === 126 || run.exitCode === 127 || /No module named pytest\b/.test(log)) {
          return end(
            'env_error',
            `the test command could not start (exit ${run.exitCode}): ${log.trim().split('\n').slice(-1)[0] ?? ''}`,
            { log, exit_code: run.exitCode, official_completed: true },
          );
        }
        // The official harness records no report for a run past its time: an error, not a verdict.
        if (run.timedOut) return end('test_error', `the tests ran past ${ctx.timeoutSeconds}s`, { log });
        const verdict = verdictOf(parseTestLog(log, env.parser), run.exitCode, log, row, env.needsNetwork, ctx.grading);
        return end(verdict.status, afterBuild(verdict.reason), { log, exit_code: run.exitCode, ...verdict });
      },
    );
  } catch (err) {
    if (ctx.signal?.aborted) throw err;
    return end('env_error', `the sandbox failed: ${(err as Error).message.slice(0, 500)}`);
  }
}

/** What a rule decides about a test run that ended: the verdict, why, and the graded lists. */
export type Verdict = Pick<
  InstanceResult,
  'status' | 'reason' | 'tests' | 'fail_to_pass' | 'pass_to_pass' | 'offline_limited'
>;

/**
 * The verdict of a finished test run from its parsed log and exit status, under a grading rule
 * (also used to grade a kept run again under another rule, without running it).
 */
export function verdictOf(
  map: Record<string, LogStatus>,
  exitCode: number | null,
  log: string,
  row: Pick<EvalRow, 'FAIL_TO_PASS' | 'PASS_TO_PASS'>,
  needsNetwork: readonly string[],
  rule: GradingRule,
): Verdict {
  const lists = { tests: map, fail_to_pass: null, pass_to_pass: null };
  // A log with nothing to grade is a graded run all the same (every test missing counts as
  // failed): the official report lists it as unresolved, not as an error.
  if (Object.keys(map).length === 0)
    return {
      ...lists,
      status: 'unresolved',
      reason: `no test results in the log (exit ${exitCode}): ${log.trim().split('\n').slice(-1)[0] ?? ''}`,
    };
  if (!logDescribesRun(map, exitCode, rule)) {
    return {
      ...lists,
      status: 'unresolved',
      reason: `the test command exited ${exitCode} while its log shows no failing test: under ${rule.name} such a log is not graded`,
    };
  }
  const graded = grade(map, row.FAIL_TO_PASS, row.PASS_TO_PASS, rule);
  const failures = [
    ...graded.fail_to_pass.failure.map((t) => `FAIL_TO_PASS ${t}`),
    ...graded.pass_to_pass.failure.map((t) => `PASS_TO_PASS ${t}`),
  ];
  const failing = [...graded.fail_to_pass.failure, ...graded.pass_to_pass.failure];
  const offlineLimited = !graded.resolved && failing.every((t) => needsNetwork.includes(t.split('::').at(-1)!));
  const why =
    `${offlineLimited ? 'offline limits (these tests need outside hosts) — ' : ''}` +
    `failing: ${failures.slice(0, 5).join(', ')}${failures.length > 5 ? ` and ${failures.length - 5} more` : ''}`;
  return {
    status: graded.resolved ? 'resolved' : 'unresolved',
    reason: graded.resolved ? null : why,
    ...(offlineLimited ? { offline_limited: true } : {}),
    tests: map,
    fail_to_pass: graded.fail_to_pass,
    pass_to_pass: graded.pass_to_pass,
  };
}
