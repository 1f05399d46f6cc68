import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('fixwright edit: bad input is one line naming the flag or file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-edit-flags-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a --line past the end names --line and the file's length", async () => {
    const file = join(dir, 'one.py');
    writeFileSync(file, 'x = 1\n');
    const r = await runCli(['edit', file, '--line', '99']);
    expect(r.stderr).toBe(`fixwright: --line 99 is past the end of ${file} (1 line)\n`);
    expect(r.code).toBe(2);
  });

  it('a file that cannot be read says why', async () => {
    const missing = await runCli(['edit', join(dir, 'nope.py'), '--line', '1']);
    expect(missing.stderr).toBe(`fixwright: cannot read ${join(dir, 'nope.py')}: no such file\n`);
    const folder = await runCli(['edit', dir, '--line', '1']);
    expect(folder.stderr).toBe(`fixwright: cannot read ${dir}: it is a folder\n`);
    expect(folder.code).toBe(2);
  });
});
