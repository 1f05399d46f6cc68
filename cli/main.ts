#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { loadSettings, FixwrightError, runExitHooks, makeDir, assetPath } from '../core/index.js';
import { EXIT_USAGE, reportError } from './errors.js';
import { shutdownHandler } from './shutdown.js';

type Register = (program: Command, setExit: (code: number) => void, version: string) => void;

/**
 * Each command's module, loaded only when it runs: together they load the agent's model clients,
 * the API server, the queue and Docker's client, seconds before `fixwright localise` (which needs
 * none of them) could start. In the order `fixwright --help` lists them; `names` are the top-level
 * commands a module registers.
 */
const COMMANDS: ReadonlyArray<{ names: readonly string[]; load: () => Promise<Register> }> = [
  { names: ['sandbox'], load: async () => (await import('./commands/sandbox.js')).registerSandboxCommands },
  { names: ['localise'], load: async () => (await import('./commands/localise.js')).registerLocaliseCommand },
  { names: ['solve'], load: async () => (await import('./commands/solve.js')).registerSolveCommand },
  { names: ['demo'], load: async () => (await import('./commands/demo.js')).registerDemoCommand },
  {
    names: ['serve', 'worker'],
    load: async () => {
      const { registerServeCommands } = await import('./commands/serve.js');
      return (program, _setExit, version) => registerServeCommands(program, version);
    },
  },
  { names: ['eval'], load: async () => (await import('./commands/eval.js')).registerEvalCommand },
  {
    names: ['solve-dataset', 'bench'],
    load: async () => (await import('./commands/solve-dataset.js')).registerSolveDatasetCommand,
  },
  { names: ['edit'], load: async () => (await import('./commands/edit.js')).registerEditCommand },
  {
    names: ['edit-bench', 'bench-edits'],
    load: async () => (await import('./commands/edit-bench.js')).registerEditBenchCommand,
  },
  { names: ['export'], load: async () => (await import('./commands/export.js')).registerExportCommand },
];

/** The modules to load for these arguments: the named command's alone, none for the version, or all of them (help, a mistyped command, none). */
function commandsFor(argv: readonly string[]): typeof COMMANDS {
  const name = argv[2];
  if (name === '--version' || name === '-V') return [];
  const named = COMMANDS.find((c) => name !== undefined && c.names.includes(name));
  return named ? [named] : COMMANDS;
}

/** Sandboxes (warm ones, and removals still under way) exist only where a command loaded the sandbox module, which registered their clean-up. */
const closeSandboxes = runExitHooks;

/** The `fixwright` command line: one program, one subcommand per job. */
export async function main(argv: string[]): Promise<number> {
  const { version } = JSON.parse(readFileSync(assetPath('package.json'), 'utf8')) as { version: string };
  let exitCode = 0;
  const program = new Command()
    .name('fixwright')
    .description('an autonomous software-engineering agent: localise, patch, prove the patch in a locked-down sandbox')
    .version(version)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`fixwright: ${text.replace(/^error: /, '')}`) });
  for (const register of await Promise.all(commandsFor(argv).map((c) => c.load())))
    register(program, (code) => (exitCode = code), version);
  // Every command may write under the data directory: one that cannot be made is one line naming
  // FIXWRIGHT_DATA_DIR (Node's recursive mkdir would spin forever under /proc).
  program.hook('preAction', () => {
    let dataDir: string;
    try {
      dataDir = loadSettings(process.env).dataDir;
    } catch {
      return; // the command reports invalid settings itself
    }
    makeDir(
      dataDir,
      (why) =>
        new FixwrightError(
          'FW_ERR_CONFIG',
          `FIXWRIGHT_DATA_DIR ${dataDir}: cannot create the folder (${why}); set FIXWRIGHT_DATA_DIR to a folder fixwright may write`,
        ),
    );
  });
  for (const command of program.commands) command.exitOverride();
  for (const command of program.commands.flatMap((c) => c.commands)) command.exitOverride();

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    return reportError(err);
  }
}

/** Set when a signal ends the run: its exit code wins over whatever the interrupted work reports. */
let signalExitCode: number | undefined;

/** The command being run, so a signal can let it record how it ended. */
let running: Promise<number> = Promise.resolve(0);

/**
 * On SIGINT/SIGTERM: remove live sandboxes (their lease covers SIGKILL), give the interrupted
 * command up to 3 s to record how it ended (solve writes its result), then exit.
 */
function installSignalCleanup(): void {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      signalExitCode = code;
      const shutdown = shutdownHandler();
      if (shutdown) {
        void shutdown()
          .catch((err: unknown) => process.stderr.write(`fixwright: shutdown: ${(err as Error).message}\n`))
          .finally(() => void closeSandboxes().finally(() => process.exit(code)));
        return;
      }
      const settled = Promise.race([running.catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
      // Clean-up runs again once the command has had its moment: anything it started meanwhile
      // (a sandbox runtime made while it was still starting up) is removed too.
      void Promise.allSettled([closeSandboxes(), settled])
        .then(() => closeSandboxes())
        .finally(() => process.exit(code));
    });
  }
}

/**
 * Exits once stdout and stderr have flushed, so piped output is never cut short. The exit waits for
 * the event loop to poll once more (an immediate scheduled from an immediate runs after the next
 * poll, which is where a signal is read): a signal that arrived during synchronous work, such as a
 * cold index, is handled first and its exit code wins, instead of the finished run exiting 0 over it.
 */
function exitAfterFlush(code: number): void {
  if (signalExitCode !== undefined) return; // the signal handler exits once clean-up is done
  const exit = () => {
    if (signalExitCode === undefined) process.exit(code);
  };
  process.stdout.write('', () => process.stderr.write('', () => setImmediate(() => setImmediate(exit))));
}

// A reader that stops early (`fixwright localise … | head`) closes the pipe: the output is no longer
// wanted, which is not an error of the run (it used to end in an unhandled 'error' event and exit 1).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}
installSignalCleanup();
running = main(process.argv);
// Warm sandboxes and removals still under way end before the process does.
running.then(
  (code) => closeSandboxes().finally(() => exitAfterFlush(code)),
  (err: unknown) => {
    const code = signalExitCode === undefined ? reportError(err) : 0;
    void closeSandboxes().finally(() => exitAfterFlush(code));
  },
);
