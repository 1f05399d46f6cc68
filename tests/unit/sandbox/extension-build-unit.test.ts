import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../../core/config.js';
import { assetPath } from '../../../core/paths.js';
import {
  cleanOutputsTar,
  DEFAULT_BUILD_INPUTS,
  extensionBuildLimits,
  extensionBuildSchema,
  inputMatcher,
} from '../../../sandbox/index.js';

/** A gzipped tar of the given entries, made as a hostile build could make it. */
async function tarOf(
  entries: Array<{ name: string; type?: 'file' | 'symlink' | 'directory' | 'link'; linkname?: string; data?: string }>,
): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((r) => p.on('end', () => r()));
  for (const e of entries) {
    if ((e.type ?? 'file') === 'file') p.entry({ name: e.name, size: Buffer.byteLength(e.data ?? '') }, e.data ?? '');
    else p.entry({ name: e.name, type: e.type, linkname: e.linkname });
  }
  p.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks));
}

describe('extension builds without a sandbox', () => {
  it('refuses a tar with links, escaping or absolute paths, .git members or too many bytes, and writes a clean one', async () => {
    const bad: Array<[Parameters<typeof tarOf>[0], RegExp]> = [
      [[{ name: 'lnk', type: 'symlink', linkname: '/tmp' }], /symlink/],
      [[{ name: 'hard', type: 'link', linkname: 'setup.py' }], /link/],
      [[{ name: '../tmp/dotdot.txt', data: 'x' }], /plain relative path/],
      [[{ name: '/tmp/abs.txt', data: 'x' }], /plain relative path/],
      [[{ name: 'a/./b.so', data: 'x' }], /plain relative path/],
      [[{ name: '.git/hooks/post-checkout', data: 'x' }], /inside \.git/],
      [
        [
          { name: 'a.so', data: 'x' },
          { name: 'a.so', data: 'y' },
        ],
        /twice/,
      ],
    ];
    for (const [entries, why] of bad) {
      await expect(cleanOutputsTar(await tarOf(entries))).rejects.toMatchObject({
        code: 'FW_ERR_SANDBOX',
        message: expect.stringMatching(why),
      });
    }
    await expect(cleanOutputsTar(await tarOf([{ name: 'big.so', data: 'x'.repeat(2000) }]), 1000)).rejects.toThrow(
      /more than 1000 bytes/,
    );
    const good = await cleanOutputsTar(
      await tarOf([
        { name: 'pkg/_m.cpython-311-x86_64-linux-gnu.so', data: 'ELF' },
        { name: 'pkg/_m.c', data: 'int x;' },
      ]),
    );
    expect(good.outputs).toEqual(['pkg/_m.cpython-311-x86_64-linux-gnu.so', 'pkg/_m.c']);
    expect(gunzipSync(good.tar).includes(Buffer.from('int x;'))).toBe(true);
  });

  it('the default inputs take in all setup code, entries add inputs, and [ ] are refused', () => {
    const match = inputMatcher(DEFAULT_BUILD_INPUTS);
    for (const path of [
      'setup.py',
      'astropy/wcs/setup_package.py',
      'setupext.py',
      'sklearn/_build_utils/openmp_helpers.py',
      '_build_utils/x.py',
      'pkg/_m.pyx',
      'src/x.h',
      'setup.cfg',
    ]) {
      expect(match(path), path).toBe(true);
    }
    for (const path of ['astropy/wcs/docstrings.py', 'pkg/__init__.py', 'tests/test_x.py', 'my_build_utils/x.py'])
      expect(match(path), path).toBe(false);
    const build = extensionBuildSchema.parse({
      command: ['python3', 'setup.py', 'build_ext'],
      extra_inputs: ['astropy/wcs/docstrings.py'],
    });
    expect(build.inputs).toEqual(DEFAULT_BUILD_INPUTS);
    expect(build.extra_inputs).toEqual(['astropy/wcs/docstrings.py']);
    expect(extensionBuildSchema.safeParse({ command: ['x'], inputs: ['*.[ch]'] }).success).toBe(false);
    expect(extensionBuildSchema.safeParse({ command: ['x'], extra_inputs: ['a/../b'] }).success).toBe(false);
  });

  it('the host matches inputs as the sandbox helper does', () => {
    const patterns = ['*.pyx', 'setup*.py', '_build_utils/', 'src/*.h', 'pkg/gen/', 'a?c.txt', 'lib*/x.c'];
    const paths = [
      'm.pyx',
      'a/b/m.pyx',
      'setup.py',
      'x/setup_package.py',
      'x/_build_utils/a.py',
      '_build_utils/b.py',
      'x_build_utils/c.py',
      'src/a.h',
      'src/b/c.h',
      'x/src/a.h',
      'pkg/gen/a',
      'x/pkg/gen/a',
      'abc.txt',
      'd/abc.txt',
      'ac.txt',
      'lib1/x.c',
      'lib/y/x.c',
    ];
    const helper = readFileSync(assetPath('sandbox/assets/extension-build.py'), 'utf8').split(
      "if __name__ == '__main__':",
    )[0];
    const python = `${helper}\nimport json, sys\nq = json.load(sys.stdin)\nprint(json.dumps([matches(p, q['patterns']) for p in q['paths']]))`;
    const fromHelper = JSON.parse(
      execFileSync('python3', ['-I', '-S', '-c', python], { input: JSON.stringify({ patterns, paths }) }).toString(),
    ) as boolean[];
    const match = inputMatcher(patterns);
    expect(paths.map(match)).toEqual(fromHelper);
    expect(fromHelper.filter(Boolean).length).toBeGreaterThan(5);
  });

  it("the build's read recorder runs the sitecustomize it shadows (an environment's recipe may have written one)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-reads-'));
    try {
      mkdirSync(join(dir, 'ours'));
      mkdirSync(join(dir, 'theirs'));
      writeFileSync(
        join(dir, 'ours', 'sitecustomize.py'),
        readFileSync(assetPath('sandbox/assets/extension-build-reads.py'), 'utf8'),
      );
      writeFileSync(join(dir, 'theirs', 'sitecustomize.py'), 'import builtins\nbuiltins.FW_THEIRS = 1\n');
      const out = execFileSync('python3', ['-c', 'import builtins; print(getattr(builtins, "FW_THEIRS", 0))'], {
        env: { ...process.env, PYTHONPATH: `${join(dir, 'ours')}:${join(dir, 'theirs')}` },
      }).toString();
      expect(out.trim()).toBe('1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("build limits: room for compiling where the operator kept the defaults, the operator's own settings where chosen", () => {
    const shipped = loadSettings({}).sandbox;
    const roomy = extensionBuildLimits(shipped);
    expect(roomy.memoryBytes).toBe(4 * 1024 ** 3);
    expect(roomy.cpus).toBeGreaterThanOrEqual(1);
    expect(roomy.pids).toBe(1024);
    const chosen = extensionBuildLimits(
      loadSettings({ FIXWRIGHT_SANDBOX_CPUS: '0.5', FIXWRIGHT_SANDBOX_MEMORY: '1g', FIXWRIGHT_SANDBOX_PIDS: '100' })
        .sandbox,
    );
    expect(chosen).toMatchObject({ cpus: 0.5, memoryBytes: 1024 ** 3, pids: 100, workdirBytes: 3 * 1024 ** 3 });
  });
});
