import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { AgentEvent } from '../../agent/index.js';
import { type ScriptedServer, startScriptedOpenAIServer } from '../../core/scripted-openai-server.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';
import {
  api,
  followTask,
  type Proc,
  startRedis,
  startServe,
  startWorkerProcess,
  stop,
  type TestRedis,
  waitFor,
} from '../helpers/service.js';

const REPO = {
  'calc.py':
    'def add(a, b):\n    """Return the sum of a and b."""\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n',
  'tests/test_calc.py': 'from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n',
};
// One answer serves both model steps: the reproduce step reads its test, the fix step its edit too.
const ANSWER =
  '```python\n# tests/test_repro_add.py\nfrom calc import add\n\n\ndef test_add_returns_sum():\n    ' +
  'assert add(2, 3) == 5\n```\n\ncalc.py\n```python\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n```\n';
const KEY = 'sk-service-test-key-0123456789';

const gapless = (events: AgentEvent[], from = 1) =>
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + from));

/** The two deployments run the same scenarios: the single-machine default, and Redis with worker processes. */
describe.each(['in-process', 'redis'] as const)('fixwright serve (%s)', (mode) => {
  let model: ScriptedServer;
  /** How long the model takes to answer; the tests that kill a runner mid-task hold it long enough to land the kill. */
  let modelDelayMs = 1500;
  let redis: TestRedis | undefined;
  let dataDir: string;
  let serve: (Proc & { url: string }) | undefined;
  const workers: Proc[] = [];
  let env: Record<string, string>;
  let repo: string;

  beforeAll(async () => {
    model = await startScriptedOpenAIServer({ respond: () => ({ delayMs: modelDelayMs, reply: ANSWER }), apiKey: KEY });
    if (mode === 'redis') redis = await startRedis();
    dataDir = mkdtempSync(join(tmpdir(), 'fw-serve-'));
    repo = makeRepo(REPO, { git: true });
    env = {
      OPENAI_API_KEY: KEY,
      OPENAI_BASE_URL: model.url,
      FIXWRIGHT_MODEL: 'scripted',
      FIXWRIGHT_DATA_DIR: dataDir,
      FIXWRIGHT_REPO_ROOTS: dirname(repo),
      FIXWRIGHT_LOG_LEVEL: 'warn',
      FIXWRIGHT_SHUTDOWN_GRACE: '5',
      // The tests poll; the limiter is tested on its own.
      FIXWRIGHT_RATE_LIMIT: '100000',
      ...(redis ? { REDIS_URL: redis.url } : { REDIS_URL: '' }),
    };
    serve = await startServe(env);
    if (mode === 'redis')
      workers.push(await startWorkerProcess(env, ['--lock-duration', '2000', '--stalled-interval', '1000']));
  });

  afterAll(async () => {
    await Promise.all([...workers.map((w) => stop(w, 'SIGKILL')), serve && stop(serve, 'SIGKILL')]);
    await redis?.stop();
    await model.close();
    rmSync(dataDir, { recursive: true, force: true });
    removeRepos();
  });

  const submit = async () => {
    const r = await api(serve!.url, '/api/solve', {
      body: { repo_path: repo, issue_text: 'add(2, 3) returns -1 instead of 5', max_attempts: 2 },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    return r.body.task_id as string;
  };

  it('runs a submitted task: events arrive over the WebSocket in order with no gaps, the task ends resolved', async () => {
    const id = await submit();
    const { events, code } = await followTask(serve!.url, id);
    expect(code).toBe(1000);
    gapless(events);
    expect(events.at(-1)).toMatchObject({ type: 'done', data: { status: 'resolved' } });
    // The worker records the task's status just after its last event (a moment later over Redis).
    const task = await waitFor(
      async () => {
        const t = await api(serve!.url, `/api/task/${id}`);
        return t.body.status === 'running' ? undefined : t;
      },
      'the task to record its end',
      10_000,
    );
    expect(task.body).toMatchObject({
      task_id: id,
      status: 'finished',
      verdict: 'resolved',
      request: { max_attempts: 2 },
    });
    expect(task.body.localised_files[0]).toMatchObject({ path: 'calc.py', in_set: expect.any(Boolean) });
    expect(task.body.attempts[0].diff).toContain('+    return a + b');
    // Judged as result.json judges it: passed, with its score.
    expect(task.body.attempts[0]).toMatchObject({ failure: null, score: expect.any(Number) });
    expect(task.body.attempts[0].tests.after.outcomes['tests/test_repro_add.py::test_add_returns_sum'].status).toBe(
      'PASSED',
    );
    expect(task.body.tokens.input).toBeGreaterThan(0);
    expect(task.body.final_patch).toContain('+    return a + b');
    const patch = await fetch(`${serve!.url}/api/task/${id}/patch`);
    expect(await patch.text()).toBe(task.body.final_patch);
    const trajectory = (await (await fetch(`${serve!.url}/api/task/${id}/trajectory`)).text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(trajectory).toEqual(events);
    expect(JSON.stringify(trajectory)).not.toContain(KEY);
    // Late subscribers replay; `after` gives exactly the rest.
    const late = await followTask(serve!.url, id, { after: 10 });
    expect(late.events).toEqual(events.slice(10));
    const list = await api(serve!.url, '/api/tasks?status=finished');
    expect(list.body.tasks.map((t: { task_id: string }) => t.task_id)).toContain(id);
    const metrics = await api(serve!.url, '/api/metrics');
    expect(metrics.body.verdicts.resolved).toBeGreaterThanOrEqual(1);
    expect(metrics.body.resolve_rate).toBeGreaterThan(0);
  });

  it('a client that reconnects with after=SEQ mid-run gets exactly the events it missed', async () => {
    const id = await submit();
    const first = await followTask(serve!.url, id, { stopAfter: 4 });
    const last = first.events.at(-1)!.seq;
    const rest = await followTask(serve!.url, id, { after: last });
    gapless([...first.events, ...rest.events]);
    expect(rest.events.at(-1)!.type).toBe('done');
  });

  it('cancelling a running task ends it cancelled, with a last event saying so', async () => {
    const id = await submit();
    await waitFor(
      async () => (await api(serve!.url, `/api/task/${id}`)).body.status === 'running' || undefined,
      'the task to start',
    );
    const r = await api(serve!.url, `/api/task/${id}/cancel`, { method: 'POST' });
    expect(r.status).toBe(202);
    const { events } = await followTask(serve!.url, id);
    expect(events.at(-1)).toMatchObject({ type: 'done', data: { stopped_by: 'cancelled' } });
    const task = await waitFor(async () => {
      const t = (await api(serve!.url, `/api/task/${id}`)).body;
      return t.status === 'running' ? undefined : t;
    }, 'the cancel to land');
    expect(task.status).toBe('cancelled');
    // Stopped, not judged: no verdict (it used to read `failed`).
    expect(task.verdict).toBeNull();
    expect((await api(serve!.url, `/api/task/${id}/cancel`, { method: 'POST' })).status).toBe(409);
  });

  /** Waits until the task's log shows the model being asked `times` times for an edit. */
  const reachModel = (id: string, times = 1) =>
    waitFor(
      async () => {
        const events = (await api(serve!.url, `/api/task/${id}/events`)).body.events as AgentEvent[];
        return events.filter((e) => e.type === 'node_start' && e.data.node === 'generate').length >= times || undefined;
      },
      'the task to reach the model',
      60_000,
    );

  /** Kills whoever runs tasks with SIGKILL (a worker, or serve itself in the in-process mode), starting a replacement first. */
  const killRunner = async () => {
    if (mode === 'redis') {
      const victim = workers.shift()!;
      workers.push(await startWorkerProcess(env, ['--lock-duration', '2000', '--stalled-interval', '1000']));
      await stop(victim, 'SIGKILL');
    } else {
      await stop(serve!, 'SIGKILL');
      serve = await startServe(env);
    }
  };

  const ended = (id: string, timeoutMs = 90_000) =>
    waitFor(
      async () => {
        const t = (await api(serve!.url, `/api/task/${id}`)).body;
        return ['finished', 'error', 'cancelled'].includes(t.status) ? t : undefined;
      },
      'the task to end',
      timeoutMs,
    );

  it('a worker killed with SIGKILL mid-task: the task is retried and ends in a defined state, its log still gapless', async () => {
    // Starting the replacement runner takes seconds on a loaded machine: the task must still be running when the kill lands.
    modelDelayMs = 8000;
    onTestFinished(() => void (modelDelayMs = 1500));
    const id = await submit();
    await reachModel(id);
    await killRunner();
    const task = await ended(id);
    expect(task.status).toBe('finished');
    expect(task.verdict).toBe('resolved');
    expect(task.retries).toBe(1);
    const { events } = await followTask(serve!.url, id);
    gapless(events);
    expect(events.some((e) => e.type === 'status' && e.data.retry === true)).toBe(true);
    expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
  }, 180_000);

  it('a task whose worker is killed twice ends in error, saying why, never stuck running', async () => {
    modelDelayMs = 8000;
    onTestFinished(() => void (modelDelayMs = 1500));
    const id = await submit();
    await reachModel(id);
    await killRunner();
    await reachModel(id, 2);
    await killRunner();
    const task = await ended(id);
    expect(task.status).toBe('error');
    expect(task.error.message).toMatch(/interrupted twice/);
    const { events, code } = await followTask(serve!.url, id);
    expect(code).toBe(1000);
    gapless(events);
    expect(events.at(-1)).toMatchObject({
      type: 'error',
      data: { message: expect.stringMatching(/interrupted twice/) },
    });
  }, 180_000);

  it('a job survives an API restart (SIGTERM drains; the task ends resolved after the restart)', async () => {
    if (mode === 'redis') {
      // No worker: the job waits in Redis while the API restarts.
      await Promise.all(workers.splice(0).map((w) => stop(w, 'SIGTERM')));
    }
    const id = await submit();
    if (mode === 'in-process') await reachModel(id);
    expect(await stop(serve!, 'SIGTERM')).toBe(143);
    serve = await startServe(env);
    if (mode === 'redis') {
      expect((await api(serve!.url, `/api/task/${id}`)).body.status).toBe('queued');
      workers.push(await startWorkerProcess(env, ['--lock-duration', '2000', '--stalled-interval', '1000']));
    }
    const task = await ended(id);
    expect(task).toMatchObject({ status: 'finished', verdict: 'resolved' });
    const { events } = await followTask(serve!.url, id);
    gapless(events);
  }, 180_000);

  it('an API restart loses nothing: tasks and their events are still there', async () => {
    const before = await api(serve!.url, '/api/tasks?limit=100');
    expect(before.body.tasks.length).toBeGreaterThanOrEqual(4);
    const id = before.body.tasks[0].task_id as string;
    const events = (await api(serve!.url, `/api/task/${id}/events`)).body.events;
    expect(await stop(serve!, 'SIGTERM')).toBe(143);
    serve = await startServe(env);
    const after = await api(serve!.url, '/api/tasks?limit=100');
    expect(after.body.tasks.map((t: { task_id: string; status: string }) => [t.task_id, t.status])).toEqual(
      before.body.tasks.map((t: { task_id: string; status: string }) => [t.task_id, t.status]),
    );
    expect((await api(serve!.url, `/api/task/${id}/events`)).body.events).toEqual(events);
  });
});
