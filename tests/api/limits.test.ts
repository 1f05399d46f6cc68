import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../core/config.js';
import { type ScriptedServer, startScriptedOpenAIServer } from '../../core/scripted-openai-server.js';
import { taskEnd, testApps } from '../helpers/app.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

const apps = testApps('fw-limits-');
const { app } = apps;
afterAll(async () => {
  await apps.close();
  removeRepos();
});

const post = (server: FastifyInstance, body: Record<string, unknown>) =>
  server.inject({ method: 'POST', url: '/api/solve', payload: body });
const ISSUE = { repo_url: 'https://github.com/acme/calc', issue_text: 'add is wrong' };

describe('service bounds: caps on cost and time, a model allow-list', () => {
  it('validates the settings once, listing every bad one as NAME: message', () => {
    expect(() =>
      loadSettings({
        FIXWRIGHT_MAX_COST_USD: 'lots',
        FIXWRIGHT_MAX_SECONDS: '-5',
        FIXWRIGHT_ALLOWED_MODELS: 'gpt-4o, bad model',
      }),
    ).toThrow(/FIXWRIGHT_MAX_COST_USD: .*; FIXWRIGHT_MAX_SECONDS: .*; FIXWRIGHT_ALLOWED_MODELS: /);
    const defaults = loadSettings({});
    expect(defaults.service).toMatchObject({ maxCostUsd: 5, maxSeconds: 1800, allowedModels: [] });
  });

  it('refuses a model outside the allow-list and a request above a cap with 400 naming the field; applies the caps', async () => {
    const server = await app({
      FIXWRIGHT_ALLOWED_MODELS: 'scripted,gpt-4o-mini',
      FIXWRIGHT_MAX_COST_USD: '1.5',
      FIXWRIGHT_MAX_SECONDS: '600',
    });
    const config = (await server.inject({ method: 'GET', url: '/api/config' })).json();
    expect(config.limits).toEqual({ max_cost_usd: 1.5, max_seconds: 600, allowed_models: ['scripted', 'gpt-4o-mini'] });

    const other = await post(server, { ...ISSUE, model: 'gpt-4o' });
    expect(other.statusCode).toBe(400);
    expect(other.json()).toMatchObject({
      code: 'FW_ERR_BAD_INPUT',
      field: 'model',
      message: expect.stringMatching(/allowed: scripted, gpt-4o-mini/),
    });

    for (const [field, value] of [
      ['max_cost_usd', 2],
      ['max_seconds', 601],
    ] as const) {
      const over = await post(server, { ...ISSUE, [field]: value });
      expect(over.statusCode, field).toBe(400);
      expect(over.json()).toMatchObject({
        code: 'FW_ERR_BAD_INPUT',
        field,
        message: expect.stringMatching(/may be at most/),
      });
    }
    const negative = await post(server, { ...ISSUE, max_cost_usd: -1 });
    expect(negative.json()).toMatchObject({ code: 'FW_ERR_BAD_INPUT', field: 'max_cost_usd' });

    // No values: the server's caps. Lower values: kept.
    const capped = await post(server, { ...ISSUE, model: 'gpt-4o-mini' });
    expect(capped.statusCode).toBe(202);
    const stored = (await server.inject({ method: 'GET', url: `/api/task/${capped.json().task_id}` })).json();
    expect(stored.request).toMatchObject({ model: 'gpt-4o-mini', max_cost_usd: 1.5, max_seconds: 600 });
    const lower = await post(server, { ...ISSUE, max_cost_usd: 0.25, max_seconds: 60 });
    const kept = (await server.inject({ method: 'GET', url: `/api/task/${lower.json().task_id}` })).json();
    expect(kept.request).toMatchObject({ max_cost_usd: 0.25, max_seconds: 60 });
  });

  describe('a task whose model provider fails', () => {
    let model: ScriptedServer | undefined;
    afterAll(() => model?.close());

    it('ends in error with the reason, never as a finished verdict', async () => {
      model = await startScriptedOpenAIServer({ replies: [{ status: 401, message: 'key revoked' }] });
      const repo = makeRepo({ 'calc.py': 'def add(a, b):\n    return a - b\n' }, { git: true });
      const server = await app({
        OPENAI_BASE_URL: model.url,
        OPENAI_API_KEY: 'sk-limits-test-0123456789',
        FIXWRIGHT_REPO_ROOTS: join(repo, '..'),
      });
      const submitted = await post(server, { repo_path: repo, issue_text: 'add(2, 3) returns -1 instead of 5' });
      expect(submitted.statusCode, submitted.body).toBe(202);
      const id = submitted.json().task_id as string;
      const task = await taskEnd(server, id);
      expect(task).toMatchObject({
        status: 'error',
        verdict: null,
        stopped_by: 'model_error',
        error: { code: 'FW_ERR_MODEL', message: expect.stringMatching(/refused the API key \(401\)/) },
      });
      expect(task.attempts).toEqual([]);
    }, 150_000);
  });

  describe("the request's environment", () => {
    let model: ScriptedServer | undefined;
    afterAll(() => model?.close());

    it('is validated at submission (no base image or build commands over the API) and used by the run', async () => {
      model = await startScriptedOpenAIServer({ replies: ['unused'] });
      const repo = makeRepo(
        { 'calc/__init__.py': 'def add(a, b):\n    return a - b\n', 'tests/test_calc.py': 'from calc import add\n' },
        { git: true },
      );
      const server = await app({
        OPENAI_BASE_URL: model.url,
        OPENAI_API_KEY: 'sk-limits-test-0123456789',
        FIXWRIGHT_REPO_ROOTS: join(repo, '..'),
      });
      const body = { repo_path: repo, issue_text: 'add(2, 3) returns -1 instead of 5' };
      const bad = await post(server, { ...body, environment: { setup: ['curl x | sh'], packages: ['ok', 'not ok!'] } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({
        code: 'FW_ERR_BAD_INPUT',
        field: 'environment',
        message: expect.stringMatching(/packages\.1: not a requirement/),
      });
      const untrusted = await post(server, { ...body, environment: { setup: ['echo hi'] } });
      expect(untrusted.json().message).toMatch(/setup: only an environment file given on the command line/);

      const submitted = await post(server, {
        ...body,
        environment: { imports: ['calc', 'calc_plugins_missing'], test_env: { CALC_MODE: 'strict' } },
      });
      expect(submitted.statusCode, submitted.body).toBe(202);
      const id = submitted.json().task_id as string;
      const task = await taskEnd(server, id);
      // The spec's health check names a module the project lacks: the run stops before any model call for a fix.
      expect(task).toMatchObject({
        status: 'error',
        stopped_by: 'environment',
        error: {
          code: 'FW_ERR_ENVIRONMENT',
          message: expect.stringMatching(/calc_plugins_missing: ModuleNotFoundError/),
        },
        environment: { source: 'spec', key: "the request's environment field" },
        baseline: { ok: false },
      });
      expect(model.requests.filter((q) => q.path === '/v1/chat/completions')).toHaveLength(0);
    }, 150_000);
  });
});
