/**
 * `npm run perf:sandbox`: what a sandbox costs. From one run it prints the median time of the same
 * pytest run directly on the host and in a fresh sandbox (create → copy → exec → remove), the
 * overhead and the ratio, each phase's median; the time a caller waits for withSandbox without and
 * with the warm pool, for that pytest run and for `git --version` (next to nothing on either side,
 * so the difference is the sandbox's own cost: the `cold overhead` and `warm overhead` lines); and
 * the throughput of N concurrent sandboxes without and with the pool.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '../core/index.js';
import { createCommandPolicy, createSandboxRuntime, SandboxSession, settleRemovals } from '../sandbox/index.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const JOBS = Number(process.env.BENCH_JOBS ?? 16);
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '1,2,4,8').split(',').map(Number);
const ARGV = ['python3', '-m', 'pytest', '-q', '-p', 'no:cacheprovider'];

function fixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-bench-'));
  mkdirSync(join(dir, 'pkg'));
  writeFileSync(join(dir, 'pkg', '__init__.py'), '');
  writeFileSync(
    join(dir, 'pkg', 'calc.py'),
    'def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n',
  );
  const tests = Array.from(
    { length: 20 },
    (_, i) =>
      `def test_add_${i}():\n    assert add(${i}, 1) == ${i + 1}\n\n\ndef test_mul_${i}():\n    assert mul(${i}, 2) == ${i * 2}\n`,
  );
  writeFileSync(join(dir, 'test_calc.py'), `from pkg.calc import add, mul\n\n\n${tests.join('\n\n')}`);
  return dir;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const ms = (x: number) => `${x.toFixed(0).padStart(6)} ms`;
/** Waits for container removals left running in the background, so one measurement does not pay for the last one's. */
const settle = settleRemovals;

