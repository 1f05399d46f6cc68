import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { directoryFingerprint, RepoCopies } from '../../sandbox/repo-copy.js';

const dirs: string[] = [];
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-copy-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('repository copies', () => {
  it('reads a tree once and serves the same bytes until it changes', async () => {
    const dir = tree({ 'a.py': 'x = 1\n' });
    const copies = new RepoCopies(1024 ** 2);
    const first = await copies.get({ kind: 'dir', path: dir });
    expect(await copies.get({ kind: 'dir', path: dir })).toBe(first);
    writeFileSync(join(dir, 'b.py'), 'y = 2\n');
    const second = await copies.get({ kind: 'dir', path: dir });
    expect(second!.key).not.toBe(first!.key);
    expect(second!.bytes.includes(Buffer.from('y = 2'))).toBe(true);
  });

  it('sees an edit that keeps the size and restores the modification time (tar x, cp -p)', async () => {
    const dir = tree({ 'a.py': 'x = 1\n' });
    utimesSync(join(dir, 'a.py'), 1_700_000_000, 1_700_000_000);
    const before = await directoryFingerprint(dir);
    writeFileSync(join(dir, 'a.py'), 'x = 2\n');
    utimesSync(join(dir, 'a.py'), 1_700_000_000, 1_700_000_000);
    expect(await directoryFingerprint(dir)).not.toBe(before);
  });

  it('walks names that are not UTF-8', async () => {
    const dir = tree({ 'ok.py': '' });
    // A Latin-1 file name (caf\xe9.py), made by the shell as bytes.
    execFileSync('sh', ['-c', `printf 'x' > "$(printf 'caf\\351.py')"`], { cwd: dir });
    const copies = new RepoCopies(1024 ** 2);
    const copy = await copies.get({ kind: 'dir', path: dir });
    expect(copy!.bytes.length).toBeGreaterThan(0);
  });

  it('keeps its bound: a tree evicted while it was being read is not counted, and trees being read are not evicted', async () => {
    const big = 'z'.repeat(300 * 1024);
    const trees = Array.from({ length: 4 }, (_, i) => tree({ [`f${i}.txt`]: `${i}${big}` }));
    const copies = new RepoCopies(700 * 1024);
    // All four read at once: each about 300 KiB, two fit.
    const got = await Promise.all(trees.map((path) => copies.get({ kind: 'dir', path })));
    expect(got.every((c) => c && c.bytes.length > 300 * 1024)).toBe(true);
    expect(copies.bytes).toBeLessThanOrEqual(700 * 1024);
    expect(copies.bytes).toBeGreaterThan(0);
    // A tree larger than the bound is handed back as nothing (streamed per sandbox) and holds nothing.
    const huge = tree({ 'huge.txt': 'h'.repeat(800 * 1024) });
    expect(await copies.get({ kind: 'dir', path: huge })).toBeUndefined();
    expect(copies.bytes).toBeLessThanOrEqual(700 * 1024);
  });

  it('names a commit by its object id, and refuses a missing one clearly', async () => {
    const dir = tree({ 'a.py': 'x = 1\n' });
    const git = (...args: string[]) => execFileSync('git', args, { cwd: dir }).toString().trim();
    git('init', '-q');
    git('add', '-A');
    git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'one');
    const id = git('rev-parse', 'HEAD');
    const copies = new RepoCopies(1024 ** 2);
    expect(await copies.keyOf({ kind: 'git', gitDir: join(dir, '.git'), commit: 'HEAD' })).toBe(
      `git:${join(dir, '.git')}:${id}`,
    );
    await expect(copies.get({ kind: 'git', gitDir: join(dir, '.git'), commit: 'nope' })).rejects.toThrow(
      /commit nope not found/,
    );
  });
});
