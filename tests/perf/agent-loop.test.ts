import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// The built bench and the build it measures: dist/ (npm test builds it first), or another build.
const ROOT = join(import.meta.dirname, '..', '..');
const DIST = process.env.FIXWRIGHT_TEST_DIST ?? join(ROOT, 'dist');
const BENCH = join(DIST, 'perf', 'agent-loop.js');
const work = mkdtempSync(join(tmpdir(), 'fw-bench-agent-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// The bench's own temporary folders go under here, so the test can see they are removed.
const tmp = join(work, 'tmp');
mkdirSync(tmp);
const bench = (args: string[]) =>
  spawnSync(process.execPath, [BENCH, ...args], {
    cwd: work,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, TMPDIR: tmp },
  });

interface RunFigures {
  attempts: number;
  ownPerAttemptMs: number;
  wallMs: number;
  modelMs: number;
  modelRequests: number;
  testMs: number;
  testExecs: number;
  cpuMs: number | null;
  status: string;
}

describe('perf:agent (real Docker, the built CLI)', () => {
  it('measures a build solving the fixture: one attempt, the model and the tests taken out', () => {
    const json = join(work, 'runs.json');
    const r = bench(['--build', DIST, '--runs', '1', '--warmup', '0', '--json', json]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^own time per attempt: \\S+ \\d+ ms$`, 'm'));
    const { records } = JSON.parse(readFileSync(json, 'utf8')) as { records: RunFigures[] };
    expect(records).toHaveLength(1);
    const run = records[0]!;
    expect(run).toMatchObject({ status: 'resolved', attempts: 1 });
    // The reproduction and the fix are chat completions (the model check comes before them).
    expect(run.modelRequests).toBeGreaterThanOrEqual(2);
    // The baseline and the attempt's checks each run pytest in the sandbox.
    expect(run.testExecs).toBeGreaterThanOrEqual(2);
    expect(run.testMs).toBeGreaterThan(0);
    expect(run.ownPerAttemptMs).toBeGreaterThan(0);
    expect(run.ownPerAttemptMs + run.testMs + run.modelMs).toBeLessThanOrEqual(run.wallMs);
    expect(run.cpuMs).toBeGreaterThan(0);
    // The runs' folders (fixture, output, log) are gone.
    expect(readdirSync(tmp).filter((name) => name.startsWith('fw-bench-agent-'))).toEqual([]);
  });

  it('exits 1 with the log when a build does not resolve the fixture', () => {
    const broken = join(work, 'broken');
    mkdirSync(join(broken, 'cli'), { recursive: true });
    writeFileSync(
      join(broken, 'cli', 'main.js'),
      "console.error('this build cannot solve anything'); process.exit(1);\n",
    );
    const r = bench(['--build', broken, '--runs', '1', '--warmup', '0']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/did not resolve the fixture: exit 1, status none/);
    expect(r.stderr).toContain('this build cannot solve anything');
    rmSync(broken, { recursive: true, force: true });
  });

  it('exits 2 naming a bad flag', () => {
    const r = bench(['--build', DIST, '--runs', 'many']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--runs must be a whole number from 1 to 50 (got "many")');
  });
});
