import { FixwrightError } from '../../core/index.js';
import { WORKDIR } from '../container-spec.js';
import type { TestOutcome } from '../pytest-outcomes.js';
import { runPytest, type PytestRunResult } from '../pytest-run.js';
import type { SandboxSession } from '../session.js';
import { parseTestLog } from './log-parsers.js';
import { checkExtensionBuild, type RebuildResult } from './extension-build.js';
import { isPytestCommand } from './spec.js';
import type { TestEnvironment } from './types.js';

/** Where an environment's helper scripts go inside the sandbox. */
export const HELPERS_DIR = '/tmp/fixwright/eval';

/** The environment variables of every test run: PYTHONPATH for the project, a fixed time zone, the environment's own. */
export function testRunEnv(environment: TestEnvironment): Record<string, string> {
  const pythonpath = environment.pythonpath
    .map((p) => (p === '.' ? '/work' : `/work/${p.replace(/^\.\//, '')}`))
    .join(':');
  return { PYTHONPATH: pythonpath, TZ: 'Etc/UTC', ...environment.testEnv };
}

/**
 * Writes the environment's generated files and helper scripts, and `extraFiles` (relative to the
 * checkout, written last so they win), into a sandbox that holds the repository: one exec for all.
 * Then, for an environment that builds extensions, builds again where the checkout's build inputs
 * changed since the cached build put in (a patch touched a .pyx): a failure there is returned
 * (`failed`, with the log's tail); or fully where none was put in, and a failure then throws
 * FW_ERR_IMAGE_BUILD.
 */
export async function prepareCheckout(
  session: SandboxSession,
  environment: TestEnvironment,
  extraFiles: Record<string, string> = {},
): Promise<RebuildResult | undefined> {
  const work = { ...environment.files, ...extraFiles };
  const helpers = Object.keys(environment.helpers);
  if (helpers.length === 0) {
    if (Object.keys(work).length > 0) await session.putFiles(WORKDIR, work);
  } else {
    // Two directories in one archive, unpacked at the root (tar creates only what is missing on the way).
    const under = (dir: string, files: Record<string, string>) =>
      Object.entries(files).map(([path, content]) => [`${dir.slice(1)}/${path}`, content] as const);
    await session.putFiles(
      '/',
      Object.fromEntries([...under(WORKDIR, work), ...under(HELPERS_DIR, environment.helpers)]),
    );
  }
  return environment.build ? checkExtensionBuild(session, environment) : undefined;
}

/** Test files as the environment's command names them (Django's runner takes dotted labels). */
export function testDirectives(paths: readonly string[], directives: TestEnvironment['directives']): string[] {
  if (directives === 'paths') return [...paths];
  return paths.map((p) =>
    p
      .replace(/\.py$/, '')
      .replace(/^tests\//, '')
      .replace(/\//g, '.'),
  );
}

/**
 * Runs tests in the environment. A pytest command runs with fixwright's report plugin (exact
 * outcomes, collection errors, crash detection); any other runs as the environment says and its log
 * is read with the environment's parser.
 */
export async function runEnvironmentTests(
  session: SandboxSession,
  environment: TestEnvironment,
  targets: readonly string[],
  options: { timeoutSeconds: number; signal?: AbortSignal; extraArgs?: readonly string[] },
): Promise<PytestRunResult> {
  const env = testRunEnv(environment);
  // A spec's command is configuration, but not always the machine owner's: it passes the policy like any caller's.
  session.checkCommand(environment.testCmd);
  if (isPytestCommand(environment.testCmd)) {
    const command = environment.testCmd.filter((a) => a !== '-rA');
    return runPytest(session, {
      targets,
      timeoutSeconds: options.timeoutSeconds,
      signal: options.signal,
      env,
      command,
      extraArgs: options.extraArgs,
    });
  }
  if (options.extraArgs?.length)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `the test command of ${environment.key} is not pytest and takes no pytest flags`,
    );
  const files = [...new Set(targets.map((t) => t.split('::')[0]!))];
  const exec = await session.run([...environment.testCmd, ...testDirectives(files, environment.directives)], {
    timeoutSeconds: options.timeoutSeconds,
    env,
    signal: options.signal,
  });
  const log = exec.stdout.text + (exec.stderr.text ? `\n${exec.stderr.text}` : '');
  const outcomes: Record<string, TestOutcome> = Object.fromEntries(
    Object.entries(parseTestLog(log, environment.parser)).map(([id, status]) => [id, { status }]),
  );
  const timedOut = exec.timedOut || exec.exitCode === 124;
  return {
    outcomes,
    collectionErrors: [],
    ignoredLines: 0,
    exec,
    timedOut,
    crashed: false,
    missing: [],
    source: 'summary',
    consistent: true,
  };
}

/** What the health check found. */
export interface HealthResult {
  ok: boolean;
  /** The modules that failed to import, with the last line of each error. */
  failures: Array<{ module: string; error: string }>;
  /** Requirements the environment's build could not install (best-effort environments list them). */
  notInstalled: string[];
  durationMs: number;
}

/**
 * Imports the project's modules in the environment, each on its own so one failure names its
 * module; the last line of the error (such as "No module named 'mpmath'") says what is missing.
 */
export async function checkImports(
  session: SandboxSession,
  environment: TestEnvironment,
  timeoutSeconds: number,
): Promise<HealthResult> {
  const started = Date.now();
  if (environment.imports.length === 0) return { ok: true, failures: [], notInstalled: [], durationMs: 0 };
  const script = [
    'import importlib, sys, traceback',
    'bad = 0',
    'for name in sys.argv[1:]:',
    '    try:',
    '        importlib.import_module(name)',
    '    except BaseException as e:',
    '        bad += 1',
    '        print("FIXWRIGHT-IMPORT-FAILED %s %s: %s" % (name, type(e).__name__, str(e).splitlines()[-1:] and str(e).splitlines()[-1] or ""))',
    'try:',
    '    missing = open("/usr/local/share/fixwright/missing.txt").read().split()',
    'except OSError:',
    '    missing = []',
    'if missing:',
    '    print("FIXWRIGHT-NOT-INSTALLED " + " ".join(missing))',
    'sys.exit(1 if bad else 0)',
  ].join('\n');
  const python =
    environment.testCmd[0] === 'python' || environment.testCmd[0]?.startsWith('python3')
      ? environment.testCmd[0]
      : 'python3';
  const exec = await session.run([python, '-c', script, ...environment.imports], {
    timeoutSeconds,
    env: testRunEnv(environment),
  });
  const failures = [...exec.stdout.text.matchAll(/^FIXWRIGHT-IMPORT-FAILED (\S+) (.*)$/gm)].map((m) => ({
    module: m[1]!,
    error: m[2]!,
  }));
  if (exec.exitCode !== 0 && failures.length === 0) {
    const last = (exec.stderr.text || exec.stdout.text).trim().split('\n').slice(-1)[0] ?? '';
    failures.push({
      module: environment.imports.join(', '),
      error: exec.timedOut
        ? `importing took longer than ${timeoutSeconds}s`
        : `python exited ${exec.exitCode}: ${last}`,
    });
  }
  const notInstalled =
    exec.stdout.text
      .match(/^FIXWRIGHT-NOT-INSTALLED (.*)$/m)?.[1]
      ?.split(' ')
      .filter(Boolean) ?? [];
  return { ok: failures.length === 0, failures, notInstalled, durationMs: Date.now() - started };
}
