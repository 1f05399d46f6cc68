import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, startServe, stop } from '../helpers/service.js';

// `docker run … fixwright` without the socket: the single-process API has no sandbox. It must say
// so when a task is submitted, not accept it and end it in error.
describe('a single-process server without Docker', () => {
  const data = mkdtempSync(join(tmpdir(), 'fw-no-docker-'));
  afterAll(() => rmSync(data, { recursive: true, force: true }));

  it('refuses a task with 503 and what to do, and /readyz names Docker', async () => {
    const serve = await startServe({
      FIXWRIGHT_DATA_DIR: data,
      DOCKER_HOST: 'unix:///tmp/fixwright-no-docker.sock',
      REDIS_URL: '',
      FIXWRIGHT_MODEL: 'gpt-4o-mini',
      FIXWRIGHT_API_KEYS: '',
    });
    try {
      const ready = await api(serve.url, '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.checks.docker).toBe(false);
      const r = await api(serve.url, '/api/solve', {
        body: { repo_url: 'https://github.com/pallets/flask', issue_text: 'a bug' },
      });
      expect(r.status).toBe(503);
      expect(r.body.code).toBe('FW_ERR_DOCKER_UNREACHABLE');
      expect(r.body.message).toMatch(
        /runs tasks itself \(no REDIS_URL\) and has no sandbox: cannot reach the Docker engine at unix:\/\/\/tmp\/fixwright-no-docker\.sock.*mount the socket/,
      );
      expect((await api(serve.url, '/api/tasks')).body.tasks).toEqual([]);
    } finally {
      await stop(serve);
    }
  });
});
