import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApps } from '../helpers/app.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

const apps = testApps('fw-submission-');
afterAll(async () => {
  await apps.close();
  removeRepos();
});

/**
 * Sends a raw WebSocket upgrade and reads until the server closes the connection (or `waitMs`
 * passes). Resolves with the response text and whether the server closed its side.
 */
function rawUpgrade(port: number, path: string, waitMs = 3000): Promise<{ response: string; serverClosed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let response = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ response, serverClosed: false });
    }, waitMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (response += chunk));
    socket.on('end', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ response, serverClosed: true });
    });
    socket.on('error', reject);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
  });
}

describe('WebSocket upgrades that are refused before a route runs', () => {
  let server: FastifyInstance;
  let port: number;
  beforeAll(async () => {
    server = await apps.app();
    await server.listen({ host: '127.0.0.1', port: 0 });
    port = (server.server.address() as { port: number }).port;
  });

  it('answers an over-long id with a 4xx and closes the socket (none left half-open)', async () => {
    for (let i = 0; i < 3; i++) {
      const { response, serverClosed } = await rawUpgrade(port, `/ws/${'a'.repeat(3000)}`);
      expect(response).toMatch(/^HTTP\/1\.1 4\d\d /);
      expect(serverClosed).toBe(true);
    }
    expect(await new Promise<number>((r) => server.server.getConnections((_e, n) => r(n)))).toBe(0);
  });

  it('closes the socket after refusing an upgrade to an unknown task, as before', async () => {
    const { response, serverClosed } = await rawUpgrade(port, '/ws/no-such-task');
    expect(response).toMatch(/^HTTP\/1\.1 404 /);
    expect(serverClosed).toBe(true);
  });
});
