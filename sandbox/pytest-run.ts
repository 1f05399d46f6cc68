import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FixwrightError, assetPath } from '../core/index.js';
import { SCRATCH_DIR } from './container-spec.js';
import { parsePluginReport, parsePytestSummary, type ParsedTestRun } from './pytest-outcomes.js';
import type { CappedOutput } from './output-cap.js';
import type { ExecResult, SandboxSession } from './session.js';

/** What to run: pytest node ids (path::Class::test[param]), files or directories. */
export interface PytestRunOptions {
  targets: readonly string[];
  timeoutSeconds: number;
  /** Extra pytest flags from trusted configuration (an environment table), never from a model. */
  extraArgs?: readonly string[];
  /** The pytest command from trusted configuration (default: python3 -m pytest). */
  command?: readonly string[];
  env?: Record<string, string>;
  signal?: AbortSignal;
}

/** Per-test outcomes of one run, with how the run itself ended. */
export interface PytestRunResult extends ParsedTestRun {
  exec: ExecResult;
  timedOut: boolean;
  /** pytest died without finishing (a segfault, os._exit, a kill) and not by the timeout. */
  crashed: boolean;
  /** Requested node ids that produced no outcome at all. */
  missing: string[];
  /** Where the outcomes came from: the plugin's report, or the -rA summary in the log. */
  source: 'plugin' | 'summary';
  /**
   * False when the outcomes contradict pytest's exit code (all passed but pytest failed, or the
   * reverse) or the report held lines that were ignored: the tests may have tampered with it.
   * Callers must not count such a run as passing.
   */
  consistent: boolean;
}

const PLUGIN_DIR = `${SCRATCH_DIR}/pytest`;
/** Seconds between the in-container soft timeout and the container-killing hard one. */
const HARD_TIMEOUT_MARGIN = 15;

/** The exit status, and the line on stderr, of a run whose plugin could not be written (pytest did not start). */
const PLUGIN_WRITE_FAILED = 125;
const PLUGIN_WRITE_FAILED_MESSAGE = 'fixwright: could not write the pytest plugin';
/** Reports up to this size come back on stderr; larger ones are read from their file (the output cap keeps its last half). */
const INLINE_REPORT_BYTES = 64 * 1024;
/**
 * One exec for the whole run: writes the plugin from stdin (afresh every run, since tests that ran
 * before in this sandbox may have changed or removed it; unlinking first replaces a file they made
 * read-only), runs pytest with an empty stdin, then appends to stderr, after everything pytest wrote
 * there, a line holding the run's marker, the report when it is small, and a line with the marker,
 * `end` and the report's size (-1: no report).
 */
const RUN_SCRIPT = [
  'dir=$1 code=$2 marker=$3 inline=$4; shift 4',
  `{ mkdir -p "$dir" && rm -f "$dir/fixwright_pytest_report.py" && cat > ` +
    `"$dir/fixwright_pytest_report.py"; } || { echo "${PLUGIN_WRITE_FAILED_MESSAGE} to $dir" >&2; exit "$code"; }`,
  '"$@" < /dev/null',
  'status=$?',
  'report=$FIXWRIGHT_PYTEST_REPORT size=-1',
  'if [ -f "$report" ]; then size=$(wc -c 2>/dev/null < "$report") || size=-1; fi',
  'size=$((size))',
  `printf '\\n%s\\n' "$marker" >&2`,
  '[ "$size" -ge 0 ] && [ "$size" -le "$inline" ] && cat -- "$report" >&2 2>/dev/null',
  `printf '\\n%s end %s\\n' "$marker" "$size" >&2`,
  'exit "$status"',
].join('\n');

/**
 * Splits the run's stderr into what pytest wrote and the report the script appended. `whole` is
 * false when the report is to be read from its file: too large to send, cut by the output cap, or
 * the script did not get to its last line. `report` is undefined when there was none.
 */
function takeReport(stderr: CappedOutput, marker: string): { whole: boolean; report?: string; stderr: CappedOutput } {
  // latin1 maps bytes one to one, so indices into it are indices into the raw bytes.
  const bytes = stderr.raw.toString('latin1');
  const begin = bytes.lastIndexOf(`\n${marker}\n`);
  if (begin < 0) return { whole: false, stderr };
  const raw = stderr.raw.subarray(0, begin);
  // The output cap's note landed in the report: the report is read from its file, and pytest's own
  // output, which ends before it, came back whole.
  const cutInReport =
    stderr.truncatedBytes > 0 &&
    bytes.includes(`\n[fixwright: ${stderr.truncatedBytes} bytes of output cut here]\n`, begin);
  const own: CappedOutput = cutInReport
    ? { text: raw.toString('utf8'), raw, totalBytes: begin, truncatedBytes: 0 }
    : {
        text: raw.toString('utf8'),
        raw,
        totalBytes: stderr.totalBytes - (stderr.raw.length - begin),
        truncatedBytes: stderr.truncatedBytes,
      };
  if (cutInReport) return { whole: false, stderr: own };
  const end = new RegExp(`\n${marker} end (-1|\\d+)\n$`).exec(bytes.slice(begin));
  if (!end) return { whole: false, stderr: own };
  const size = Number(end[1]);
  if (size < 0) return { whole: true, stderr: own };
  const body = stderr.raw.subarray(begin + marker.length + 2, begin + end.index);
  // Not sent (too large), or not all of it arrived (the cap cut it, the file grew meanwhile): read the file.
  if (body.length !== size) return { whole: false, stderr: own };
  return { whole: true, report: body.toString('utf8'), stderr: own };
}

