import {
  type BuiltExtensions,
  checkImports,
  isPytestCommand,
  prepareCheckout,
  putExtensionBuild,
  readProjectFiles,
  resolveEnvironment,
  runEnvironmentTests,
  type TestEnvironment,
} from '../../sandbox/index.js';
import { selectRegressionTests } from '../../localisation/index.js';
import type { AgentDeps } from '../deps.js';
import { busy } from '../run-clock.js';
import type { AgentStateType, AgentUpdate } from '../state.js';

/** Localised files whose tests the baseline collects. */
const BASELINE_SOURCE_FILES = 3;
/** Test files the baseline collects at most (collection is cheap, but not free on large suites). */
const BASELINE_TEST_FILES = 8;
/** Seconds the import check may take. */
const IMPORT_TIMEOUT_SECONDS = 60;

const lastLine = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter((l) => /\S/.test(l))
    .slice(-1)[0] ?? '';

/** The line of a collection error that names the problem ("E   ModuleNotFoundError: No module named 'x'"). */
function errorLine(message: string): string {
  const named = message
    .split('\n')
    .reverse()
    .find((l) => /\b\w*(Error|Exception)\b/.test(l));
  return (named ?? lastLine(message)).replace(/^E\s+/, '').trim();
}

/** The top-level package of a repository file (`src/flask/app.py` → flask, `calc.py` → calc). */
function topPackage(path: string): string {
  const parts = path.replace(/\.py$/, '').split('/');
  return (parts.length > 1 && (parts[0] === 'src' || parts[0] === 'lib') ? parts[1] : parts[0])!;
}

/** The health check's modules that hold the localised files (all of them when none does). */
export function requiredImports(imports: readonly string[], files: readonly string[]): string[] {
  const tops = new Set(files.map(topPackage));
  const required = imports.filter((m) => tops.has(m.split('.')[0]!));
  return required.length > 0 ? required : [...imports];
}

/**
 * Before any model call for a fix: resolves the project's environment, builds its image (cached),
 * and proves the project imports and its relevant tests collect there. Where they do not, the run
 * stops with `stopped_by: environment` and says what is missing, instead of spending attempts.
 */
