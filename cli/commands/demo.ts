import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { type AgentEvent, DEMO_ISSUE, type DemoOutcome, EventLog, runDemo } from '../../agent/index.js';
import { loadSettings, FixwrightError } from '../../core/index.js';
import { createSandboxRuntime } from '../../sandbox/index.js';
import { makeOutputDir } from '../output-dir.js';
import { EXIT_RUN_ERROR } from './solve.js';

type Data = Record<string, unknown>;

const indent = (text: string, by = '      ') =>
  text
    .split('\n')
    .map((line) => `${by}${line}`)
    .join('\n');

/** The reproduction test's outcomes as "FAILED" / "PASSED", or "did not run". */
function verdictOf(run: unknown): string {
  const outcomes = (run as { outcomes?: Record<string, { status?: string }> } | undefined)?.outcomes;
  if (!outcomes || Object.keys(outcomes).length === 0) return 'did not run';
  return [...new Set(Object.values(outcomes).map((o) => o.status ?? '?'))].join('/');
}

/**
 * One plain sentence per step that matters, for a newcomer reading along (the trajectory keeps
 * every event). Returns undefined for events the story skips.
 */
export function narrate(event: AgentEvent): string | undefined {
  const d = event.data as Data;
  switch (event.type) {
    case 'localised_files': {
      const files = (d.files as Array<{ path: string; score: number }> | undefined) ?? [];
      return `Localised the issue: ${files
        .slice(0, 3)
        .map((f) => `${f.path} (${f.score.toFixed(2)})`)
        .join(', ')}`;
    }
    case 'log':
      if (d.step === 'environment' && d.source)
        return `Environment: ${String(d.source)} - tests run in ${String(d.image ?? 'the sandbox image')}`;
      if (d.step === 'baseline' && d.ok)
        return 'Baseline: the project imports and its nearest tests collect, before any fix';
      if (d.step === 'reproduce' && Array.isArray(d.tests))
        return `The model wrote a reproduction test: ${(d.tests as string[]).join(', ')}`;
      return undefined;
    case 'patch':
      return `Attempt ${String(d.attempt)}: the model's patch\n${indent(String(d.diff ?? '').trimEnd())}`;
    case 'test_result': {
      const regressions = (d.regressions as string[] | undefined) ?? [];
      const existing = (d.existing as string[] | undefined) ?? [];
      const lines = [`  reproduction test: ${verdictOf(d.before)} before the patch, ${verdictOf(d.after)} after it`];
      if (existing.length > 0) {
        lines.push(
          regressions.length > 0
            ? `  existing tests (${existing.join(', ')}): the patch broke ${regressions.join(', ')}`
            : `  existing tests (${existing.join(', ')}): none broken`,
        );
      }
      return lines.join('\n');
    }
    case 'reflection':
      return `  x attempt ${String(d.attempt)} rejected (${String(d.category)}): ${String(d.message)}\n  Reflecting: the next attempt is told what went wrong`;
    default:
      return undefined;
  }
}

/** An --out folder for this run alone: a given one must be new or empty, so one folder holds one run. */
function outFolder(given: string | undefined): string {
  if (given === undefined) return mkdtempSync(join(tmpdir(), 'fixwright-demo-'));
  // makeOutputDir, not mkdirSync(recursive): it gives one line for a file in the path and never spins on /proc.
  const out = makeOutputDir(given, '--out');
  if (readdirSync(out).length > 0) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `--out ${out} is not empty: give a new folder (each demo run gets its own)`,
      { field: '--out' },
    );
  }
  return out;
}

/** `fixwright demo`: the whole loop on a bundled repository with a bundled scripted model, offline, no key. */
export function registerDemoCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('demo')
    .description(
      'see fixwright work in a minute, offline and with no API key: a bundled buggy repository, a bundled scripted model, the real sandbox',
    )
    .option(
      '--out <dir>',
      'where the demo repository, patch.diff and trajectory.jsonl go (default: a new temporary folder)',
    )
    .action(async (flags: { out?: string }) => {
      const settings = loadSettings(process.env);
      const out = outFolder(flags.out);
      const runtime = await createSandboxRuntime(settings);
      const events = new EventLog(randomUUID(), join(out, 'trajectory.jsonl'), []);
      events.subscribe((event) => {
        const line = narrate(event);
        if (line !== undefined) process.stdout.write(`${line}\n`);
      });
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      process.stdout.write(
        [
          'fixwright demo: a bundled repository, a scripted model on 127.0.0.1 (no key, no network), and the real sandbox.',
          `The issue:\n${indent(DEMO_ISSUE, '  > ')}`,
          '',
        ].join('\n'),
      );
      let outcome: DemoOutcome;
      try {
        outcome = await runDemo({ workDir: out, settings, events, runtime, signal: controller.signal });
      } catch (err) {
        if (!controller.signal.aborted) throw err;
        // Ctrl-C: the log still ends with a typed status, and the user gets one line.
        events.emit('done', { status: 'failed', stopped_by: 'cancelled', message: 'cancelled by the user' });
        throw new FixwrightError('FW_ERR_CANCELLED', `cancelled; the demo so far is in ${out}`);
      }
      writeFileSync(join(out, 'patch.diff'), outcome.finalPatch);
      const attempts = outcome.attempts.length;
      if (outcome.status === 'error') {
        // Most likely on a first run: no sandbox image yet, or Docker trouble the baseline met.
        const why = outcome.stopMessage ?? 'the demo could not run';
        process.stdout.write(`\nerror: ${why}\n`);
        process.stderr.write(
          `fixwright: the demo could not run: ${why}; set up the sandbox with scripts/setup.sh (or fixwright sandbox build) and try again\n`,
        );
        setExitCode(EXIT_RUN_ERROR);
        return;
      }
      const tried = `after ${attempts} attempt(s)`;
      const verdict = outcome.status === 'resolved' ? `proven in the sandbox ${tried}` : (outcome.stopMessage ?? tried);
      process.stdout.write(
        [
          '',
          `${outcome.status}: ${verdict}`,
          `  repository:  ${outcome.repoDir}`,
          `  patch:       ${join(out, 'patch.diff')}`,
          `  trajectory:  ${join(out, 'trajectory.jsonl')} (every step, as the UI and the exporter read it)`,
          'Next: point `fixwright solve` at your own repository and model (see the README), or run ' +
            '`fixwright serve --demo` and press "Run the demo" in the UI.',
          '',
        ].join('\n'),
      );
      setExitCode(outcome.status === 'resolved' ? 0 : 1);
    });
}
