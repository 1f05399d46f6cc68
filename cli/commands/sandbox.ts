import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { loadSettings, type Settings, FixwrightError, formatBytes } from '../../core/index.js';
import { createLogger } from '../../core/logger.js';
import {
  applyPatch,
  baseImageTag,
  buildBaseImage,
  type BaseSuite,
  checkRepoSource,
  createCommandPolicy,
  createSandboxRuntime,
  ensureEnvironmentImage,
  runPytest,
  type BaseImageMethod,
  type SandboxRuntime,
} from '../../sandbox/index.js';
import { startProgress } from '../progress.js';

/** The sandbox limits a running subcommand may set (strings until the settings check them). */
interface LimitFlags {
  image?: string;
  timeout?: string;
  memory?: string;
  cpus?: string;
  pids?: string;
  allow?: string;
}

/** The flags every sandbox-running subcommand shares. */
function addLimitFlags(command: Command): Command {
  return command
    .option('--image <image>', 'sandbox image (default: FIXWRIGHT_SANDBOX_IMAGE or fixwright-sandbox:base)')
    .option('--timeout <seconds>', 'wall-clock limit; the container is killed past it (exit 124)')
    .option('--memory <size>', 'memory limit such as 512m or 2g; exceeding it exits 137')
    .option('--cpus <n>', 'CPU limit, for example 1 or 0.5')
    .option('--pids <n>', 'process limit (stops fork bombs)')
    .option('--allow <programs>', 'comma-separated programs the command may start (default python,python3,pytest,git)');
}

function settingsFrom(flags: LimitFlags): Settings {
  return loadSettings(process.env, {
    sandbox: {
      image: flags.image,
      timeoutSeconds: flags.timeout,
      memoryBytes: flags.memory,
      cpus: flags.cpus,
      pids: flags.pids,
      allow: flags.allow,
    },
  });
}

async function openRuntime(settings: Settings): Promise<SandboxRuntime> {
  // One command, one sandbox: nothing to start ahead of need.
  return createSandboxRuntime(settings, {
    logger: createLogger(settings.logLevel === 'info' ? 'warn' : settings.logLevel),
    warm: 0,
  });
}

function hasProgram(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

type BuildFlags = { method: BaseImageMethod | 'auto'; force?: boolean; tag?: string; suite: BaseSuite };
type TestFlags = LimitFlags & { repo: string; patch?: string; json?: boolean };
type PytestRun = Awaited<ReturnType<typeof runPytest>>;

/** `sandbox build`: builds (or finds cached) the base image, a spinner showing the build's lines. */
async function buildImage(opts: BuildFlags): Promise<void> {
  const flags = { ...opts, tag: opts.tag ?? baseImageTag(opts.suite) };
  const settings = loadSettings(process.env);
  const runtime = await openRuntime(settings);
  const spinner = startProgress(`building ${flags.tag}`);
  try {
    const result = await buildBaseImage(runtime.docker, {
      tag: flags.tag,
      suite: flags.suite,
      method: flags.method,
      force: flags.force,
      hasDebootstrap: hasProgram('debootstrap'),
      onLine: (line) => spinner.update(`building ${flags.tag}: ${line.slice(0, 100)}`),
    });
    spinner.succeed(
      result.method === 'cached'
        ? `${result.tag} is up to date (recipe ${result.recipe})`
        : `built ${result.tag} ` +
            `with ${result.method} (recipe ${result.recipe})${result.fallbacks.length ? `; first tried: ${result.fallbacks.join('; ')}` : ''}`,
    );
  } catch (err) {
    spinner.fail(`could not build ${flags.tag}`);
    throw err;
  }
}

/** `sandbox env`: builds (once) the environment image a JSON spec describes and prints its tag. */
async function prepareEnvironment(flags: { spec: string }): Promise<void> {
  let spec: unknown;
  try {
    spec = JSON.parse(readFileSync(flags.spec, 'utf8'));
  } catch (err) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `cannot read the environment spec ${flags.spec}: ${(err as Error).message}`,
      { field: '--spec' },
    );
  }
  const runtime = await openRuntime(loadSettings(process.env));
  const spinner = startProgress('preparing environment image');
  const result = await ensureEnvironmentImage(runtime.docker, spec, (line) => spinner.update(line.slice(0, 100))).catch(
    (err) => {
      spinner.fail('environment image failed');
      throw err;
    },
  );
  spinner.succeed(result.built ? `built ${result.tag}` : `${result.tag} already built`);
  process.stdout.write(`${result.tag}\n`);
}

/** `sandbox exec`: one command in a fresh sandbox, its output passed through; its exit code becomes ours (137 when out of memory). */
async function execInSandbox(
  argv: string[],
  flags: LimitFlags & { repo: string },
  setExitCode: (code: number) => void,
) {
  const settings = settingsFrom(flags);
  // Check what needs no Docker first, so the error names the real problem.
  createCommandPolicy(settings.sandbox.allow).check(argv);
  checkRepoSource({ kind: 'dir', path: flags.repo });
  const runtime = await openRuntime(settings);
  const result = await runtime.runCommand({ repo: { kind: 'dir', path: flags.repo }, argv });
  process.stdout.write(result.stdout.raw);
  process.stderr.write(result.stderr.raw);
  if (result.timedOut)
    process.stderr.write(`fixwright: timed out after ${settings.sandbox.timeoutSeconds}s; the sandbox was killed\n`);
  if (result.oomKilled)
    process.stderr.write(
      `fixwright: killed for exceeding the memory limit of ${formatBytes(settings.sandbox.memoryBytes)}\n`,
    );
  for (const [name, out] of [
    ['stdout', result.stdout],
    ['stderr', result.stderr],
  ] as const) {
    if (out.truncatedBytes > 0)
      process.stderr.write(
        `fixwright: ${name} was ${out.totalBytes} bytes; ${out.truncatedBytes} were cut from the middle\n`,
      );
  }
  setExitCode(result.oomKilled ? 137 : result.exitCode);
}

