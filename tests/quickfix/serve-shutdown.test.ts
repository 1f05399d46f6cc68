import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { containersOf } from '../helpers/cli.js';
import { api, type Proc, startServe, waitFor } from '../helpers/service.js';

// `serve` after a quick-fix call (issue 16): the analysis container it started must go when the
// server is told to stop, even while a client still holds a connection the server waits on.

const dirs: string[] = [];
const procs: Proc[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const p of procs.splice(0))
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function serveWithQuickFix(): Promise<Proc & { url: string; pid: number }> {
  const data = mkdtempSync(join(tmpdir(), 'fw-qf-serve-'));
  dirs.push(data);
  const proc = await startServe({
    FIXWRIGHT_DATA_DIR: data,
    FIXWRIGHT_SHUTDOWN_GRACE: '5',
    REDIS_URL: '',
    FIXWRIGHT_API_KEYS: '',
    FIXWRIGHT_MODEL: '',
    OPENAI_BASE_URL: '',
  });
  procs.push(proc);
  const r = await api(proc.url, '/v1/edit', {
    body: {
      language: 'python',
      code: 'def total(items):\n    for i in itm:\n        print(i)\n',
      start_line: 1,
      end_line: 3,
    },
  });
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ status: 'edited', tier: 'rule', verification: { analyser: { available: true } } });
  const pid = proc.child.pid!;
  expect(await containersOf(pid)).toHaveLength(1);
  return { ...proc, pid };
}

/** A raw client connection, written to and left open. */
function hold(url: string, text: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(text, () => resolve(socket)));
    socket.on('error', reject);
    sockets.push(socket);
  });
}

const exitedWithin = (proc: Proc, ms: number) =>
  Promise.race([proc.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('fixwright serve stops its quick-fix analysis container on SIGTERM', () => {
  it('removes the container at once while a half-sent request still holds the server open, then exits', async () => {
    const proc = await serveWithQuickFix();
    // Headers never finished: the HTTP server waits for this connection before it calls itself closed.
    await hold(proc.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n');
    proc.child.kill('SIGTERM');
    await waitFor(
      async () => ((await containersOf(proc.pid)).length === 0 ? true : undefined),
      'the analysis container to be removed',
      8000,
    );
    for (const s of sockets.splice(0)) s.destroy();
    expect(await exitedWithin(proc, 15_000)).toBe(true);
  }, 60_000);

  it("exits within 15 s after an over-long WebSocket upgrade and a /v1/edit call (the issue's sequence)", async () => {
    const proc = await serveWithQuickFix();
    const socket = await hold(
      proc.url,
      `GET /ws/${'a'.repeat(3000)} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ` +
        `websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    await new Promise((r) => socket.once('data', r));
    socket.end(); // as curl does once it has its answer
    proc.child.kill('SIGTERM');
    expect(await exitedWithin(proc, 15_000)).toBe(true);
    expect(await containersOf(proc.pid)).toEqual([]);
  }, 60_000);
});
