import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyRows } from '../../benchmarks/history-rows.js';
import { runCli } from '../helpers/cli.js';

/** A git repository at DIR/<owner>/<name> with a base and three fix commits, each changing one module. */
function fixtureRepo(root: string, name: string, words: string[]): string {
  const dir = join(root, 'acme', name);
  mkdirSync(dir, { recursive: true });
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  words.forEach((w) =>
    write(`${name}/${w}.py`, `def ${w}_value(x):\n    """Compute the ${w} value."""\n    return x\n`),
  );
  write(`${name}/__init__.py`, '');
  git('init', '-q');
  git('add', '-A');
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'base');
  for (const w of words.slice(0, 3)) {
    write(`${name}/${w}.py`, `def ${w}_value(x):\n    """Compute the ${w} value."""\n    return x + 1\n`);
    git('add', '-A');
    git(
      '-c',
      'user.name=t',
      '-c',
      'user.email=t@t',
      'commit',
      '-qm',
      `Fix the ${w} value: ${w}_value returns the wrong ${w} result`,
    );
  }
  return dir;
}

describe('fixwright localise with a learned fusion: fitting, using, and flags that do not belong', () => {
  let root: string;
  let dataDir: string;
  let rows: string;
  let repo: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'fw-fusion-cli-'));
    dataDir = join(root, 'data');
    repo = fixtureRepo(root, 'alpha', ['price', 'stock', 'label', 'order', 'parcel']);
    const beta = fixtureRepo(root, 'beta', ['colour', 'shape', 'weight', 'volume', 'height']);
    const all = [repo, beta].flatMap((dir) =>
      historyRows({ gitDir: join(dir, '.git'), repo: `acme/${dir.split('/').at(-1)}`, limit: 10 }),
    );
    rows = join(root, 'rows.jsonl');
    writeFileSync(rows, all.map((r) => JSON.stringify(r)).join('\n') + '\n');
  });
  afterAll(() => undefined);
  const cli = (args: string[]) => runCli(['localise', ...args], { FIXWRIGHT_DATA_DIR: dataDir });

  it('fits a model and its calibration on rows of two repositories, then ranks with them out of fold', async () => {
    const model = join(root, 'model.json');
    const calibration = join(root, 'cal.json');
    const fit = await cli([
      '--dataset',
      rows,
      '--repos',
      root,
      '--alpha',
      '0.5',
      '--folds',
      '2',
      '--fit-fusion',
      model,
      '--calibration-out',
      calibration,
    ]);
    expect(fit.stderr).toBe('');
    expect(fit.code).toBe(0);
    expect(fit.stdout).toMatch(/repository-wise cross-validation/);
    expect(fit.stdout).toContain('wrote the fusion model (fitted on 6 rows)');
    const cal = JSON.parse(readFileSync(calibration, 'utf8'));
    expect(cal).toMatchObject({
      method: 'ratio',
      alpha: 0.5,
      n: 6,
      ranker: expect.stringMatching(/^fixwright-learned-[0-9a-f]{8}\+lsi-128$/),
    });
    const evaluated = await cli(['--dataset', rows, '--repos', root, '--fusion', model, '--calibration', calibration]);
    expect(evaluated.code).toBe(0);
    expect(evaluated.stderr).toBe(''); // the calibration matches the model's ranking: no warning
    expect(evaluated.stdout).toContain('instances 6');
    expect(evaluated.stdout).toContain('conformal alpha 0.5');
    const one = await cli([
      '--repo',
      repo,
      '--issue',
      'the price value is wrong',
      '--fusion',
      model,
      '--calibration',
      calibration,
      '--json',
    ]);
    const out = JSON.parse(one.stdout);
    expect(out.files[0].path).toBe('alpha/price.py');
    expect(out.set).toContain('alpha/price.py');
    // What the set was cut with, penalty included (a ratio set cannot be reproduced from q̂ alone).
    expect(out.calibration).toEqual({ alpha: 0.5, method: 'ratio', qhat: cal.qhat, params: cal.params });
  }, 120_000);

  it('writes no calibration whose q̂ is infinite, and says so', async () => {
    const calibration = join(root, 'inf.json');
    const fit = await cli([
      '--dataset',
      rows,
      '--repos',
      root,
      '--alpha',
      '0.01',
      '--fit-fusion',
      join(root, 'm2.json'),
      '--calibration-out',
      calibration,
    ]);
    expect(fit.code).toBe(1);
    expect(fit.stdout).toContain('q̂ is infinite), so no calibration was written');
    expect(existsSync(calibration)).toBe(false);
  }, 120_000);

  it("cuts no set with another ranking's calibration, and refuses flags that would be ignored", async () => {
    const rrf = await cli(['--repo', repo, '--issue', 'the price value is wrong', '--fusion', 'rrf', '--json']);
    expect(JSON.parse(rrf.stdout).set).toBeNull();
    expect(rrf.stderr).toMatch(
      /warning: the calibration was fitted on ranker fixwright-learned-[0-9a-f]{8}\+lsi-128, not fixwright-rrf-v2\+lsi-128, so no conformal set is cut/,
    );
    const cases: Array<[string[], RegExp]> = [
      [['--repo', repo, '--issue', 'x', '--fit-fusion', join(root, 'never.json')], /--fit-fusion needs --dataset/],
      [['--repo', repo, '--issue', 'x', '--method', 'rank'], /--method applies to --dataset/],
      [['--repo', repo, '--issue', 'x', '--limit', '0'], /--limit applies to --dataset and --history-rows/],
      [
        ['--repo', repo, '--issue', 'x', '--fusion', 'learned', '--weights', 'bm25=2'],
        /--weights and --rrf-k tune RRF, and --fusion learned ranks with a model/,
      ],
      [
        ['--repo', repo, '--issue', 'x', '--fusion', 'nonsense'],
        /--fusion must be learned, rrf or a model file \(no file nonsense\)/,
      ],
      [['--repo', repo, '--issue', 'x', '--history-rows', join(root, 'h.jsonl')], /--history-rows takes --repo/],
      [
        ['--dataset', rows, '--repos', root, '--calibration', join(root, 'cal.json'), '--method', 'aps'],
        /--method aps differs from the calibration's own method \(ratio\)/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.code).toBe(2);
    }
    expect(existsSync(join(root, 'never.json'))).toBe(false);
  }, 120_000);
});
