import { mkdirSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../core/config.js';
import { testApps } from '../helpers/app.js';

const apps = testApps('fw-http-');
const { app, temp } = apps;
afterAll(() => apps.close());

describe('HTTP input checks: a precise 4xx with {code, message, field}, never a 5xx', () => {
  let server: FastifyInstance;
  // Made at collection time: the table below names paths inside it.
  const root = temp('fw-roots-');
  mkdirSync(join(root, 'repo'));
  symlinkSync('/etc', join(root, 'escape'));
  beforeAll(async () => {
    server = await app({ FIXWRIGHT_REPO_ROOTS: root, FIXWRIGHT_BODY_LIMIT: '64k' });
  });
  afterAll(() => server.close());

  const solve = (payload: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    server.inject({
      method: 'POST',
      url: '/api/solve',
      headers,
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });

  it.each([
    ['malformed JSON', '{bad', 400, 'FW_ERR_BAD_INPUT', undefined, /not valid JSON/],
    ['an empty object', {}, 400, 'FW_ERR_BAD_INPUT', 'repo_url', /exactly one of repo_url/],
    [
      'both repository sources',
      { repo_url: 'https://github.com/a/b', repo_path: join(root, 'repo'), issue_text: 'x' },
      400,
      'FW_ERR_BAD_INPUT',
      'repo_path',
      /exactly one/,
    ],
    [
      'no issue',
      { repo_url: 'https://github.com/a/b' },
      400,
      'FW_ERR_BAD_INPUT',
      'issue_text',
      /exactly one of issue_text/,
    ],
    ['wrong types', { issue_text: 5, repo_url: [] }, 400, 'FW_ERR_BAD_INPUT', 'repo_url', /must be string/],
    [
      'an unknown field',
      { repo_url: 'https://github.com/a/b', issue_text: 'x', branch: 'main' },
      400,
      'FW_ERR_BAD_INPUT',
      'branch',
      /not a known field/,
    ],
    [
      'a string for a number',
      { repo_url: 'https://github.com/a/b', issue_text: 'x', max_attempts: '3' },
      400,
      'FW_ERR_BAD_INPUT',
      'max_attempts',
      /integer/,
    ],
    [
      'too many attempts',
      { repo_url: 'https://github.com/a/b', issue_text: 'x', max_attempts: 11 },
      400,
      'FW_ERR_BAD_INPUT',
      'max_attempts',
      /<= 10/,
    ],
    [
      'a file:// repository',
      { repo_url: 'file:///etc', issue_text: 'x' },
      400,
      'FW_ERR_BAD_INPUT',
      'repo_url',
      /file:\/\//,
    ],
    [
      'a loopback repository',
      { repo_url: 'http://127.0.0.1/a/b', issue_text: 'x' },
      400,
      'FW_ERR_BAD_INPUT',
      'repo_url',
      /github\.com/,
    ],
    [
      'a non-issue URL',
      { repo_url: 'https://github.com/a/b', issue_url: 'https://example.com/x' },
      400,
      'FW_ERR_BAD_INPUT',
      'issue_url',
      /issues\/N/,
    ],
    [
      'a blank issue',
      { repo_url: 'https://github.com/a/b', issue_text: '   ' },
      400,
      'FW_ERR_BAD_INPUT',
      'issue_text',
      /blank/,
    ],
    [
      'a path outside the roots',
      { repo_path: '/etc', issue_text: 'x' },
      403,
      'FW_ERR_FORBIDDEN',
      'repo_path',
      /inside one of/,
    ],
    [
      'a path climbing out with ..',
      { repo_path: join(root, 'repo', '..', '..', '..', 'etc'), issue_text: 'x' },
      403,
      'FW_ERR_FORBIDDEN',
      'repo_path',
      /inside one of/,
    ],
    [
      'a symlink out of the root',
      { repo_path: join(root, 'escape'), issue_text: 'x' },
      403,
      'FW_ERR_FORBIDDEN',
      'repo_path',
      /inside one of/,
    ],
    [
      'a missing path outside the roots (no probing of host paths)',
      { repo_path: '/root/surely-not-here', issue_text: 'x' },
      403,
      'FW_ERR_FORBIDDEN',
      'repo_path',
      /inside one of/,
    ],
    ['a relative path', { repo_path: 'repo', issue_text: 'x' }, 400, 'FW_ERR_BAD_INPUT', 'repo_path', /absolute/],
    [
      'a path that does not exist',
      { repo_path: join(root, 'nope'), issue_text: 'x' },
      400,
      'FW_ERR_REPO_NOT_FOUND',
      'repo_path',
      /does not exist/,
    ],
    [
      'a bad model name',
      { repo_url: 'https://github.com/a/b', issue_text: 'x', model: 'a b' },
      400,
      'FW_ERR_BAD_INPUT',
      'model',
      /model must be a model name such as gpt-4o-mini \(letters, digits/,
    ],
  ])('%s', async (_name, payload, status, code, field, message) => {
    const r = await solve(payload);
    expect(r.statusCode).toBe(status);
    const body = r.json();
    expect(body.code).toBe(code);
    expect(body.message).toMatch(message);
    if (field) expect(body.field).toBe(field);
  });

  it('refuses a huge body with 413, and a body that is not JSON with 415', async () => {
    const huge = await solve({ repo_url: 'https://github.com/a/b', issue_text: 'a'.repeat(100_000) });
    expect(huge.statusCode).toBe(413);
    expect(huge.json()).toMatchObject({
      code: 'FW_ERR_BODY_TOO_LARGE',
      message: expect.stringMatching(/FIXWRIGHT_BODY_LIMIT/),
    });
    const text = await solve('hello', { 'content-type': 'text/plain' });
    expect(text.statusCode).toBe(415);
    expect(text.json().code).toBe('FW_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers a client that waits for 100-continue with 413 before it sends an over-limit body, and lets a small one in', async () => {
    await server.listen({ host: '127.0.0.1', port: 0 });
    const { port } = server.server.address() as AddressInfo;
    // Sends the body only after a 100 Continue, as curl does for large bodies; resolves with the
    // final status, whether a 100 came, and the bytes of body actually sent.
    const ask = (body: string) =>
      new Promise<{ status: number; continued: boolean; sent: number; json: { code?: string } }>((done, fail) => {
        let continued = false;
        let sent = 0;
        const req = request({
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/solve',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            expect: '100-continue',
          },
        });
        req.on('continue', () => {
          continued = true;
          sent = Buffer.byteLength(body);
          req.end(body);
        });
        req.on('response', (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => done({ status: res.statusCode ?? 0, continued, sent, json: JSON.parse(text) }));
        });
        req.on('error', fail);
        req.flushHeaders();
      });
    const huge = await ask(JSON.stringify({ repo_url: 'https://github.com/a/b', issue_text: 'a'.repeat(10_000_000) }));
    expect(huge).toMatchObject({ status: 413, continued: false, sent: 0, json: { code: 'FW_ERR_BODY_TOO_LARGE' } });
    const small = await ask('{}');
    expect(small).toMatchObject({ status: 400, continued: true, json: { code: 'FW_ERR_BAD_INPUT' } });
  });

  it('answers 404 for unknown tasks and routes, 400 for bad queries', async () => {
    for (const [method, url] of [
      ['GET', '/api/task/nope'],
      ['POST', '/api/task/nope/cancel'],
      ['GET', '/api/task/nope/patch'],
      ['GET', '/api/task/nope/trajectory'],
      ['GET', '/ws/nope'],
      ['GET', '/api/nothing'],
    ] as const) {
      const r = await server.inject({ method, url });
      expect(r.statusCode, url).toBe(404);
      expect(r.json().code).toBe('FW_ERR_NOT_FOUND');
    }
    expect((await server.inject('/api/tasks?status=sleeping')).json()).toMatchObject({
      code: 'FW_ERR_BAD_INPUT',
      field: 'status',
    });
    expect((await server.inject('/api/tasks?cursor=zzz')).json()).toMatchObject({
      code: 'FW_ERR_BAD_INPUT',
      field: 'cursor',
    });
    expect((await server.inject('/api/tasks?limit=0')).statusCode).toBe(400);
    const long = await server.inject(`/api/task/${'x'.repeat(300)}`);
    expect(long.statusCode).toBeGreaterThanOrEqual(400);
    expect(long.statusCode).toBeLessThan(500);
    expect(Object.keys(long.json()).sort()).toEqual(['code', 'message']);
    expect((await solve('[]')).json()).toMatchObject({
      code: 'FW_ERR_BAD_INPUT',
      message: 'the body must be a JSON object',
    });
  });

  it('serves OpenAPI docs for every route, health, readiness and fixwright_ metrics', async () => {
    const spec = (await server.inject('/docs/json')).json();
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        '/api/solve',
        '/api/task/{id}',
        '/api/tasks',
        '/api/task/{id}/cancel',
        '/ws/{id}',
        '/api/metrics',
        '/healthz',
        '/readyz',
      ]),
    );
    expect(spec.paths['/api/solve'].post.requestBody.content['application/json'].schema.additionalProperties).toBe(
      false,
    );
    expect((await server.inject('/docs')).statusCode).toBeLessThan(400);
    expect((await server.inject('/healthz')).json()).toEqual({ status: 'ok' });
    expect((await server.inject('/readyz')).json()).toMatchObject({
      status: 'ready',
      checks: { store: true, queue: true },
    });
    const metrics = (await server.inject('/metrics')).body;
    for (const name of [
      'fixwright_http_request_duration_seconds',
      'fixwright_queue_waiting',
      'fixwright_queue_active',
      'fixwright_tasks{status="queued"}',
      'fixwright_sandbox_containers',
    ])
      expect(metrics).toContain(name);
    const summary = (await server.inject('/api/metrics')).json();
    expect(summary).toMatchObject({
      by_status: { queued: 0 },
      queue: { waiting: 0, active: 0 },
      tasks: 0,
      resolve_rate: null,
    });
  });
});

