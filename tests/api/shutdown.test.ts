import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServe, stop } from '../helpers/service.js';

describe('fixwright serve shuts down even when a client never finishes its request', () => {
  const data = mkdtempSync(join(tmpdir(), 'fw-shutdown-'));
  afterAll(() => rmSync(data, { recursive: true, force: true }));

  it('cuts a half-sent request after the grace period and exits', async () => {
    const serve = await startServe({
      FIXWRIGHT_DATA_DIR: data,
      FIXWRIGHT_SHUTDOWN_GRACE: '2',
      REDIS_URL: '',
      FIXWRIGHT_LOG_LEVEL: 'warn',
    });
    const { port } = new URL(serve.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    // Headers promise a body that never comes.
    socket.write(
      'POST /api/solve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"repo',
    );
    const cut = new Promise((r) => socket.once('close', r));
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const code = await Promise.race([stop(serve), new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
    expect(code).toBe(143);
    expect(Date.now() - started).toBeLessThan(10_000);
    await cut;
    expect(serve.output()).toMatch(/connections still open after the shutdown grace period/);
  });
});
