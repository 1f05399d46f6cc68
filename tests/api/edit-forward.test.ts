import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEditServer } from '../../api/edit-server.js';
import { loadSettings } from '../../core/config.js';
import { createLogger } from '../../core/logger.js';
import {
  api,
  freePort,
  type Proc,
  startRedis,
  startServe,
  startWorkerProcess,
  stop,
  type TestRedis,
} from '../helpers/service.js';

// docker-compose.yml's split, as processes: the API has no Docker (a bogus DOCKER_HOST here), and a
// worker started with --edit-port answers its quick fixes through FIXWRIGHT_EDIT_URL.
const NO_DOCKER = 'unix:///tmp/fixwright-no-docker.sock';
const TYPO = {
  language: 'python',
  code: 'def total(items):\n    for i in itm:\n        print(i)\n',
  start_line: 1,
  end_line: 3,
};

describe('quick fixes where Docker is: an API without Docker forwards /v1/edit to a worker', () => {
  let redis: TestRedis;
  let worker: Proc;
  let editURL: string;
  const dirs: string[] = [];
  const procs: Proc[] = [];
  const dataDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-edit-forward-'));
    dirs.push(dir);
    return dir;
  };

  beforeAll(async () => {
    redis = await startRedis();
    worker = await startWorkerProcess({ REDIS_URL: redis.url, FIXWRIGHT_DATA_DIR: dataDir(), FIXWRIGHT_MODEL: '' }, [
      '--edit-port',
      '0',
    ]);
    editURL = /quick fixes on (http:\/\/\S+)\/v1\/edit/.exec(worker.output())![1]!;
  }, 60_000);
  afterAll(async () => {
    await Promise.all([...procs, worker].filter(Boolean).map((p) => stop(p)));
    await redis?.stop();
    dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  });

  it('answers with the worker’s verified rule-tier fix, and passes its 4xx through', async () => {
    const serve = await startServe({
      FIXWRIGHT_DATA_DIR: dataDir(),
      DOCKER_HOST: NO_DOCKER,
      FIXWRIGHT_EDIT_URL: editURL,
      REDIS_URL: '',
      FIXWRIGHT_MODEL: '',
    });
    procs.push(serve);
    const r = await api(serve.url, '/v1/edit', { body: TYPO });
    expect(r.status).toBe(200);
    expect((await api(serve.url, '/readyz')).body.checks).toMatchObject({ edit_worker: true });
    expect(r.body).toMatchObject({ status: 'edited', tier: 'rule', verification: { analyser: { available: true } } });
    expect(JSON.stringify(r.body.edits)).toContain('items');
    const bad = await api(serve.url, '/v1/edit', { body: { ...TYPO, language: 'cobol' } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'FW_ERR_BAD_INPUT', field: 'language' });
    expect(await stop(serve)).toBe(143); // a prompt exit on SIGTERM, with nothing left open by the forwarding
  });

  it('says which worker it could not reach, with 503', async () => {
    const port = await freePort();
    const serve = await startServe({
      FIXWRIGHT_DATA_DIR: dataDir(),
      DOCKER_HOST: NO_DOCKER,
      FIXWRIGHT_EDIT_URL: `http://127.0.0.1:${port}`,
      REDIS_URL: '',
      FIXWRIGHT_MODEL: '',
    });
    procs.push(serve);
    const r = await api(serve.url, '/v1/edit', { body: TYPO });
    expect(r.status).toBe(503);
    const ready = await api(serve.url, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks).toMatchObject({ edit_worker: false });
    expect(r.body.message).toMatch(
      new RegExp(
        `worker at http://127\\.0\\.0\\.1:${port}/v1/edit \\(FIXWRIGHT_EDIT_URL\\), which cannot be reached.*--edit-port`,
      ),
    );
  });

  it('refuses a FIXWRIGHT_EDIT_URL that is not a URL', async () => {
    await expect(
      startServe({ FIXWRIGHT_DATA_DIR: dataDir(), FIXWRIGHT_EDIT_URL: 'worker:9200', REDIS_URL: '' }),
    ).rejects.toThrow(/FIXWRIGHT_EDIT_URL: must be an http\(s\) URL such as http:\/\/worker:9200/);
  });

  it('a quick-fix port without Docker says so on /healthz (503), so an API in front is not ready', async () => {
    const settings = loadSettings({ FIXWRIGHT_DATA_DIR: dataDir(), DOCKER_HOST: NO_DOCKER });
    const server = await startEditServer(settings, { host: '127.0.0.1', port: 0 }, createLogger('silent'));
    try {
      const r = await fetch(`${server.url}/healthz`);
      expect(r.status).toBe(503);
    } finally {
      await server.close();
    }
  });
});