describe('access control', () => {
  it('asks for an API key when FIXWRIGHT_API_KEYS is set, on REST and WebSocket routes, but not on probes', async () => {
    const server = await app({ FIXWRIGHT_API_KEYS: 'key-one-123456,key-two-654321' });
    expect((await server.inject('/api/tasks')).json()).toMatchObject({ code: 'FW_ERR_UNAUTHORIZED' });
    expect((await server.inject('/api/tasks')).statusCode).toBe(401);
    expect(
      (await server.inject({ url: '/api/tasks', headers: { authorization: 'Bearer wrong-key-000000' } })).statusCode,
    ).toBe(401);
    expect(
      (await server.inject({ url: '/api/tasks', headers: { authorization: 'Bearer key-two-654321' } })).statusCode,
    ).toBe(200);
    expect((await server.inject({ url: '/api/tasks', headers: { 'x-api-key': 'key-one-123456' } })).statusCode).toBe(
      200,
    );
    expect((await server.inject('/ws/some-task')).statusCode).toBe(401);
    expect((await server.inject('/ws/some-task?api_key=key-one-123456')).statusCode).toBe(404);
    expect((await server.inject({ method: 'POST', url: '/api/solve', payload: {} })).statusCode).toBe(401);
    expect((await server.inject('/healthz')).statusCode).toBe(200);
    expect((await server.inject('/metrics')).statusCode).toBe(200);
    await server.close();
  });

  it('limits the request rate per caller with 429 and a message', async () => {
    const server = await app({ FIXWRIGHT_RATE_LIMIT: '3' });
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await server.inject('/api/tasks')).statusCode);
    expect(codes).toEqual([200, 200, 200, 429]);
    expect((await server.inject('/api/tasks')).json()).toMatchObject({
      code: 'FW_ERR_RATE_LIMITED',
      message: expect.stringMatching(/3 requests a minute/),
    });
    expect((await server.inject('/healthz')).statusCode).toBe(200);
    await server.close();
  });

  it('does not let made-up or guessed keys escape the rate limit', async () => {
    const open = await app({ FIXWRIGHT_RATE_LIMIT: '3' });
    const invented = [];
    for (let i = 0; i < 5; i++)
      invented.push(
        (await open.inject({ url: '/api/tasks', headers: { 'x-api-key': `made-up-key-${i}` } })).statusCode,
      );
    expect(invented).toEqual([200, 200, 200, 429, 429]);
    await open.close();
    const guarded = await app({ FIXWRIGHT_RATE_LIMIT: '3', FIXWRIGHT_API_KEYS: 'the-real-key-123' });
    const guesses = [];
    for (let i = 0; i < 5; i++)
      guesses.push(
        (await guarded.inject({ url: '/api/tasks', headers: { authorization: `Bearer guess-${i}-000000` } }))
          .statusCode,
      );
    expect(guesses).toEqual([401, 401, 401, 429, 429]);
    // The real key has its own bucket.
    expect(
      (await guarded.inject({ url: '/api/tasks', headers: { authorization: 'Bearer the-real-key-123' } })).statusCode,
    ).toBe(200);
    await guarded.close();
  });

  it('answers CORS preflights only for the configured origins', async () => {
    const server = await app({ FIXWRIGHT_CORS_ORIGINS: 'https://ui.example' });
    const preflight = (origin: string) =>
      server.inject({
        method: 'OPTIONS',
        url: '/api/solve',
        headers: { origin, 'access-control-request-method': 'POST' },
      });
    expect((await preflight('https://ui.example')).headers['access-control-allow-origin']).toBe('https://ui.example');
    expect((await preflight('https://evil.example')).headers['access-control-allow-origin']).toBeUndefined();
    await server.close();
  });

  it('refuses bad service settings at start-up, naming each', () => {
    expect(() =>
      loadSettings({ REDIS_URL: 'http://x', FIXWRIGHT_API_KEYS: 'short', FIXWRIGHT_REPO_ROOTS: 'relative/dir' }),
    ).toThrow(/REDIS_URL: .*FIXWRIGHT_API_KEYS: .*FIXWRIGHT_REPO_ROOTS: /);
  });
});