async function main(): Promise<void> {
  const settings = loadSettings(process.env, { logLevel: 'silent' });
  const runtime = await createSandboxRuntime(settings);
  const repo = fixture();
  console.log(
    `fixwright sandbox bench: ${RUNS} runs of \`${ARGV.join(' ')}\` over 40 tests; ${cpus().length} cores; image ${settings.sandbox.image}`,
  );

  // Side by side on equal terms: the host's interpreter itself (not a version-manager shim), and
  // no auto-loaded third-party pytest plugins on either side (the sandbox image has none).
  const env = { PYTEST_DISABLE_PLUGIN_AUTOLOAD: '1' };
  const python = spawnSync('python3', ['-c', 'import sys, pytest; print(sys.executable, pytest.__version__)'], {
    encoding: 'utf8',
  })
    .stdout.trim()
    .split(' ');
  const boxVersion = await runtime.runCommand({
    repo: { kind: 'dir', path: repo },
    argv: ['python3', '-c', 'import sys, pytest; print(sys.version.split()[0], pytest.__version__)'],
    timeoutSeconds: 60,
  });
  console.log(
    `host: ${python[0]} (pytest ${python[1]}); sandbox: python ${boxVersion.stdout.text.trim().replace(' ', ', pytest ')}`,
  );
  const host: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const r = spawnSync(python[0]!, ARGV.slice(1), { cwd: repo, encoding: 'utf8', env: { ...process.env, ...env } });
    host.push(performance.now() - t);
    if (r.status !== 0) throw new Error(`host pytest failed: ${r.stdout}${r.stderr}`);
  }

  const phases = {
    create: [] as number[],
    copy: [] as number[],
    exec: [] as number[],
    remove: [] as number[],
    total: [] as number[],
  };
  const policy = createCommandPolicy(settings.sandbox.allow);
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const session = await SandboxSession.open({
      docker: runtime.docker,
      image: settings.sandbox.image,
      limits: settings.sandbox,
      policy,
      outputCapBytes: settings.sandbox.outputCapBytes,
      leaseSeconds: 120,
    });
    const t1 = performance.now();
    await session.copyRepo({ kind: 'dir', path: repo });
    const t2 = performance.now();
    const r = await session.run(ARGV, { timeoutSeconds: 60, env });
    const t3 = performance.now();
    await session.close();
    const t4 = performance.now();
    if (r.exitCode !== 0) throw new Error(`sandbox pytest failed: ${r.stdout.text}${r.stderr.text}`);
    phases.create.push(t1 - t0);
    phases.copy.push(t2 - t1);
    phases.exec.push(t3 - t2);
    phases.remove.push(t4 - t3);
    phases.total.push(t4 - t0);
  }

  // As a caller sees it: withSandbox from asking to the result, with no warm pool (every start on
  // the caller's path) and with one (a container started and holding the repository beforehand;
  // the run waits for the pool to refill between runs, so each one finds a warm container).
  const cold = await createSandboxRuntime(settings, { docker: runtime.docker, warm: 0 });
  const warm = await createSandboxRuntime(settings, { docker: runtime.docker, warm: 1 });
  // The same for a command that costs next to nothing on either side (`git --version`): the
  // sandbox's own cost, apart from the two sides' different Python and pytest builds.
  const caller = { cold: [] as number[], warm: [] as number[], warmMisses: 0 };
  const bare = { host: [] as number[], cold: [] as number[], warm: [] as number[] };
  const GIT = ['git', '--version'];
  const once = async (rt: typeof cold, argv: readonly string[] = ARGV) => {
    const t = performance.now();
    const r = await rt.withSandbox({ repo: { kind: 'dir', path: repo } }, (s) =>
      s.run(argv, { timeoutSeconds: 60, env }),
    );
    if (r.exitCode !== 0) throw new Error(`sandbox ${argv.join(' ')} failed: ${r.stdout.text}${r.stderr.text}`);
    return performance.now() - t;
  };
  const warmed = async () => {
    await settle();
    for (let wait = 0; warm.warm.warm < 1 && wait < 100; wait++) await new Promise((r) => setTimeout(r, 50));
    return warm.warm.warm >= 1;
  };
  await once(warm); // asks for the spec once, so the pool starts warming it
  for (let i = 0; i < RUNS; i++) {
    caller.cold.push(await once(cold));
    if (!(await warmed())) caller.warmMisses += 1;
    caller.warm.push(await once(warm));
    const t = performance.now();
    spawnSync(GIT[0]!, GIT.slice(1));
    bare.host.push(performance.now() - t);
    await settle();
    bare.cold.push(await once(cold, GIT));
    if (!(await warmed())) caller.warmMisses += 1;
    bare.warm.push(await once(warm, GIT));
    await settle();
  }
  await warm.warm.drain();

  const hostMedian = median(host);
  const boxMedian = median(phases.total);
  console.log('\nsingle run (median)');
  console.log(`  host pytest                 ${ms(hostMedian)}`);
  console.log(
    `  sandbox total              ` +
      ` ${ms(boxMedian)}   = ` +
      `create ${median(phases.create).toFixed(0)} + ` +
      `copy ${median(phases.copy).toFixed(0)} + exec ${median(phases.exec).toFixed(0)} + remove ${median(phases.remove).toFixed(0)} ms`,
  );
  console.log(`  overhead                    ${ms(boxMedian - hostMedian)}`);
  console.log(`  ratio sandbox / host        ${(boxMedian / hostMedian).toFixed(2)}x`);
  console.log(`  withSandbox, cold           ${ms(median(caller.cold))}`);
  console.log(
    `  withSandbox, warm pool      ${ms(median(caller.warm))}${caller.warmMisses ? `   (${caller.warmMisses} of ${2 * RUNS} found none warm)` : ''}`,
  );
  console.log(
    `  git --version: ` +
      `host ${median(bare.host).toFixed(0)} ms, cold ` +
      `sandbox ${median(bare.cold).toFixed(0)} ms, ` +
      `warm ${median(bare.warm).toFixed(0)} ms (the sandbox's own ` +
      `cost: ${(median(bare.cold) - median(bare.host)).toFixed(0)} / ${(median(bare.warm) - median(bare.host)).toFixed(0)} ms)`,
  );
  console.log(
    `  pytest overhead: ` +
      `cold ${(median(caller.cold) - hostMedian).toFixed(0)} ms, ` +
      `warm ${(median(caller.warm) - hostMedian).toFixed(0)} ms (different Python and pytest builds on the two sides)`,
  );
  // The headline: the sandbox's own cost over the same command on the host, apart from interpreter builds.
  console.log(`cold overhead ${(median(bare.cold) - median(bare.host)).toFixed(0)} ms`);
  console.log(`warm overhead ${(median(bare.warm) - median(bare.host)).toFixed(0)} ms`);

  console.log(`\nthroughput: ${JOBS} sandboxed pytest runs at each concurrency, without and with the warm pool`);
  for (const level of LEVELS) {
    const line: string[] = [];
    for (const size of [0, level]) {
      const pooled = await createSandboxRuntime(
        loadSettings(process.env, { logLevel: 'silent', sandbox: { concurrency: level } }),
        { docker: runtime.docker, warm: size },
      );
      if (size > 0) {
        // The pool warms a spec once it is asked for: one run first, then wait for it to fill.
        await pooled.withSandbox({ repo: { kind: 'dir', path: repo } }, (s) =>
          s.run(['python3', '-c', 'pass'], { timeoutSeconds: 30 }),
        );
        for (let wait = 0; pooled.warm.warm < size && wait < 200; wait++) await new Promise((r) => setTimeout(r, 50));
      }
      await settle();
      const t = performance.now();
      const results = await Promise.all(
        Array.from({ length: JOBS }, () =>
          pooled.withSandbox({ repo: { kind: 'dir', path: repo } }, (s) => s.run(ARGV, { timeoutSeconds: 120, env })),
        ),
      );
      const seconds = (performance.now() - t) / 1000;
      await pooled.warm.drain();
      await settle();
      const failed = results.filter((r) => r.exitCode !== 0).length;
      line.push(
        `${size ? 'warm pool' : 'no pool  '} ${(JOBS / seconds).toFixed(2)} runs/s (${seconds.toFixed(1)} s${failed ? `, ${failed} failed` : ''})`,
      );
    }
    console.log(`  concurrency ${String(level).padStart(2)}: ${line.join('   ')}`);
  }
  rmSync(repo, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
