import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPatch, type SandboxRuntime, type SandboxSession } from '../../sandbox/index.js';
import { testRuntime } from '../helpers/docker.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

const CALC = 'def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n';
// As `git diff` writes it: three lines of context (blank context lines are a lone space).
const FIX = [
  'diff --git a/calc.py b/calc.py',
  '--- a/calc.py',
  '+++ b/calc.py',
  '@@ -1,6 +1,6 @@',
  ' def add(a, b):',
  '-    return a - b',
  '+    return a + b',
  ' ',
  ' ',
  ' def mul(a, b):',
  '     return a * b',
  '',
].join('\n');

describe('applyPatch in a sandbox', () => {
  let runtime: SandboxRuntime;
  let repo: string;
  beforeAll(async () => {
    runtime = await testRuntime();
    repo = makeRepo({ 'calc.py': CALC });
  });
  afterAll(async () => {
    await runtime?.close();
    removeRepos();
  });

  const inSandbox = <T>(task: (session: SandboxSession) => Promise<T>) => runtime.withSandbox({ repo: { kind: 'dir', path: repo } }, task);

  it('applies a clean diff with git apply, to the sandbox copy only', async () => {
    const [result, after] = await inSandbox(async (s) => [await applyPatch(s, FIX, { repoDir: repo }), await s.readFile('/work/calc.py')] as const);
    expect(result).toMatchObject({ ok: true, method: 'git apply', files: [{ oldPath: 'calc.py', newPath: 'calc.py' }] });
    expect(after).toContain('return a + b');
    expect(readFileSync(join(repo, 'calc.py'), 'utf8')).toBe(CALC);
  });

  it('falls back to patch --fuzz when context lines drifted', async () => {
    const drifted = FIX.replace(' def mul(a, b):', ' def mul(a, b):  # a comment since removed');
    const [result, after] = await inSandbox(async (s) => [await applyPatch(s, drifted), await s.readFile('/work/calc.py')] as const);
    expect(result).toMatchObject({ ok: true, method: 'patch --fuzz' });
    expect(after).toContain('return a + b');
  });

  it('reports a patch that does not apply, with git’s reason', async () => {
    const wrong = FIX.replace('-    return a - b', '-    return a / b');
    const result = await inSandbox((s) => applyPatch(s, wrong));
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.reason).toBe('does-not-apply');
    expect(result.ok === false && result.message).toMatch(/patch does not apply: patch failed: calc\.py:1/);
  });

  it('rejects a patch into .git and a binary patch without running anything', async () => {
    const git = await inSandbox((s) => applyPatch(s, FIX.replaceAll('calc.py', '.git/config')));
    expect(git.ok === false && git.reason === 'rejected' && git.violations[0]?.rule).toBe('git-dir');
    const binary = await inSandbox((s) => applyPatch(s, 'diff --git a/x.bin b/x.bin\nGIT binary patch\nliteral 1\nA\n'));
    expect(binary.ok === false && binary.reason === 'rejected' && binary.violations[0]?.rule).toBe('binary');
  });
});
