import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containersOf, runCli, runCliRaw, spawnCli } from '../helpers/cli.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

// The CLI as a user runs it: the built dist/cli/main.js in a child process, real Docker behind it.
describe('fixwright sandbox (CLI)', () => {
  let repo: string;
  beforeAll(() => {
    repo = makeRepo({
      'calc.py': 'def add(a, b):\n    return a - b\n',
      'test_calc.py':
        'from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n\ndef test_zero():\n    assert add(0, 0) == 0\n',
    });
  });
  afterAll(removeRepos);

  it('exec prints the output and exits with the command’s code', async () => {
    const r = await runCli([
      'sandbox',
      'exec',
      '--repo',
      repo,
      '--timeout',
      '30',
      '--',
      'python3',
      '-c',
      'import sys; print("out"); print("err", file=sys.stderr); sys.exit(7)',
    ]);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(r.code).toBe(7);
  });

  it('exec exits 124 on timeout and 137 on memory, saying which', async () => {
    const slow = await runCli([
      'sandbox',
      'exec',
      '--repo',
      repo,
      '--timeout',
      '2',
      '--',
      'python3',
      '-c',
      'while True: pass',
    ]);
    expect(slow.code).toBe(124);
    expect(slow.stderr).toContain('timed out after 2s');
    const hog = await runCli([
      'sandbox',
      'exec',
      '--repo',
      repo,
      '--memory',
      '128m',
      '--',
      'python3',
      '-c',
      'a = bytearray(1024 ** 3); a[::4096] = b"x" * len(a[::4096])',
    ]);
    expect(hog.code).toBe(137);
    expect(hog.stderr).toContain('exceeding the memory limit of 128.0 MiB');
  });

  it('test applies a patch and prints per-test outcomes as JSON', async () => {
    const before = await runCli(['sandbox', 'test', '--repo', repo, '--json', 'test_calc.py']);
    expect(before.code).toBe(1);
    expect(JSON.parse(before.stdout).outcomes).toMatchObject({
      'test_calc.py::test_add': { status: 'FAILED' },
      'test_calc.py::test_zero': { status: 'PASSED' },
    });
    const patch = join(repo, '..', `fix-${Date.now()}.diff`);
    writeFileSync(
      patch,
      'diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n',
    );
    const after = await runCli(['sandbox', 'test', '--repo', repo, '--patch', patch, 'test_calc.py::test_add']);
    expect(after.stdout).toBe('PASSED  test_calc.py::test_add\n');
    expect(after.code).toBe(0);
    const escape = join(repo, '..', `escape-${Date.now()}.diff`);
    writeFileSync(escape, 'diff --git a/../x b/../x\n--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n');
    const refused = await runCli(['sandbox', 'test', '--repo', repo, '--patch', escape]);
    expect(refused.stderr).toMatch(
      /^fixwright: patch rejected: path '\.\.\/x' uses '\.\.' to leave the repository \[rule parent-dir\]\n$/,
    );
    expect(refused.code).toBe(125);
  });

  it('test fails when pytest itself fails (no such file: exit 4)', async () => {
    const r = await runCli(['sandbox', 'test', '--repo', repo, 'no_such_test.py']);
    expect(r.stdout).toMatch(/pytest exited 4/);
    expect(r.code).toBe(1);
  });

  it('build off a terminal prints plain lines: no spinner leftovers, colours or symbols', async () => {
    const r = await runCli(['sandbox', 'build']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /^building fixwright-sandbox:base\n(fixwright-sandbox:base is up to date|built fixwright-sandbox:base) .*\(recipe [0-9a-f]+\)/,
    );
    // eslint-disable-next-line no-control-regex -- an ANSI escape (ESC [) in the output is what must not appear
    expect(r.stderr).not.toMatch(/\r|\u001b\[|✔|^- /m);
  });

  it('exec writes binary output through unchanged', async () => {
    const r = await runCliRaw([
      'sandbox',
      'exec',
      '--repo',
      repo,
      '--',
      'python3',
      '-c',
      'import sys; sys.stdout.buffer.write(bytes(range(256)))',
    ]);
    expect(r.stdout.equals(Buffer.from(Array.from({ length: 256 }, (_, i) => i)))).toBe(true);
  });

  it('SIGINT removes the sandbox at once; after SIGKILL the next start-up removes it', async () => {
    for (const signal of ['SIGINT', 'SIGKILL'] as const) {
      const child = spawnCli([
        'sandbox',
        'exec',
        '--repo',
        repo,
        '--timeout',
        '120',
        '--',
        'python3',
        '-c',
        'import time; time.sleep(120)',
      ]);
      const owned = () => containersOf(child.pid!);
      for (let i = 0; i < 100 && (await owned()).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await owned()).toHaveLength(1);
      const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
      child.kill(signal);
      const code = await exited;
      if (signal === 'SIGINT') {
        expect(code).toBe(130);
        expect(await owned()).toEqual([]);
      } else {
        expect(await owned()).toHaveLength(1); // nothing could run on SIGKILL
        await runCli(['sandbox', 'exec', '--repo', repo, '--', 'python3', '-V']); // any start-up cleans up
        expect(await owned()).toEqual([]);
      }
    }
  });

  describe('bad input: one line saying what to do, non-zero exit', () => {
    const oneLine = (stderr: string) => expect(stderr.trim().split('\n')).toHaveLength(1);
    it.each([
      [
        'a missing repository',
        ['--repo', '/nonexistent/dir', '--', 'python3', '-V'],
        /repository directory not found: \/nonexistent\/dir/,
        2,
      ],
      [
        'an unknown image',
        ['--repo', '.', '--image', 'fixwright-nope:1', '--', 'python3', '-V'],
        /sandbox image 'fixwright-nope:1' not found; build it with 'fixwright sandbox build'/,
        125,
      ],
      [
        'a negative timeout',
        ['--repo', '.', '--timeout', '-1', '--', 'python3', '-V'],
        /--timeout: sandbox timeout must be greater than 0/,
        2,
      ],
      [
        'a bad memory size',
        ['--repo', '.', '--memory', 'lots', '--', 'python3', '-V'],
        /--memory: sandbox memory must be a size such as 512m/,
        2,
      ],
      [
        'a program outside the allowlist',
        ['--repo', '.', '--', 'sh', '-c', 'id'],
        /program 'sh' is not allowed in the sandbox \(allowed: python, python3, pytest, git\)/,
        126,
      ],
      ['no command', ['--repo', '.'], /missing required argument 'command'/, 2],
    ])('%s', async (_name, args, message, code) => {
      const r = await runCli(['sandbox', 'exec', ...args]);
      expect(r.stderr).toMatch(message);
      oneLine(r.stderr);
      expect(r.stdout).toBe('');
      expect(r.code).toBe(code);
    });

    it('Docker not running', async () => {
      const r = await runCli(['sandbox', 'exec', '--repo', repo, '--', 'python3', '-V'], {
        DOCKER_HOST: 'unix:///tmp/fixwright-no-docker.sock',
      });
      expect(r.stderr).toMatch(
        /^fixwright: cannot reach the Docker engine at unix:\/\/\/tmp\/fixwright-no-docker\.sock .*start it .* or set DOCKER_HOST\n$/,
      );
      expect(r.code).toBe(125);
    });

    it('an environment spec that is not JSON', async () => {
      const spec = join(repo, '..', `spec-${Date.now()}.json`);
      writeFileSync(spec, '{apt: nope');
      const r = await runCli(['sandbox', 'env', '--spec', spec]);
      expect(r.stderr).toMatch(/cannot read the environment spec .*JSON/);
      expect(r.code).toBe(2);
    });
  });
});
