import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    const r = await runCli(['localise', '--repo', repo, '--issue', 'send ignores the request url', '--top', '1'], {
      NODE_OPTIONS: `--import ${SIGNAL}`,
      FIXWRIGHT_DATA_DIR: join(work, 'data'),
    });
    expect(r.code).toBe(143);
  });
});

describe('output read by a program that stops early', () => {
  it('ends cleanly when the reader closes the pipe (localise | head -c 1)', async () => {
    const repo = join(work, 'many');
    mkdirSync(join(repo, 'pkg'), { recursive: true });
    for (let i = 0; i < 40; i++)
      writeFileSync(
        join(repo, 'pkg', `mod${i}.py`),
        `def send_${i}(request):\n    """Send request ${i}."""\n    return request.url_${i}\n`,
      );
    const cli = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
    const script =
      `set -o pipefail; ` +
      `"${process.execPath}" "${cli}" localise --repo "${repo}" --issue "send request url" --top 30 2>"${join(work, 'err')}" | head -c 1 >/dev/null`;
    const r = spawnSync('bash', ['-c', script], {
      env: { ...process.env, FIXWRIGHT_DATA_DIR: join(work, 'data2') },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(readFileSync(join(work, 'err'), 'utf8')).not.toMatch(/EPIPE|Unhandled/);
  });
});