/** `--patch FILE`'s text, read before any sandbox starts. */
function readPatchFlag(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read the patch ${path}: ${(err as Error).message}`, {
      field: '--patch',
    });
  }
}

/** One line per test outcome, then whatever kept the run from counting (timeout, crash, contradiction, pytest's own error). */
function printPytestRun(run: PytestRun): void {
  for (const [id, outcome] of Object.entries(run.outcomes)) process.stdout.write(`${outcome.status.padEnd(7)} ${id}\n`);
  for (const error of run.collectionErrors) process.stdout.write(`ERROR   ${error.nodeid} (collection)\n`);
  for (const id of run.missing) process.stdout.write(`MISSING ${id}\n`);
  if (run.timedOut) process.stdout.write('the run timed out\n');
  if (run.crashed) process.stdout.write('pytest crashed before finishing\n');
  if (!run.consistent)
    process.stdout.write("the outcomes contradict pytest's exit status (tampered with?): not counted as passing\n");
  if (run.exec.exitCode >= 2 && !run.timedOut && !run.crashed)
    process.stdout.write(
      `pytest exited ${run.exec.exitCode}: ${(run.exec.stdout.text + run.exec.stderr.text).trim().split('\n').slice(-3).join(' | ')}\n`,
    );
}

/** Every test passed (or was skipped or expected to fail), none is missing, and pytest's own status agrees. */
function pytestPassed(run: PytestRun): boolean {
  const allPassed = Object.values(run.outcomes).every((o) => ['PASSED', 'XFAIL', 'SKIPPED'].includes(o.status));
  // pytest's own status must agree: 4 (usage), 5 (no tests) and the like are not a pass.
  return (
    run.exec.exitCode === 0 &&
    run.consistent &&
    allPassed &&
    run.missing.length === 0 &&
    run.collectionErrors.length === 0
  );
}

/** `sandbox test`: pytest targets in a sandbox, after the patch if one is given; exits 0 only when they all pass. */
async function testInSandbox(targets: string[], flags: TestFlags, setExitCode: (code: number) => void): Promise<void> {
  const settings = settingsFrom(flags);
  const patch = readPatchFlag(flags.patch);
  checkRepoSource({ kind: 'dir', path: flags.repo });
  const runtime = await openRuntime(settings);
  await runtime.withSandbox({ repo: { kind: 'dir', path: flags.repo } }, async (session) => {
    if (patch !== undefined) {
      const applied = await applyPatch(session, patch, { repoDir: flags.repo });
      if (!applied.ok)
        throw new FixwrightError(
          applied.reason === 'rejected' ? 'FW_ERR_PATCH_REJECTED' : 'FW_ERR_PATCH_DOES_NOT_APPLY',
          applied.message,
        );
    }
    const run = await runPytest(session, { targets, timeoutSeconds: settings.sandbox.timeoutSeconds });
    const summary = {
      timedOut: run.timedOut,
      crashed: run.crashed,
      exitCode: run.exec.exitCode,
      consistent: run.consistent,
      outcomes: run.outcomes,
      collectionErrors: run.collectionErrors,
      missing: run.missing,
    };
    if (flags.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else printPytestRun(run);
    setExitCode(pytestPassed(run) ? 0 : 1);
  });
}

/** `fixwright sandbox …`: build the image, run a command, apply a patch and run tests. */
export function registerSandboxCommands(program: Command, setExitCode: (code: number) => void): void {
  const sandbox = program.command('sandbox').description('run untrusted code in locked-down Docker containers');

  sandbox
    .command('build')
    .description('build the sandbox base image (cached; rebuilt only when its recipe changes)')
    .addOption(
      new Option('--method <method>', 'how to build it').choices(['auto', 'debootstrap', 'dockerfile']).default('auto'),
    )
    .option('--force', 'rebuild even when an image from the same recipe exists')
    .addOption(
      new Option(
        '--suite <suite>',
        'Debian release: bookworm (Python 3.11) or bullseye (Python 3.9, for old repository versions in fixwright eval)',
      )
        .choices(['bookworm', 'bullseye'])
        .default('bookworm'),
    )
    .option('--tag <tag>', 'image tag to build (default: fixwright-sandbox:base, or fixwright-sandbox:<suite>)')
    .action(buildImage);

  sandbox
    .command('env')
    .description(
      'build (once) the environment image for a JSON spec {base?, apt?, pip?, setup?, env?} and print its tag',
    )
    .requiredOption('--spec <file>', 'environment spec as JSON')
    .action(prepareEnvironment);

  addLimitFlags(
    sandbox
      .command('exec')
      .description(
        'run one command in a fresh sandbox over a copy of a repository; exits with its code (124 timeout, 137 out of memory)',
      )
      .requiredOption('--repo <dir>', 'repository directory to copy into the sandbox')
      .argument('<command...>', 'program and arguments, after --'),
  ).action((argv: string[], flags: LimitFlags & { repo: string }) => execInSandbox(argv, flags, setExitCode));

  addLimitFlags(
    sandbox
      .command('test')
      .description('run pytest targets in a sandbox (optionally after applying a patch) and print per-test outcomes')
      .requiredOption('--repo <dir>', 'repository directory to copy into the sandbox')
      .option('--patch <file>', 'unified diff to apply first')
      .option('--json', 'print the outcomes as JSON')
      .argument('[targets...]', 'node ids, files or directories (default: the whole suite)'),
  ).action((targets: string[], flags: TestFlags) => testInSandbox(targets, flags, setExitCode));
}
