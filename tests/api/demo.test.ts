import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, startServe, stop, waitFor } from '../helpers/service.js';

// `fixwright serve --demo`: the UI's "Run the demo" button submits /api/config's demo task, which
// the server solves with its bundled scripted model: offline, with no key configured.
describe('fixwright serve --demo', () => {
  const data = mkdtempSync(join(tmpdir(), 'fw-serve-demo-'));
  afterAll(() => rmSync(data, { recursive: true, force: true }));

  it('offers the demo task and resolves it, with no model or key configured', async () => {
    const serve = await startServe({ FIXWRIGHT_DATA_DIR: data, REDIS_URL: '', FIXWRIGHT_MODEL: '', OPENAI_API_KEY: '', OPENAI_BASE_URL: '', FIXWRIGHT_REPO_ROOTS: '' }, ['--demo']);
    try {
      const config = (await api(serve.url, '/api/config')).body;
      expect(config.demo).toMatchObject({ repo_path: join(data, 'demo', 'shop'), model: 'fixwright-demo-scripted' });
      expect(config.default_model).toBe('fixwright-demo-scripted');
      const submitted = await api(serve.url, '/api/solve', { body: config.demo });
      expect(submitted.status).toBe(202);
      const task = await waitFor(async () => {
        const t = (await api(serve.url, `/api/task/${submitted.body.task_id}`)).body;
        return ['finished', 'error', 'cancelled'].includes(t.status) ? t : undefined;
      }, 'the demo task to end', 120_000);
      expect(task.status).toBe('finished');
      expect(task.verdict).toBe('resolved');
      expect(task.attempts).toHaveLength(2);
      // The trajectory names the repository and model, as solve's does, so the exporter can split by repository.
      const trajectory = (await api(serve.url, `/api/task/${submitted.body.task_id}/trajectory`)).body as string;
      const status = trajectory.trim().split('\n').map((l) => JSON.parse(l)).find((e: { type: string }) => e.type === 'status');
      expect(status.data).toMatchObject({ status: 'running', repo: join(data, 'demo', 'shop'), model: 'fixwright-demo-scripted' });
      // Only the demo's model runs here: another is refused, not sent to the scripted server.
      const other = await api(serve.url, '/api/solve', { body: { ...config.demo, model: 'gpt-4o' } });
      expect(other.status).toBe(400);
      expect(other.body.message).toMatch(/not allowed on this server; allowed: fixwright-demo-scripted/);
    } finally {
      await stop(serve);
    }
  });

  it('refuses --demo with REDIS_URL (workers elsewhere have no demo model)', async () => {
    await expect(startServe({ FIXWRIGHT_DATA_DIR: data, REDIS_URL: 'redis://127.0.0.1:1' }, ['--demo'])).rejects.toThrow(/--demo runs the demo tasks in this process.*unset REDIS_URL/);
  });
});
