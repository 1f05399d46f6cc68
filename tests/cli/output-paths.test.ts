import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeSwebenchFixture } from '../helpers/swebench-fixture.js';

/** stderr lines that are not the dataset's own row warnings. */
const errorLines = (stderr: string) =>
  stderr
    .trim()
    .split('\n')
    .filter((l) => l && !/skipped|is not in/.test(l));

// Every command that writes somewhere says in one line when it cannot, before any work, and never spins.
describe('output paths that cannot be made', () => {
  let dir: string;
  let dataset: string;
  let reposDir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fw-out-paths-'));
    ({ dataset, reposDir } = makeSwebenchFixture(dir));
    file = join(dir, 'afile');
    writeFileSync(file, '');
    mkdirSync(join(dir, 'runs', 'one'), { recursive: true });
    writeFileSync(
      join(dir, 'runs', 'one', 'trajectory.jsonl'),
      '{"task_id":"t1","seq":1,"ts":"2026-11-26T00:00:00Z","type":"status","data":{"status":"running"}}\n',
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const cases: Array<[string, (bad: string) => string[]]> = [
    [
      'eval --out',
      (bad) => [
        'eval',
        '--dataset',
        dataset,
        '--predictions',
        'gold',
        '--repos',
        reposDir,
        '--instances',
        'acme__calc-gold',
        '--out',
        bad,
      ],
    ],
    [
      'localise --dataset … --json',
      (bad) => [
        'localise',
        '--dataset',
        dataset,
        '--repos',
        reposDir,
        '--instances',
        'acme__calc-gold',
        '--json',
        join(bad, 'report.json'),
      ],
    ],
    [
      'export --out',
      (bad) => ['export', '--trajectories', join(dir, 'runs'), '--format', 'sft', '--out', join(bad, 'sft.jsonl')],
    ],
  ];
  for (const [name, args] of cases) {
    it(`${name} under a file or in /proc is one line (exit 2)`, async () => {
      for (const bad of [join(file, 'sub'), '/proc/fixwright-nope/sub']) {
        const started = Date.now();
        const r = await runCli(args(bad), { FIXWRIGHT_DATA_DIR: join(dir, 'data') });
        expect(Date.now() - started).toBeLessThan(20_000);
        expect(errorLines(r.stderr)).toEqual([
          expect.stringMatching(/^fixwright: --(out|json) .*: cannot create the folder \(/),
        ]);
        expect(r.code).toBe(2);
      }
    });
  }

  it('a --out that is a broken symbolic link is one line, not an internal error', async () => {
    const link = join(dir, 'dangling');
    symlinkSync(join(dir, 'nowhere', 'x'), link);
    const r = await runCli(
      ['export', '--trajectories', join(dir, 'runs'), '--format', 'sft', '--out', join(link, 'sft.jsonl')],
      { FIXWRIGHT_DATA_DIR: join(dir, 'data') },
    );
    expect(errorLines(r.stderr)).toEqual([
      `fixwright: --out ${link}: cannot create the folder (${link} is a broken symbolic link); pass another --out`,
    ]);
    expect(r.code).toBe(2);
  });

  it('a FIXWRIGHT_DATA_DIR that cannot be made is one line naming it, for any command, without spinning', async () => {
    for (const args of [
      ['serve', '--port', '0'],
      ['localise', '--repo', reposDir, '--issue', 'x'],
    ]) {
      const started = Date.now();
      const r = await runCli(args, { FIXWRIGHT_DATA_DIR: '/proc/fixwright-nope/data' });
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(r.stderr).toBe(
        'fixwright: FIXWRIGHT_DATA_DIR /proc/fixwright-nope/data: cannot create the folder (that ' +
          'file system does not take new folders at /proc/fixwright-nope, ENOENT); set FIXWRIGHT_DATA_DIR to a folder fixwright may write\n',
      );
      expect(r.code).toBe(2);
    }
  });
});
