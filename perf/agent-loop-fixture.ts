/**
 * `perf:agent`'s task: a tiny Python repository whose `add()` subtracts, the issue that says so,
 * and the one answer its scripted model gives to every request (a reproduction test and a
 * search/replace fix), so every run is one attempt that ends `resolved`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The issue text given to `fixwright solve`. */
export const FIXTURE_ISSUE = 'add(2, 3) returns -1 instead of 5: add() subtracts instead of adding.';

/** The scripted model's answer to every chat completion: a reproduction test, then the fix. */
export const FIXTURE_REPLY = [
  'The bug is in `add`: it subtracts.',
  '',
  '```python',
  '# tests/test_repro_add.py',
  'from calc import add',
  '',
  '',
  'def test_add_returns_sum():',
  '    assert add(2, 3) == 5',
  '```',
  '',
  'calc.py',
  '```python',
  '<<<<<<< SEARCH',
  '    return a - b',
  '=======',
  '    return a + b',
  '>>>>>>> REPLACE',
  '```',
  '',
].join('\n');

function git(cwd: string, ...args: string[]): void {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed in ${cwd}: ${r.stderr || r.error?.message}`);
}

/** Writes the fixture repository (one commit) into `dir`, which must not exist yet or be empty. */
export function writeFixtureRepo(dir: string): void {
  mkdirSync(join(dir, 'tests'), { recursive: true });
  writeFileSync(
    join(dir, 'calc.py'),
    'def add(a, b):\n    """Return the sum of a and b."""\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n',
  );
  writeFileSync(
    join(dir, 'tests', 'test_calc.py'),
    'from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n',
  );
  git(dir, 'init', '-q');
  git(dir, 'add', '-A');
  git(
    dir,
    '-c',
    'user.email=bench@fixwright.invalid',
    '-c',
    'user.name=bench',
    '-c',
    'commit.gpgsign=false',
    'commit',
    '-qm',
    'init',
  );
}