let pluginSource: string | undefined;

function covered(target: string, outcomes: Record<string, unknown>): boolean {
  if (target in outcomes) return true;
  return Object.keys(outcomes).some((id) => id.startsWith(`${target}[`) || id.startsWith(`${target}::`));
}

/**
 * Runs pytest in the sandbox as `python3 -m pytest` from the repository root, so the root is
 * importable. A soft timeout inside the container stops pytest first, so the report of every
 * test that finished can still be read; the container-killing timeout stays as the backstop.
 * One exec: the plugin, pytest and the report (read from its file only when it did not come back
 * whole). The report is no more trusted for coming back on stderr: test code can write there as it
 * can write the file, and the checks in parsePluginReport and `consistent` apply the same.
 */
export async function runPytest(session: SandboxSession, options: PytestRunOptions): Promise<PytestRunResult> {
  for (const target of options.targets) {
    if (target.startsWith('-') || target.trim() === '' || target.includes('\0')) {
      throw new FixwrightError(
        'FW_ERR_BAD_INPUT',
        `not a test target: ${JSON.stringify(target)} (expected a node id, file or directory)`,
        { field: 'targets' },
      );
    }
  }
  pluginSource ??= readFileSync(assetPath('sandbox/assets/fixwright_pytest_report.py'), 'utf8');
  const reportFile = `${SCRATCH_DIR}/pytest-report-${randomUUID()}.jsonl`;

  const soft = Math.max(1, Math.ceil(options.timeoutSeconds));
  const pytestArgv = [
    'timeout',
    '--kill-after=5',
    String(soft),
    ...(options.command ?? ['python3', '-m', 'pytest']),
    '-rA',
    '--tb=short',
    '-p',
    'no:cacheprovider',
    '-p',
    'fixwright_pytest_report',
    ...(options.extraArgs ?? []),
    ...options.targets,
  ];
  const marker = `fixwright-report-${randomUUID()}`;
  const ran = await session.execTrusted(
    [
      'sh',
      '-c',
      RUN_SCRIPT,
      'sh',
      PLUGIN_DIR,
      String(PLUGIN_WRITE_FAILED),
      marker,
      String(INLINE_REPORT_BYTES),
      ...pytestArgv,
    ],
    {
      timeoutSeconds: soft + HARD_TIMEOUT_MARGIN,
      stdin: pluginSource,
      // Extend the image's PYTHONPATH (an environment image may set one) rather than replace it.
      env: {
        ...options.env,
        PYTHONPATH: [PLUGIN_DIR, options.env?.PYTHONPATH ?? session.imageEnv.PYTHONPATH].filter(Boolean).join(':'),
        FIXWRIGHT_PYTEST_REPORT: reportFile,
      },
      signal: options.signal,
    },
  );
  // Only the script's own failure, before pytest started, exits 125 with no marker: test code can
  // print the message and exit 125, but the script then prints its marker lines after it.
  if (
    ran.exitCode === PLUGIN_WRITE_FAILED &&
    ran.stderr.text.includes(PLUGIN_WRITE_FAILED_MESSAGE) &&
    !ran.stderr.raw.includes(marker)
  ) {
    throw new FixwrightError(
      'FW_ERR_SANDBOX',
      `writing files into the sandbox failed: ${ran.stderr.text.trim().slice(0, 500)}`,
    );
  }
  const taken = takeReport(ran.stderr, marker);
  const exec: ExecResult = { ...ran, stderr: taken.stderr };
  const timedOut = exec.timedOut || exec.exitCode === 124 || (exec.exitCode === 137 && exec.durationMs >= soft * 1000);

  // A report the output cap cut, or that never came (the script was killed), is read from its file.
  const report = exec.timedOut
    ? undefined
    : taken.whole
      ? taken.report
      : await session.readFile(reportFile, 64 * 1024 * 1024);
  const fromPlugin = report ? parsePluginReport(report) : undefined;
  const usePlugin =
    fromPlugin !== undefined &&
    (Object.keys(fromPlugin.outcomes).length > 0 ||
      fromPlugin.exitStatus !== undefined ||
      fromPlugin.collectionErrors.length > 0);
  const parsed = usePlugin ? fromPlugin! : parsePytestSummary(exec.stdout.text);

  const finished = parsed.exitStatus !== undefined || (!usePlugin && /^=+ .* in [\d.]+s/m.test(exec.stdout.text));
  const crashed = !timedOut && !finished;
  if (
    parsed.interruptedIn &&
    !(parsed.interruptedIn in parsed.outcomes && parsed.outcomes[parsed.interruptedIn]!.status !== 'PASSED')
  ) {
    parsed.outcomes[parsed.interruptedIn] = {
      status: 'ERROR',
      message: timedOut ? `timed out after ${soft}s` : 'the test process crashed',
    };
  }
  const missing = options.targets.filter((t) => t.includes('::') && !covered(t, parsed.outcomes));
  const statuses = Object.values(parsed.outcomes).map((o) => o.status);
  const anyFailed = statuses.some((s) => s === 'FAILED' || s === 'ERROR') || parsed.collectionErrors.length > 0;
  const consistent =
    parsed.ignoredLines === 0 &&
    (timedOut || crashed || (exec.exitCode === 0 ? !anyFailed : exec.exitCode === 1 ? anyFailed : true)) &&
    (parsed.exitStatus === undefined || timedOut || parsed.exitStatus === exec.exitCode);
  return { ...parsed, exec, timedOut, crashed, missing, source: usePlugin ? 'plugin' : 'summary', consistent };
}
