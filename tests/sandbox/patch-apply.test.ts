import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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

const OTHER = 'def sub(a, b):\n    return a + b\n';
const FIX_OTHER = [
  'diff --git a/other.py b/other.py',
  '--- a/other.py',
  '+++ b/other.py',
  '@@ -1,2 +1,2 @@',
  ' def sub(a, b):',
  '-    return a + b',
  '+    return a - b',
  '',
].join('\n');

describe('applyPatch in a sandbox', () => {
  let runtime: SandboxRuntime;
  let repo: string;
  beforeAll(async () => {
    runtime = await testRuntime();
    repo = makeRepo({ 'calc.py': CALC, 'other.py': OTHER });
  });
  afterAll(async () => {
    await runtime?.close();
    removeRepos();
  });

  const inSandbox = <T>(task: (session: SandboxSession) => Promise<T>) =>
    runtime.withSandbox({ repo: { kind: 'dir', path: repo } }, task);

  it('applies a clean diff with git apply, to the sandbox copy only, in one exec', async () => {
    const [result, after, execs] = await inSandbox(async (s) => {
      const spy = vi.spyOn(s, 'execTrusted');
      const applied = await applyPatch(s, FIX, { repoDir: repo });
      const argv = spy.mock.calls.map((c) => c[0].join(' '));
      spy.mockRestore();
      return [applied, await s.readFile('/work/calc.py'), argv] as const;
    });
    expect(result).toMatchObject({
      ok: true,
      method: 'git apply',
      files: [{ oldPath: 'calc.py', newPath: 'calc.py' }],
    });
    expect(result.ok && result.output).toMatch(/Applied patch calc\.py cleanly/);
    expect(after).toContain('return a + b');
    expect(readFileSync(join(repo, 'calc.py'), 'utf8')).toBe(CALC);
    expect(execs).toEqual(['git apply --verbose -']);
  });

  it('refuses a patch that is already applied instead of reverting it; as the harness, reverts it as the harness does', async () => {
    const [second, text, asHarness, reverted] = await inSandbox(async (s) => {
      expect(await applyPatch(s, FIX)).toMatchObject({ ok: true });
      const again = await applyPatch(s, FIX);
      const now = await s.readFile('/work/calc.py');
      const harness = await applyPatch(s, FIX, { asHarness: true });
      return [again, now, harness, await s.readFile('/work/calc.py')] as const;
    });
    expect(second.ok).toBe(false);
    expect(text).toContain('return a + b');
    // The official harness's `patch --batch` takes it for a reversed patch: kept, for evaluation that must agree with it.
    expect(asHarness).toMatchObject({ ok: true, method: 'patch --fuzz' });
    expect(reverted).toContain('return a - b');
  });

  it('applies a patch that lacks its last newline', async () => {
    const result = await inSandbox((s) => applyPatch(s, FIX.trimEnd()));
    expect(result).toMatchObject({ ok: true, method: 'git apply' });
  });

  it('leaves the tree as it was when git refuses, so patch --fuzz applies every file once', async () => {
    // git could apply other.py but not the drifted calc.py hunk: it must write neither.
    const drifted = FIX_OTHER + FIX.replace(' def mul(a, b):', ' def mul(a, b):  # a comment since removed');
    const [result, calc, other] = await inSandbox(
      async (s) =>
        [await applyPatch(s, drifted), await s.readFile('/work/calc.py'), await s.readFile('/work/other.py')] as const,
    );
    expect(result).toMatchObject({ ok: true, method: 'patch --fuzz' });
    expect(calc).toContain('return a + b');
    expect(other).toBe('def sub(a, b):\n    return a - b\n');
  });

  it('writes nothing when one file of a patch does not apply at all', async () => {
    const wrong = FIX_OTHER + FIX.replace('-    return a - b', '-    return a / b');
    const [result, other] = await inSandbox(
      async (s) => [await applyPatch(s, wrong), await s.readFile('/work/other.py')] as const,
    );
    expect(result.ok === false && result.message).toMatch(/patch does not apply: patch failed: calc\.py:1/);
    expect(other).toBe(OTHER);
  });

  it('falls back to patch --fuzz when context lines drifted', async () => {
    const drifted = FIX.replace(' def mul(a, b):', ' def mul(a, b):  # a comment since removed');
    const [result, after] = await inSandbox(
      async (s) => [await applyPatch(s, drifted), await s.readFile('/work/calc.py')] as const,
    );
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
    const binary = await inSandbox((s) =>
      applyPatch(s, 'diff --git a/x.bin b/x.bin\nGIT binary patch\nliteral 1\nA\n'),
    );
    expect(binary.ok === false && binary.reason === 'rejected' && binary.violations[0]?.rule).toBe('binary');
  });
});
