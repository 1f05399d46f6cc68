import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportError } from '../../cli/errors.js';
import { runCli } from '../helpers/cli.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
const lines = (text: string) => text.trim().split('\n').filter(Boolean);

/** A port something else already listens on. */
async function busyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return { port: (server.address() as { port: number }).port, server };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const { port, server } = await busyPort();
  await new Promise((res) => server.close(res));
  return port;
}

describe('serve and worker: expected failures are one line', () => {
  it('serve --port on a busy port says so in one line and exits non-zero', async () => {
    const { port, server } = await busyPort();
    const data = mkdtempSync(join(tmpdir(), 'fw-busy-'));
    try {
      const r = await runCli(['serve', '--port', String(port), '--host', '127.0.0.1'], {
        FIXWRIGHT_DATA_DIR: data,
        REDIS_URL: '',
        FIXWRIGHT_API_KEYS: '',
        FIXWRIGHT_LOG_LEVEL: 'info',
      });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe(''); // no start-up log before the one line: the service never started
      expect(r.stderr).not.toMatch(/internal error| {4}at /);
      expect(lines(r.stderr).filter((l) => l.startsWith('fixwright:'))).toEqual([
        `fixwright: --port ${port}: 127.0.0.1:${port} is already in use (another fixwright process?): stop what holds it or pass another --port`,
      ]);
    } finally {
      server.close();
      rmSync(data, { recursive: true, force: true });
    }
  });

  it('worker on a busy --edit-port or a bad --metrics-port fails before it touches the queue', async () => {
    const { port, server } = await busyPort();
    const redisPort = await closedPort();
    try {
      const env = { REDIS_URL: `redis://127.0.0.1:${redisPort}`, FIXWRIGHT_LOG_LEVEL: 'info' };
      const busy = await runCli(['worker', '--edit-port', String(port)], env);
      expect(busy.code).toBe(2);
      expect(lines(busy.stderr).filter((l) => l.startsWith('fixwright:'))).toEqual([
        `fixwright: --edit-port ${port}: 127.0.0.1:${port} is already in use (another fixwright process?): stop what holds it or pass another --edit-port`,
      ]);
      // No job could have been taken: the worker never started, nor looked for Redis.
      expect(busy.stdout + busy.stderr).not.toMatch(/worker started|Redis is unreachable/);
      const bad = await runCli(['worker', '--metrics-port', 'abc'], env);
      expect(bad.code).toBe(2);
      expect(bad.stdout + bad.stderr).not.toMatch(/worker started|Redis is unreachable/);
    } finally {
      server.close();
    }
  }, 30_000);

  it('worker with Redis down prints no stack traces, one line about Redis, and keeps retrying until stopped', async () => {
    const port = await closedPort();
    const child = spawn(process.execPath, [CLI, 'worker'], {
      env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${port}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((res) => child.on('close', res));
    await new Promise((res) => setTimeout(res, 6000));
    expect(child.exitCode).toBeNull(); // it waits for Redis to come back
    child.kill('SIGTERM');
    await exited;
    expect(output).not.toMatch(/ {4}at |internal error/);
    expect(output.match(/Redis is unreachable/g)).toHaveLength(1);
    expect(output).toContain(`127.0.0.1:${port}`);
  }, 30_000);
});

describe('reportError', () => {
  const report = (err: unknown) => {
    let text = '';
    const code = reportError(err, { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream);
    return { code, text };
  };
  const osError = (code: string, syscall: string, path: string) =>
    Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });

  it('turns an OS error about a path into one line naming the path and the reason', () => {
    for (const [code, why] of [
      ['EACCES', 'permission denied'],
      ['EROFS', 'read-only file system'],
      ['ENOSPC', 'no space left on the device'],
      ['ENOTDIR', 'a part of the path is a file, not a folder'],
    ]) {
      const r = report(osError(code!, 'open', '/data/out/x.json'));
      expect(r.text).toBe(`fixwright: cannot open /data/out/x.json: ${why} (${code})\n`);
      expect(r.code).toBe(125);
    }
  });

  it('keeps the stack for bugs', () => {
    expect(report(new TypeError('x is undefined')).text).toMatch(
      /internal error \(please report it[^]*TypeError: x is undefined\n {4}at /,
    );
  });
});
