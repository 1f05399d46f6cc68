/**
 * `npm run perf:agent -- --build DIR [--build DIR ...]`: fixwright's own time per attempt of the
 * agent loop, for any builds, side by side. Each run is a whole `node DIR/cli/main.js solve` process
 * on a fresh copy of a tiny repository whose add() subtracts, against a scripted model on loopback
 * that answers every request with a reproduction test and the fix (one attempt, `resolved`). From
 * outside the process, so builds with no timing of their own are measured the same way: the model
 * server times its requests, Docker's event stream times the sandbox's test execs, and the run's
 * trajectory says when each node ran. Own time = a window's wall time less the model and test time
 * inside it. Runs alternate between builds (A B, then B A, …) so drift hits them alike.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadSettings } from '../core/index.js';
import { createDockerClient, ensureDockerReachable } from '../sandbox/index.js';
import { type AgentBenchOptions, parseAgentBenchArgs, USAGE } from './agent-loop-args.js';
import { FIXTURE_ISSUE, FIXTURE_REPLY, writeFixtureRepo } from './agent-loop-fixture.js';
import { attributeRun, execsOf, type Interval, parseNodeSpans, spread, testIntervals } from './agent-loop-timing.js';
import { type ContainerEventLog, OWNER_PID_LABEL, watchContainerEvents } from './container-event-log.js';
import { nowMs, startTimedModelServer, type TimedModelServer } from './timed-model-server.js';

/** A run longer than this is killed and counts as failed. */
const RUN_LIMIT_MS = 300_000;
/** How long to wait after a run's exit for Docker's last events about it. */
const SETTLE_MS = 5_000;

/**
 * Loaded into every measured process with --import: writes the process's own CPU time when it
 * exits, so the bench reads it for any build without the build's help.
 */
const CPU_PRELOAD = `import { writeFileSync } from 'node:fs';
process.on('exit', () => { try { writeFileSync(process.env.FW_BENCH_CPU_FILE, JSON.stringify(process.cpuUsage())); } catch {} });
`;

/** The figures of one run. */
interface RunRecord {
  build: string;
  round: number;
  warmup: boolean;
  status: string;
  attempts: number;
  ownPerAttemptMs: number;
  oneOffOwnMs: number;
  outsideNodesOwnMs: number;
  startupOwnMs: number;
  exitOwnMs: number;
  wallMs: number;
  cpuMs: number | null;
  modelMs: number;
  modelRequests: number;
  testMs: number;
  testExecs: number;
  execs: number;
  containers: number;
  /** Docker execs started inside the attempts' windows, over the attempts. */
  execsPerAttempt: number;
  /** The build's own account of its own time per attempt (result.json's or the done event's timing), where it keeps one. */
  reportedOwnPerAttemptMs: number | null;
  /** Containers created inside the attempts' windows, over the attempts. */
  containersPerAttempt: number;
}

/** `timing.attempts.own_ms_per_attempt` of a trajectory's done event: builds that keep their own account put it there. */
function reportedInDone(trajectory: string): unknown {
  const done = trajectory
    .split('\n')
    .reverse()
    .find((l) => l.includes('"type":"done"'));
  if (!done) return undefined;
  try {
    return (JSON.parse(done) as { data?: { timing?: { attempts?: { own_ms_per_attempt?: unknown } } } }).data?.timing
      ?.attempts?.own_ms_per_attempt;
  } catch {
    return undefined;
  }
}

/** A failed run: what to tell the user. */
class RunFailed extends Error {}

/** The name a build is shown by: relative to the working directory when inside it. */
function buildName(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? dir : rel;
}

