import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAgentBenchArgs } from '../../../perf/agent-loop-args.js';

const root = mkdtempSync(join(tmpdir(), 'fw-bench-args-'));
const build = (name: string) => {
  const dir = join(root, name);
  mkdirSync(join(dir, 'cli'), { recursive: true });
  writeFileSync(join(dir, 'cli', 'main.js'), '');
  return dir;
};
const a = build('a');
const b = build('b');
const empty = join(root, 'empty');
mkdirSync(empty);

afterAll(() => rmSync(root, { recursive: true, force: true }));

const problems = (argv: string[]) => {
  const r = parseAgentBenchArgs(argv);
  return 'problems' in r ? r.problems : [];
};

describe('perf:agent arguments', () => {
  it('takes builds in order, with the defaults', () => {
    expect(parseAgentBenchArgs(['--build', a, '--build', b])).toEqual({
      options: { builds: [a, b], runs: 5, warmup: 1, json: undefined, keep: false },
    });
    expect(
      parseAgentBenchArgs(['--build', b, '--runs', '3', '--warmup', '0', '--json', join(root, 'x.json'), '--keep']),
    ).toEqual({
      options: { builds: [b], runs: 3, warmup: 0, json: join(root, 'x.json'), keep: true },
    });
  });

  it('names every bad value', () => {
    expect(problems(['--build', a, '--runs', '0'])).toEqual(['--runs must be a whole number from 1 to 50 (got "0")']);
    expect(problems(['--build', a, '--runs', '2.5', '--warmup', '11'])).toHaveLength(2);
    expect(problems(['--runs', '3'])[0]).toMatch(/at least one --build/);
    expect(problems(['--build', join(root, 'missing')])[0]).toMatch(/missing: no such directory/);
    expect(problems(['--build', empty])[0]).toMatch(/no cli\/main\.js/);
    expect(problems(['--build', a, '--build', a])[0]).toMatch(/different directory/);
    expect(problems(['--build', a, '--fast'])[0]).toMatch(/--fast/);
    expect(problems(['--build', a, 'extra'])).toHaveLength(1);
  });
});
