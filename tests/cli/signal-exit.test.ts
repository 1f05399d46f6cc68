import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const SIGNAL = join(import.meta.dirname, '..', 'fixtures', 'signal-during-output.mjs');
const work = mkdtempSync(join(tmpdir(), 'fw-signal-exit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('a signal during synchronous work', () => {
  it('ends the run with the signal exit code, not 0 over it', async () => {
    const repo = join(work, 'repo');
    mkdirSync(join(repo, 'pkg'), { recursive: true });
    writeFileSync(join(repo, 'pkg', 'adapter.py'), 'def send(request):\n    return request.url\n');
    const r = await runCli(['localise', '--repo', repo, '--issue', 'send ignores the request url', '--top', '1'], { NODE_OPTIONS: `--import ${SIGNAL}`, FIXWRIGHT_DATA_DIR: join(work, 'data') });
    expect(r.code).toBe(143);
  });
});
