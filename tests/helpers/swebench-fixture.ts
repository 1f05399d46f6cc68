import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * SWE-bench-format instances built from a real git repository `DIR/repos/acme/calc`: a base commit
 * where add() subtracts, a gold patch, a wrong one, a PASS_TO_PASS regression, a stale one that
 * does not apply, a test patch adding test_add (FAIL_TO_PASS) beside test_mul (PASS_TO_PASS), a
 * row whose repository is missing, and a malformed line. `diffs` receives the patches by name.
 */
/** A model answer that fixes the fixture's calc bug: the reproduction test and the search/replace fix, in one reply. */
export const FIXTURE_ANSWER =
  '```python\n# tests/test_repro_add.py\nfrom calc import add\n\n\ndef test_add_returns_sum():\n    ' +
  'assert add(2, 3) == 5\n```\n\ncalc.py\n```python\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n```\n';

export function makeSwebenchFixture(
  dir: string,
  diffs: Record<string, string> = {},
): { reposDir: string; dataset: string; diffs: Record<string, string> } {
  const reposDir = join(dir, 'repos');
  const repo = join(reposDir, 'acme', 'calc');
  mkdirSync(join(repo, 'tests'), { recursive: true });
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: repo, encoding: 'utf8' });
  const write = (path: string, text: string) => writeFileSync(join(repo, path), text);
  git('init', '-q');
  write('calc.py', 'def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n');
  write('tests/test_calc.py', 'from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n');
  git('add', '-A');
  git('commit', '-qm', 'base');
  const base = git('rev-parse', 'HEAD').trim();
  const variant = (name: string, calc: string) => {
    write('calc.py', calc);
    diffs[name] = git('diff');
    git('checkout', '-q', '--', '.');
  };
  variant('gold', 'def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n');
  variant('wrong', 'def add(a, b):\n    return a * b\n\n\ndef mul(a, b):\n    return a * b\n');
  variant('regression', 'def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a + b\n');
  diffs.stale = diffs.gold!.replace('-    return a - b', '-    return a - b - 0');
  write(
    'tests/test_calc.py',
    'from calc import add, mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n\n\ndef test_add():\n    assert add(2, 3) == 5\n',
  );
  const testPatch = git('diff');
  git('checkout', '-q', '--', '.');
  const row = (id: string, repoName = 'acme/calc') => ({
    repo: repoName,
    instance_id: id,
    base_commit: base,
    patch: diffs.gold,
    test_patch: testPatch,
    problem_statement: 'add subtracts',
    version: '1.0',
    FAIL_TO_PASS: JSON.stringify(['tests/test_calc.py::test_add']),
    PASS_TO_PASS: JSON.stringify(['tests/test_calc.py::test_mul']),
  });
  const dataset = join(dir, 'dataset.jsonl');
  const ids = [
    'acme__calc-gold',
    'acme__calc-wrong',
    'acme__calc-regression',
    'acme__calc-stale',
    'acme__calc-empty',
    'ghost__repo-1',
  ];
  writeFileSync(
    dataset,
    [
      ...ids.map((id) => JSON.stringify(row(id, id.startsWith('ghost') ? 'ghost/repo' : 'acme/calc'))),
      '{"instance_id": "broken"',
      '',
    ].join('\n'),
  );
  const predictions = [
    ['acme__calc-gold', diffs.gold],
    ['acme__calc-wrong', diffs.wrong],
    ['acme__calc-regression', diffs.regression],
    ['acme__calc-stale', diffs.stale],
    ['acme__calc-empty', ''],
    ['ghost__repo-1', diffs.gold],
  ].map(([id, patch]) => JSON.stringify({ instance_id: id, model_name_or_path: 'test', model_patch: patch }));
  writeFileSync(join(dir, 'predictions.jsonl'), predictions.join('\n') + '\n');
  return { reposDir, dataset, diffs };
}