function tail(path: string, lines = 15): string {
  if (!existsSync(path)) return '(no log)';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

interface Harness {
  work: string;
  cpuPreload: string;
  server: TimedModelServer;
  events: ContainerEventLog;
  keep: boolean;
  builds: readonly string[];
  running?: number;
}

/** Runs one `solve` of build `build` and measures it. */
async function runOnce(h: Harness, build: string, round: number, warmup: boolean): Promise<RunRecord> {
  // The build's letter keeps two builds whose paths read alike apart.
  const letter = String.fromCharCode(65 + h.builds.indexOf(build));
  const dir = join(
    h.work,
    `${warmup ? 'warmup' : 'run'}-${round + 1}-${letter}-${buildName(build).replace(/[^A-Za-z0-9._-]+/g, '_')}`,
  );
  const repo = join(dir, 'repo');
  const out = join(dir, 'out');
  const logPath = join(dir, 'solve.log');
  const cpuPath = join(dir, 'cpu.json');
  mkdirSync(dir, { recursive: true });
  writeFixtureRepo(repo);
  const argv = [
    '--import',
    pathToFileURL(h.cpuPreload).href,
    join(build, 'cli', 'main.js'),
    'solve',
    '--repo',
    repo,
    '--issue',
    FIXTURE_ISSUE,
    '--model',
    'scripted',
    '--base-url',
    h.server.url,
    '--out',
    out,
  ];
  const log = openSync(logPath, 'w');
  const start = nowMs();
  const child = spawn(process.execPath, argv, {
    cwd: dir,
    env: {
      ...process.env,
      OPENAI_API_KEY: 'bench-agent-key',
      OPENAI_BASE_URL: h.server.url,
      FW_BENCH_CPU_FILE: cpuPath,
    },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const pid = child.pid;
  if (pid === undefined) throw new RunFailed(`could not start ${process.execPath} ${argv.join(' ')}`);
  h.running = pid;
  const killer = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS);
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const end = nowMs();
  clearTimeout(killer);
  h.running = undefined;
  const settled = await h.events.settled(pid, SETTLE_MS);

  const where = `${buildName(build)} (${warmup ? 'warm-up' : 'run'} ${round + 1}; log ${logPath}${h.keep ? '' : ', removed at the end unless --keep'})`;
  const resultPath = join(out, 'result.json');
  const result = existsSync(resultPath)
    ? (JSON.parse(readFileSync(resultPath, 'utf8')) as {
        status?: unknown;
        timing?: { attempts?: { own_ms_per_attempt?: unknown } };
      })
    : undefined;
  const status = result ? String(result.status) : 'none';
  const patch = existsSync(join(out, 'patch.diff')) ? readFileSync(join(out, 'patch.diff'), 'utf8') : '';
  if (exitCode !== 0 || status !== 'resolved' || !/^\+\s*return a \+ b/m.test(patch)) {
    throw new RunFailed(
      `solve did not resolve the fixture: exit ${exitCode}, status ${status} — ${where}\n${tail(logPath)}`,
    );
  }
  if (!settled)
    process.stderr.write(
      `perf:agent: warning: Docker had not reported every exec and container of ${where} as ended after ${SETTLE_MS} ms\n`,
    );

  // The server is shared by the runs, which never overlap: this run's requests arrived while it lived.
  const window: Interval = { start, end };
  const model = h.server.requests
    .filter((r) => r.start >= start && r.start <= end)
    .map((r) => ({ start: r.start, end: Number.isNaN(r.end) ? end : r.end }));
  const containerEvents = h.events.eventsOf(pid).filter((e) => {
    const ms = Number(e.timeNano / 1_000_000n);
    return ms >= start - 1_000 && ms <= end + SETTLE_MS;
  });
  const execs = execsOf(containerEvents);
  const tests = testIntervals(execs);
  const trajectory = readFileSync(join(out, 'trajectory.jsonl'), 'utf8');
  const reported = result?.timing?.attempts?.own_ms_per_attempt ?? reportedInDone(trajectory);
  const spans = parseNodeSpans(trajectory);
  if (tests.length === 0 && spans.some((s) => s.node === 'test')) {
    process.stderr.write(
      `perf:agent: warning: no test exec of ${where} carried the ${OWNER_PID_LABEL} label; its test time counts as own time\n`,
    );
  }
  const breakdown = attributeRun(spans, model, tests, window);
  const inAttempt = (ms: number | undefined) =>
    ms !== undefined && breakdown.attemptWindows.some((w) => ms >= w.start && ms <= w.end);
  const perAttempt = (n: number) => n / breakdown.attempts.length;
  const cpu = existsSync(cpuPath)
    ? (JSON.parse(readFileSync(cpuPath, 'utf8')) as { user: number; system: number })
    : undefined;
  return {
    build,
    round,
    warmup,
    status,
    attempts: breakdown.attempts.length,
    ownPerAttemptMs: breakdown.ownPerAttemptMs,
    oneOffOwnMs: breakdown.oneOff.ownMs,
    outsideNodesOwnMs: breakdown.outsideNodesOwnMs,
    startupOwnMs: breakdown.startupOwnMs,
    exitOwnMs: breakdown.exitOwnMs,
    wallMs: breakdown.process.wallMs,
    cpuMs: cpu ? (cpu.user + cpu.system) / 1000 : null,
    modelMs: breakdown.process.modelMs,
    modelRequests: model.length,
    testMs: breakdown.process.testMs,
    testExecs: tests.length,
    execs: execs.length,
    containers: new Set(containerEvents.filter((e) => e.action === 'create').map((e) => e.containerId)).size,
    reportedOwnPerAttemptMs: typeof reported === 'number' ? reported : null,
    execsPerAttempt: perAttempt(execs.filter((x) => inAttempt(x.start)).length),
    containersPerAttempt: perAttempt(
      containerEvents.filter((e) => e.action === 'create' && inAttempt(Number(e.timeNano / 1000n) / 1000)).length,
    ),
  };
}

const fmt = (x: number) => x.toFixed(0);

/** The per-build table: median (min–max) of each figure over the measured runs, one column per build. */
function report(options: AgentBenchOptions, records: readonly RunRecord[]): string {
  const measured = (build: string) => records.filter((r) => r.build === build && !r.warmup);
  type Pick = (r: RunRecord) => number | null;
  /** A row: its label, the figure, and (in brackets) the figure per attempt where one is kept. */
  const rows: Array<[string, Pick, Pick?]> = [
    ['own time per attempt (ms)', (r) => r.ownPerAttemptMs],
    ["the build's own account of it (ms)", (r) => r.reportedOwnPerAttemptMs],
    ['one-off own: localise…reproduce, finish (ms)', (r) => r.oneOffOwnMs],
    ['own outside nodes: start-up, checks, exit (ms)', (r) => r.outsideNodesOwnMs],
    ['  of which before the first node (ms)', (r) => r.startupOwnMs],
    ['  of which after the last node (ms)', (r) => r.exitOwnMs],
    ['process wall (ms)', (r) => r.wallMs],
    ['fixwright CPU, main process (ms)', (r) => r.cpuMs],
    ['model, server side (ms)', (r) => r.modelMs],
    ["repository's tests, sandbox execs (ms)", (r) => r.testMs],
    ['attempts', (r) => r.attempts],
    ['model requests', (r) => r.modelRequests],
    ['test execs', (r) => r.testExecs],
    ['containers (per attempt)', (r) => r.containers, (r) => r.containersPerAttempt],
    ['execs (per attempt)', (r) => r.execs, (r) => r.execsPerAttempt],
  ];
  const median = (build: string, pick: Pick) => {
    const values = measured(build)
      .map(pick)
      .filter((v): v is number => v !== null);
    return values.length === 0 ? undefined : spread(values);
  };
  const cell = (build: string, pick: Pick, perAttempt?: Pick) => {
    const s = median(build, pick);
    if (s === undefined) return 'n/a';
    const base = s.min === s.max ? fmt(s.median) : `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
    const inner = perAttempt && median(build, perAttempt);
    return inner ? `${base} (${inner.median.toFixed(1).replace(/\.0$/, '')})` : base;
  };
  const names = options.builds.map((b, i) => `${String.fromCharCode(65 + i)}: ${buildName(b)}`);
  const table = [
    ['', ...names],
    ...rows.map(([label, pick, perAttempt]) => [label, ...options.builds.map((b) => cell(b, pick, perAttempt))]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  const lines = table.map((row) =>
    row.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('   '),
  );
  lines.splice(1, 0, '');
  lines.push(
    '',
    `median (min–max) over ${options.runs} run(s) per build; own = wall less the model's and the tests' time inside it`,
  );
  const ownPerAttempt = (b: string) => spread(measured(b).map((r) => r.ownPerAttemptMs)).median;
  for (const [i, b] of options.builds.entries()) {
    if (i === 0) continue;
    lines.push(
      `ratio own time per ` +
        `attempt ${String.fromCharCode(65 + i)}/A ` +
        `(${buildName(b)} / ${buildName(options.builds[0]!)}): ${(ownPerAttempt(b) / ownPerAttempt(options.builds[0]!)).toFixed(2)}`,
    );
  }
  for (const b of options.builds) lines.push(`own time per attempt: ${buildName(b)} ${fmt(ownPerAttempt(b))} ms`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  const parsed = parseAgentBenchArgs(process.argv.slice(2));
  if ('problems' in parsed) {
    for (const p of parsed.problems) process.stderr.write(`perf:agent: ${p}\n`);
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const { options } = parsed;
  const settings = loadSettings(process.env, { logLevel: 'silent' });
  const docker = createDockerClient(settings.dockerHost);
  await ensureDockerReachable(docker, settings.dockerHost);

  const work = mkdtempSync(join(tmpdir(), 'fw-bench-agent-'));
  const cpuPreload = join(work, 'cpu-usage.mjs');
  writeFileSync(cpuPreload, CPU_PRELOAD);
  const h: Harness = {
    work,
    cpuPreload,
    keep: options.keep,
    builds: options.builds,
    server: await startTimedModelServer(FIXTURE_REPLY),
    events: await watchContainerEvents(docker),
  };
  const cleanUp = () => {
    if (h.running !== undefined) {
      try {
        process.kill(h.running, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    h.events.close();
    if (!options.keep) rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanUp();
    process.exit(130);
  });

  process.stdout.write(
    `fixwright agent-loop bench: ${options.runs} run(s) per build after ${options.warmup} warm-up run(s), builds alternated (A B, then B A); ` +
      `fixture: calc.py whose add() subtracts, scripted model on ${h.server.url}; node ${process.version}, ${cpus().length} cores\n`,
  );
  const records: RunRecord[] = [];
  try {
    for (let round = 0; round < options.warmup + options.runs; round++) {
      const warmup = round < options.warmup;
      const order = round % 2 === 0 ? options.builds : [...options.builds].reverse();
      for (const build of order) {
        const r = await runOnce(h, build, warmup ? round : round - options.warmup, warmup);
        records.push(r);
        process.stderr.write(
          `${warmup ? 'warm-up' : 'run'} ${r.round + 1} ${buildName(build)}` +
            `: ${r.status}, ${r.attempts} attempt(s), own/attempt ${fmt(r.ownPerAttemptMs)} ms, ` +
            `one-off own ${fmt(r.oneOffOwnMs)} ms, wall ${fmt(r.wallMs)} ms, model ${fmt(r.modelMs)} ms, tests ${fmt(r.testMs)} ms (${r.testExecs} exec(s))\n`,
        );
      }
    }
  } catch (err) {
    if (options.json) writeFileSync(options.json, `${JSON.stringify({ options, records }, null, 2)}\n`);
    cleanUp();
    await h.server.close();
    if (err instanceof RunFailed) {
      process.stderr.write(`perf:agent: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  process.stdout.write(`\n${report(options, records)}\n`);
  if (options.json) writeFileSync(options.json, `${JSON.stringify({ options, records }, null, 2)}\n`);
  cleanUp();
  await h.server.close();
  if (options.keep) process.stdout.write(`runs kept in ${work}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`perf:agent failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
