import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskTaskStore } from '../../api/store/disk-store.js';
import { newTask } from '../../api/task.js';
import { testApps } from '../helpers/app.js';
import { removeRepos } from '../helpers/fixture-repo.js';

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
      `GET ${path} HTTP/1.1\r\nHost: ` +
        `127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
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

describe('POST /api/solve checks the repository and the commit at submission, not later in a worker', () => {
  let server: FastifyInstance;
  const root = apps.temp('fw-sub-roots-');
  let repo: string;
  let head: string;
  beforeAll(async () => {
    repo = join(root, 'repo');
    mkdirSync(repo);
    writeFileSync(join(repo, 'calc.py'), 'def add(a, b):\n    return a - b\n');
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'pipe' }).toString().trim();
    git('init', '-q');
    git('add', '-A');
    git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'base');
    head = git('rev-parse', 'HEAD');
    writeFileSync(join(root, 'a-file.py'), 'x = 1\n');
    mkdirSync(join(root, 'plain'));
    server = await apps.app({ FIXWRIGHT_REPO_ROOTS: root });
  });
  const solve = (body: Record<string, unknown>) =>
    server.inject({ method: 'POST', url: '/api/solve', payload: { issue_text: 'add is wrong', ...body } });

  it.each([
    [
      'a repo_path that is a file',
      () => ({ repo_path: join(root, 'a-file.py') }),
      'repo_path',
      /is a file, not a directory/,
    ],
    [
      'a commit the repository does not have',
      () => ({ repo_path: repo, commit: 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef' }),
      'commit',
      /no commit deadbeefdead.* in .*repo/,
    ],
    [
      'a branch name the repository does not have',
      () => ({ repo_path: repo, commit: 'no-such-branch' }),
      'commit',
      /no commit no-such-branch/,
    ],
    [
      'a commit in a directory that is not a git repository',
      () => ({ repo_path: join(root, 'plain'), commit: 'HEAD' }),
      'commit',
      /not a git repository/,
    ],
    [
      'a commit that reads as an option',
      () => ({ repo_path: repo, commit: '--upload-pack=x' }),
      'commit',
      /^commit must be a commit SHA or a revision such as main or HEAD~1 .*not starting with -\)$/,
    ],
  ])('refuses %s with 400 naming the field', async (_name, body, field, message) => {
    const r = await solve(body());
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({
      code: expect.stringMatching(/^FW_ERR_/),
      field,
      message: expect.stringMatching(message),
    });
  });

  it('accepts a commit the repository has (a sha, a short sha, a ref), and a plain directory without one', async () => {
    for (const commit of [head, head.slice(0, 8), 'HEAD', 'HEAD~0', 'HEAD^0']) {
      const r = await solve({ repo_path: repo, commit, max_attempts: 1 });
      expect(r.statusCode, commit).toBe(202);
      await server.inject({ method: 'POST', url: `/api/task/${r.json().task_id}/cancel` });
    }
    const plain = await solve({ repo_path: join(root, 'plain'), max_attempts: 1 });
    expect(plain.statusCode).toBe(202);
    await server.inject({ method: 'POST', url: `/api/task/${plain.json().task_id}/cancel` });
  });

  it('names the valid statuses when a status filter is not one', async () => {
    const r = await server.inject('/api/tasks?status=bogus');
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'FW_ERR_BAD_INPUT', field: 'status' });
    expect(r.json().message).toMatch(/queued, running, finished, cancelled, error/);
    expect(r.json().message).not.toMatch(/constant/);
  });
});

describe('a cancelled task stored before cancelled runs lost their verdict', () => {
  it('shows no verdict for it, in the task and in the list', async () => {
    const dataDir = apps.temp('fw-sub-data-');
    const store = new DiskTaskStore(join(dataDir, 'tasks'));
    const task = newTask('old-cancelled', {
      repo_url: 'https://github.com/acme/calc',
      issue_text: 'add is wrong',
      max_attempts: 1,
    });
    await store.create({
      ...task,
      status: 'cancelled',
      summary: { ...task.summary, verdict: 'failed', stopped_by: 'cancelled' },
    });
    await store.close();
    const server = await apps.app({ FIXWRIGHT_DATA_DIR: dataDir });
    expect((await server.inject('/api/task/old-cancelled')).json()).toMatchObject({
      status: 'cancelled',
      verdict: null,
      stopped_by: 'cancelled',
      unpriced_calls: 0,
    });
    expect((await server.inject('/api/tasks')).json().tasks[0]).toMatchObject({
      task_id: 'old-cancelled',
      verdict: null,
    });
  });
});
