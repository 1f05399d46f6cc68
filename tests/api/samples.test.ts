import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_SAMPLES } from '../../agent/index.js';
import { loadSettings, SAMPLES_LIMIT } from '../../core/config.js';
import { testApps } from '../helpers/app.js';

const apps = testApps('fw-samples-');
afterAll(() => apps.close());

const post = (server: FastifyInstance, body: Record<string, unknown>) =>
  server.inject({ method: 'POST', url: '/api/solve', payload: body });
const ISSUE = { repo_url: 'https://github.com/acme/calc', issue_text: 'add is wrong' };

describe('candidates per attempt (samples) over the API', () => {
  it("validates FIXWRIGHT_MAX_SAMPLES once: a whole number from 1 to the agent's limit, default 4", () => {
    expect(SAMPLES_LIMIT).toBe(MAX_SAMPLES);
    expect(loadSettings({}).service.maxSamples).toBe(4);
    expect(loadSettings({ FIXWRIGHT_MAX_SAMPLES: '8' }).service.maxSamples).toBe(8);
    expect(() => loadSettings({ FIXWRIGHT_MAX_SAMPLES: '9' })).toThrow(
      /FIXWRIGHT_MAX_SAMPLES: must be greater than 0 and at most 8/,
    );
    expect(() => loadSettings({ FIXWRIGHT_MAX_SAMPLES: '0' })).toThrow(/FIXWRIGHT_MAX_SAMPLES: /);
    expect(() => loadSettings({ FIXWRIGHT_MAX_SAMPLES: '2.5' })).toThrow(
      /FIXWRIGHT_MAX_SAMPLES: must be a whole number/,
    );
    expect(() => loadSettings({ FIXWRIGHT_MAX_SAMPLES: 'many', FIXWRIGHT_MAX_SECONDS: '-1' })).toThrow(
      /FIXWRIGHT_MAX_SECONDS: .*; FIXWRIGHT_MAX_SAMPLES: must be a number/,
    );
  });

  it('says the range in /api/config, refuses more than the server allows with 400 naming `samples`, and stores what was asked', async () => {
    const server = await apps.app({ FIXWRIGHT_MAX_SAMPLES: '3' });
    const config = (await server.inject({ method: 'GET', url: '/api/config' })).json();
    expect(config.samples).toEqual({ min: 1, max: 3, default: 1 });

    const over = await post(server, { ...ISSUE, samples: 4 });
    expect(over.statusCode).toBe(400);
    expect(over.json()).toEqual({
      code: 'FW_ERR_BAD_INPUT',
      field: 'samples',
      message: 'samples may be at most 3 on this server (got 4); FIXWRIGHT_MAX_SAMPLES sets it, up to 8',
    });
    // Above the schema's limit too: the server's cap first, then the limit, not the schema's bare "must be <= 8".
    const far = await post(server, { ...ISSUE, samples: 9 });
    expect(far.statusCode).toBe(400);
    expect(far.json()).toEqual({
      code: 'FW_ERR_BAD_INPUT',
      field: 'samples',
      message: 'samples may be at most 3 on this server (got 9); FIXWRIGHT_MAX_SAMPLES sets it, up to 8',
    });
    // Outside 1..8, or not a whole number: the schema refuses it, naming the field.
    for (const samples of [0, 9, 1.5, 'two']) {
      const bad = await post(server, { ...ISSUE, samples });
      expect(bad.statusCode, String(samples)).toBe(400);
      expect(bad.json(), String(samples)).toMatchObject({ code: 'FW_ERR_BAD_INPUT', field: 'samples' });
    }

    const three = await post(server, { ...ISSUE, samples: 3 });
    expect(three.statusCode, three.body).toBe(202);
    expect(
      (await server.inject({ method: 'GET', url: `/api/task/${three.json().task_id}` })).json().request,
    ).toMatchObject({ samples: 3 });
    const plain = await post(server, ISSUE);
    expect(
      (await server.inject({ method: 'GET', url: `/api/task/${plain.json().task_id}` })).json().request,
    ).toMatchObject({ samples: 1 });

    // The OpenAPI spec documents the field and its bounds.
    const spec = (await server.inject({ method: 'GET', url: '/docs/json' })).json();
    const body = spec.paths['/api/solve'].post.requestBody.content['application/json'].schema;
    expect(body.properties.samples).toMatchObject({
      type: 'integer',
      minimum: 1,
      maximum: 8,
      default: 1,
      description: expect.stringMatching(/FIXWRIGHT_MAX_SAMPLES/),
    });
  });
});
