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
    const serve = await startServe(
      {
        FIXWRIGHT_DATA_DIR: data,
        REDIS_URL: '',
        FIXWRIGHT_MODEL: '',
        OPENAI_API_KEY: '',
        OPENAI_BASE_URL: '',
        FIXWRIGHT_REPO_ROOTS: '',
        FIXWRIGHT_RATE_LIMIT: '100000',
      },
      ['--demo'],
    );
    try {
      const config = (await api(serve.url, '/api/config')).body;
      expect(config.demo).toMatchObject({ repo_path: join(data, 'demo', 'shop'), model: 'fixwright-demo-scripted' });
      expect(config.default_model).toBe('fixwright-demo-scripted');
      const submitted = await api(serve.url, '/api/solve', { body: config.demo });
      expect(submitted.status).toBe(202);
      const task = await waitFor(
        async () => {
          const t = (await api(serve.url, `/api/task/${submitted.body.task_id}`)).body;
          return ['finished', 'error', 'cancelled'].includes(t.status) ? t : undefined;
        },
        'the demo task to end',
        120_000,
      );
      expect(task.status).toBe('finished');
      expect(task.verdict).toBe('resolved');
      expect(task.attempts).toHaveLength(2);
      // The trajectory names the repository and model, as solve's does, so the exporter can split by repository.
      const trajectory = (await api(serve.url, `/api/task/${submitted.body.task_id}/trajectory`)).body as string;
      const status = trajectory
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .find((e: { type: string }) => e.type === 'status');
      expect(status.data).toMatchObject({
        status: 'running',
        repo: join(data, 'demo', 'shop'),
        model: 'fixwright-demo-scripted',
      });
      // Quick fixes in demo mode: the rule tier alone (the scripted model knows only the demo's solve script).
      const edit = await api(serve.url, '/v1/edit', {
        body: { language: 'python', code: 'x = 1\n', start_line: 1, end_line: 1, instruction: 'rename x to total' },
      });
      expect(edit.status).toBe(200);
      expect(edit.body).toMatchObject({ tier: 'rule', model_rounds: 0, status: 'no_edits' });
      expect(edit.body.reason).toMatch(/model tier is off/);
      // Only the demo's model runs here: another is refused, not sent to the scripted server.
      const other = await api(serve.url, '/api/solve', { body: { ...config.demo, model: 'gpt-4o' } });
      expect(other.status).toBe(400);
      expect(other.body.message).toMatch(/not allowed on this server; allowed: fixwright-demo-scripted/);
    } finally {
      await stop(serve);
    }
  });

  it('a task cancelled mid-run ends its log with done: nothing its last step records while unwinding comes after', async () => {
    const serve = await startServe(
      {
        FIXWRIGHT_DATA_DIR: data,
        REDIS_URL: '',
        FIXWRIGHT_MODEL: '',
        OPENAI_API_KEY: '',
        OPENAI_BASE_URL: '',
        FIXWRIGHT_REPO_ROOTS: '',
        FIXWRIGHT_RATE_LIMIT: '100000',
      },
      ['--demo'],
    );
    try {
      const config = (await api(serve.url, '/api/config')).body;
      const { task_id: id } = (await api(serve.url, '/api/solve', { body: config.demo })).body;
      await waitFor(
        async () => ((await api(serve.url, `/api/task/${id}`)).body.status === 'running' ? true : undefined),
        'the task to run',
      );
      // Mid-step: the baseline or a test run is under way in the sandbox.
      await waitFor(
        async () =>
          ((await api(serve.url, `/api/task/${id}/events`)).body.events ?? []).some(
            (e: { type: string }) => e.type === 'node_start',
          )
            ? true
            : undefined,
        'a step to start',
      );
      expect((await api(serve.url, `/api/task/${id}/cancel`, { method: 'POST' })).status).toBe(202);
      await waitFor(
        async () => ((await api(serve.url, `/api/task/${id}`)).body.status === 'cancelled' ? true : undefined),
        'the cancel',
      );
      await new Promise((r) => setTimeout(r, 4000)); // let the interrupted step unwind
      const events = ((await api(serve.url, `/api/task/${id}/trajectory`)).body as string)
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { seq: number; type: string });
      expect(events.at(-1)!.type).toBe('done');
      expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    } finally {
      await stop(serve);
    }
  });

  it('refuses --demo with REDIS_URL (workers elsewhere have no demo model)', async () => {
    await expect(
      startServe({ FIXWRIGHT_DATA_DIR: data, REDIS_URL: 'redis://127.0.0.1:1' }, ['--demo']),
    ).rejects.toThrow(/--demo runs the demo tasks in this process.*unset REDIS_URL/);
  });
});