export async function baselineNode(state: AgentStateType, deps: AgentDeps): Promise<AgentUpdate> {
  const stop = (message: string): AgentUpdate => {
    deps.events.emit('log', { level: 'error', step: 'baseline', stopped_by: 'environment', message });
    return { stoppedBy: 'environment', stopMessage: message };
  };
  let environment: TestEnvironment;
  try {
    environment = resolveEnvironment(deps.environmentRequest ?? {}, readProjectFiles(deps.repo));
  } catch (err) {
    return stop((err as Error).message);
  }
  deps.events.emit('log', {
    step: 'environment',
    source: environment.source,
    key: environment.key,
    notes: environment.notes,
    image: environment.image,
    pythonpath: environment.pythonpath,
    test_command: environment.testCmd,
    imports: environment.imports,
  });
  let image: string | undefined;
  try {
    const prepared = await deps.sandbox.prepareEnvironmentImage(environment, { pip: deps.pip });
    image = prepared.image;
    if (prepared.built) deps.events.emit('log', { step: 'environment', built_image: image });
  } catch (err) {
    return stop(`the environment (${environment.key}) did not build: ${(err as Error).message}`);
  }
  deps.run.environment = { environment, image };
  // The project's extensions, built once per tree in a sandbox of their own and cached (the same
  // build eval uses): every sandbox of the run starts from it, and builds again only what a patch changed.
  let built: BuiltExtensions | undefined;
  try {
    built = await deps.sandbox.prepareExtensionBuild(environment, { image, repo: deps.repo, signal: deps.signal });
  } catch (err) {
    if (deps.signal?.aborted) throw err;
    return stop(`the project's extensions (${environment.key}) did not build: ${(err as Error).message}`);
  }

  const near = state.files.slice(0, BASELINE_SOURCE_FILES).map((f) => f.path);
  const selection = selectRegressionTests(deps.run.snapshot?.files ?? [], near, {
    maxFiles: BASELINE_TEST_FILES,
    summaries: deps.run.index?.summaries,
  });
  const testFiles = selection.tests.map((t) => t.path);
  const collect = isPytestCommand(environment.testCmd) && testFiles.length > 0;
  try {
    const limits = environment.build ? { limits: deps.sandbox.extensionBuildLimits() } : {};
    const problem = await deps.sandbox.withSandbox(
      { repo: deps.repo, image, leaseSeconds: deps.testTimeoutSeconds + IMPORT_TIMEOUT_SECONDS + 120, ...limits },
      async (session) => {
        if (built) await putExtensionBuild(session, built);
        const rebuild = await prepareCheckout(session, environment);
        if (rebuild?.failed)
          deps.events.emit('log', { step: 'baseline', level: 'warn', message: rebuild.failed.slice(-2000) });
        const health = await busy(
          deps.run.clock,
          'test',
          () => checkImports(session, environment, IMPORT_TIMEOUT_SECONDS),
          (h) => h.durationMs,
        );
        // Only the packages the run is about must import (every one a spec names); another package of
        // the repository that needs an optional extra is noted, not fatal.
        const required = environment.importsExplicit ? environment.imports : requiredImports(environment.imports, near);
        const fatal = health.failures.filter((f) => required.includes(f.module));
        if (fatal.length > 0) {
          const what = fatal.map((f) => `${f.module}: ${f.error}`).join('; ');
          deps.events.emit('log', { step: 'baseline', imports: environment.imports, import_failures: health.failures });
          const notInstalled =
            health.notInstalled.length > 0 ? ` (its build could not install: ${health.notInstalled.join(', ')})` : '';
          return `the project does not import in its environment (${environment.key}): ${what}${notInstalled}`;
        }
        const notes = health.failures.filter((f) => !required.includes(f.module));
        if (notes.length > 0)
          deps.events.emit('log', {
            step: 'baseline',
            level: 'warn',
            import_failures: notes,
            message: 'packages the localised files are not in do not import; the run goes on',
          });
        if (!collect) {
          deps.events.emit('log', { step: 'baseline', imports: environment.imports, ok: true, collected: null });
          return undefined;
        }
        const run = await busy(
          deps.run.clock,
          'test',
          () =>
            runEnvironmentTests(session, environment, testFiles, {
              timeoutSeconds: deps.testTimeoutSeconds,
              signal: deps.signal,
              extraArgs: ['--collect-only', '-q'],
            }),
          (r) => r.exec.durationMs,
        );
        const collected = Number(
          run.exec.stdout.text.match(/(\d+) tests? collected/)?.[1] ??
            run.exec.stdout.text.split('\n').filter((l) => l.includes('::')).length,
        );
        const broken = run.collectionErrors.map((e) => ({ file: e.nodeid, error: errorLine(e.message) }));
        deps.events.emit('log', {
          step: 'baseline',
          imports: environment.imports,
          test_files: selection.tests,
          collected,
          collection_errors: broken,
          ok: collected > 0 || (broken.length === 0 && [0, 5].includes(run.exec.exitCode)),
        });
        // pytest exits 5 when it collects nothing; any other failure with nothing collected (a conftest
        // that does not import exits 4 before the session starts, saying so on stderr) is the environment's.
        const failedToStart = collected === 0 && !run.timedOut && run.exec.exitCode !== 0 && run.exec.exitCode !== 5;
        if (collected === 0 && (broken.length > 0 || failedToStart)) {
          const why =
            broken.length > 0
              ? broken
                  .slice(0, 3)
                  .map((b) => `${b.file}: ${b.error}`)
                  .join('; ')
              : `pytest exited ${run.exec.exitCode}: ${errorLine(run.exec.stderr.text || run.exec.stdout.text)}`;
          return `the project's tests do not collect in its environment (${environment.key}): ${why}`;
        }
        if (run.timedOut)
          return `collecting the project's tests took longer than ${deps.testTimeoutSeconds}s in its environment (${environment.key})`;
        return undefined;
      },
    );
    return problem ? stop(problem) : {};
  } catch (err) {
    if ((err as { code?: string }).code === 'FW_ERR_CANCELLED' || deps.signal?.aborted) throw err;
    return stop(`the sandbox could not run the baseline check: ${(err as Error).message}`);
  }
}
