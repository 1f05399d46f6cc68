import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { LocalTaskQueue } from '../../api/queue/local-queue.js';
import { DiskTaskStore } from '../../api/store/disk-store.js';
import { loadSettings } from '../../core/config.js';
import { createLogger } from '../../core/logger.js';
import type { EditResponse } from '../../quickfix/types.js';
import { Redis } from 'ioredis';
import { startLocalRedis } from '../../core/local-redis.js';
import {
  type ScriptedReply,
  type ScriptedServer,
  startScriptedOpenAIServer,
} from '../../core/scripted-openai-server.js';

const dirs: string[] = [];
const open: Array<{ close(): Promise<unknown> }> = [];

/** The real app listening on loopback (as `fixwright serve` builds it), with a scripted model when replies are given. */
async function serve(
  options: { replies?: ScriptedReply[]; env?: Record<string, string>; redis?: Redis } = {},
): Promise<{ url: string; app: FastifyInstance; model?: ScriptedServer }> {
  const model = options.replies ? await startScriptedOpenAIServer({ replies: options.replies }) : undefined;
  if (model) open.push(model);
  const dataDir = mkdtempSync(join(tmpdir(), 'fw-edit-'));
  dirs.push(dataDir);
  const settings = loadSettings({
    FIXWRIGHT_DATA_DIR: dataDir,
    ...(model ? { FIXWRIGHT_MODEL: 'scripted', OPENAI_BASE_URL: model.url, OPENAI_API_KEY: 'test' } : {}),
    ...options.env,
  });
  const logger = createLogger('silent');
  const store = new DiskTaskStore(join(dataDir, 'tasks'));
  const queue = new LocalTaskQueue(async () => undefined, 1, logger);
  const app = await buildApp({
    settings,
    store,
    queue,
    logger,
    version: 'test',
    ...(options.redis ? { redis: options.redis } : {}),
  });
  open.push(app);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, app, model };
}

/**
 * What `POST /v1/edit` answers: an EditResponse with 200, the error's code, message and field with 4xx; each test
 * reads the fields of the status it expects.
 */
type EditReply = EditResponse & { code?: string; message?: string; field?: string };

async function post(url: string, body: unknown): Promise<{ status: number; body: EditReply }> {
  const response = await fetch(`${url}/v1/edit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((s) => s.close()));
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const ADD = 'def add(a, b):\n    return a - b\n';
const FIX = '@@ 2-2\n-    return a - b\n+    return a + b\n';
const addRequest = {
  language: 'python',
  code: ADD,
  start_line: 1,
  end_line: 2,
  diagnostics: ['test_add: assert add(2, 3) == 5 failed: -1 != 5'],
  instruction: 'fix the bug',
};
const chats = (model: ScriptedServer) => model.requests.filter((r) => r.path.endsWith('/chat/completions'));

describe('POST /v1/edit over HTTP', () => {
  it('rule tier: fixes a near-miss undefined name with no model configured, verified by pyflakes', async () => {
    const { url } = await serve();
    const r = await post(url, {
      language: 'python',
      code: 'def total(items):\n    for i in itm:\n        print(i)\n',
      start_line: 1,
      end_line: 3,
      diagnostics: ["NameError: name 'itm' is not defined at line 2"],
      instruction: 'fix errors only',
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'edited',
      tier: 'rule',
      model_version: null,
      model_rounds: 0,
      edits: [{ start_line: 2, end_line: 2, replacement: '    for i in items:\n' }],
    });
    expect(r.body.raw_patch_dsl).toBe('@@ 2-2\n-    for i in itm:\n+    for i in items:');
    expect(r.body.verification).toMatchObject({
      applies: true,
      parses: true,
      fixed: true,
      analyser: { available: true },
    });
    expect(r.body.verification.diagnostics_before.map((d: { message: string }) => d.message)).toEqual([
      "undefined name 'itm'",
    ]);
    expect(r.body.verification.diagnostics_after).toEqual([]);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/fixwright_edit_requests_total\{tier="rule",status="edited"\} [1-9]/);
    expect(metrics).toMatch(/fixwright_edit_duration_seconds_count\{tier="rule"\} [1-9]/);
  });

  it('without a model, a diagnostic no rule can fix gets no edits and says why', async () => {
    const { url } = await serve();
    const r = await post(url, addRequest);
    expect(r.status).toBe(200);
    // Only the rule tier ran: the answer says so, and is not cached (a model may be configured later).
    expect(r.body).toMatchObject({
      status: 'no_edits',
      tier: 'rule',
      model_version: null,
      model_rounds: 0,
      edits: [],
      verification: { fixed: 'unknown' },
    });
    expect(r.body.reason).toMatch(
      /no rule fixer produced a verified fix, and the model tier is unavailable: no model is configured/,
    );
    expect((await post(url, addRequest)).body.tier).toBe('rule');
  });

  it("model tier: the scripted model's line-range fix comes back verified, from a numbered prompt", async () => {
    const { url, model } = await serve({ replies: [FIX] });
    const r = await post(url, addRequest);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'edited',
      tier: 'model',
      model_version: 'scripted',
      model_rounds: 1,
      edits: [{ start_line: 2, end_line: 2, replacement: '    return a + b\n' }],
    });
    // A failing test is not something pyflakes or the parser reports: no fix is claimed.
    expect(r.body.verification).toMatchObject({ applies: true, parses: true, fixed: 'unknown' });
    expect(r.body.verification.checked.join(' ')).toMatch(/pyflakes/);
    expect(r.body.timings_ms.overhead).toBeLessThan(r.body.timings_ms.total + 0.01);
    const prompt = JSON.stringify(chats(model!)[0]!.body);
    expect(prompt).toContain('2|     return a - b');
    expect(prompt).toContain('Lines you may edit: 1-2');
  });

  it('an edit that does not parse gets one repair round told exactly what failed, then the correct fix', async () => {
    const { url, model } = await serve({ replies: ['@@ 2-2\n-    return a - b\n+    return (a + b\n', FIX] });
    const r = await post(url, addRequest);
    expect(r.body).toMatchObject({
      status: 'edited',
      tier: 'model',
      model_rounds: 2,
      edits: [{ replacement: '    return a + b\n' }],
    });
    const repair = JSON.stringify(chats(model!)[1]!.body);
    expect(repair).toMatch(/does not parse \(first syntax error near line 2\)/);
    expect(repair).toContain('return (a + b');
  });

  it('an edit that adds a new pyflakes problem is refused; two bad answers give no edits, never the bad ones', async () => {
    const bad = '@@ 2-2\n-    return a - b\n+    return a + c\n';
    const { url } = await serve({ replies: [bad, bad] });
    const r = await post(url, addRequest);
    expect(r.body).toMatchObject({ status: 'no_edits', edits: [], model_rounds: 2 });
    expect(r.body.reason).toMatch(/new problems:\n- line 2: undefined name 'c'/);
    // No edits go out: the verification is of the code as it stands, not of the refused proposal,
    // and a failing test is nothing pyflakes reports, so whether it is fixed is unknown.
    expect(r.body.verification).toMatchObject({
      applies: true,
      parses: true,
      fixed: 'unknown',
      diagnostics_after: r.body.verification.diagnostics_before,
    });
    expect(JSON.stringify(r.body.verification.diagnostics_after)).not.toContain("'c'");
  });

  it('NO_EDITS: nothing safe to do, no edits', async () => {
    const { url } = await serve({ replies: ['Nothing to change here.\n```\nNO_EDITS\n```'] });
    const r = await post(url, addRequest);
    expect(r.body).toMatchObject({ status: 'no_edits', tier: 'model', edits: [], raw_patch_dsl: '' });
    expect(r.body.reason).toMatch(/NO_EDITS/);
  });

  it('KEEP_PREVIOUS: the earlier proposal stands, re-verified', async () => {
    const { url, model } = await serve({ replies: ['```\nKEEP_PREVIOUS\n```'] });
    const r = await post(url, { ...addRequest, previous: FIX });
    expect(r.body).toMatchObject({
      status: 'kept_previous',
      tier: 'model',
      edits: [{ start_line: 2, end_line: 2, replacement: '    return a + b\n' }],
    });
    expect(r.body.verification).toMatchObject({ applies: true, parses: true });
    expect(JSON.stringify(chats(model!)[0]!.body)).toContain('previous proposal');
  });

  it('an edit that undoes the previous proposal the instruction asks to keep is refused, with that reason', async () => {
    const hints = '@@ 1-2\n-def add(a, b):\n-    return a - b\n+def add(a: int, b: int) -> int:\n+    return a - b\n';
    const both = '@@ 1-2\n-def add(a, b):\n-    return a - b\n+def add(a: int, b: int) -> int:\n+    return a + b\n';
    const { url, model } = await serve({ replies: [hints, both] });
    const r = await post(url, { ...addRequest, instruction: 'add type hints; keep the previous fix', previous: FIX });
    expect(r.body).toMatchObject({
      status: 'edited',
      model_rounds: 2,
      edits: [{ start_line: 1, end_line: 2, replacement: 'def add(a: int, b: int) -> int:\n    return a + b\n' }],
    });
    expect(JSON.stringify(chats(model!)[1]!.body)).toMatch(
      /asks to keep the previous proposal, but your edits undo its change @@ 2-2/,
    );
  });

  it('an edit outside the requested region is rejected (and not returned after the repair round either)', async () => {
    const code = 'import os\n\ndef add(a, b):\n    return a - b\n';
    const outside = '@@ 1-1\n-import os\n+import sys\n';
    const { url, model } = await serve({ replies: [outside, outside] });
    const r = await post(url, { ...addRequest, code, start_line: 3, end_line: 4 });
    expect(r.body).toMatchObject({ status: 'no_edits', edits: [], model_rounds: 2 });
    expect(r.body.reason).toMatch(/@@ 1-1 is outside the lines you may edit \(3-4\)/);
    expect(JSON.stringify(chats(model!)[1]!.body)).toMatch(/outside the lines you may edit/);
  });

  it('an import the model adds at the top, outside the region, is allowed and reported; other edits there are not', async () => {
    const code = 'import os\n\ndef add(a, b):\n    return a - b\n';
    const withImport = '@@ 1-1\n+import operator\n@@ 4-4\n-    return a - b\n+    return operator.add(a, b)\n';
    const { url, model } = await serve({ replies: [withImport] });
    const r = await post(url, { ...addRequest, code, start_line: 3, end_line: 4 });
    expect(r.body).toMatchObject({ status: 'edited', tier: 'model', model_rounds: 1 });
    expect(r.body.edits).toEqual([
      { start_line: 2, end_line: 1, replacement: 'import operator\n' },
      { start_line: 4, end_line: 4, replacement: '    return operator.add(a, b)\n' },
    ]);
    expect(r.body.outside_region).toEqual([
      {
        start_line: 2,
        end_line: 1,
        replacement: 'import operator\n',
        reason: expect.stringMatching(/import added at the top/),
      },
    ]);
    expect(JSON.stringify(chats(model!)[0]!.body)).toMatch(/you may only add import lines at the top/);
  });

  it('with allow_imports: false an import at the top is refused like any edit outside the region', async () => {
    const withImport = '@@ 1-1\n+import operator\n@@ 4-4\n-    return a - b\n+    return operator.add(a, b)\n';
    const { url, model } = await serve({ replies: [withImport, withImport] });
    const r = await post(url, {
      ...addRequest,
      code: 'import os\n\ndef add(a, b):\n    return a - b\n',
      start_line: 3,
      end_line: 4,
      allow_imports: false,
    });
    expect(r.body).toMatchObject({ status: 'no_edits', edits: [], model_rounds: 2 });
    expect(r.body.reason).toMatch(
      /outside the lines you may edit \(3-4\); imports may not be added at the top \(allow_imports is false\)/,
    );
    expect(r.body.outside_region).toBeUndefined();
    expect(JSON.stringify(chats(model!)[0]!.body)).not.toMatch(/add import lines/);
  });

  it('rule tier: a previous fix the instruction keeps stays in the answer, with the rule fix on top', async () => {
    const { url } = await serve();
    const code = 'def add(a, b):\n    return a - b\n\ndef total(items):\n    for i in itm:\n        print(i)\n';
    const r = await post(url, {
      language: 'python',
      code,
      start_line: 1,
      end_line: 6,
      diagnostics: ["undefined name 'itm'"],
      instruction: 'fix errors only; keep the previous fix',
      previous: FIX,
    });
    expect(r.body).toMatchObject({ status: 'edited', tier: 'rule', verification: { fixed: true } });
    expect(r.body.edits).toEqual([
      { start_line: 2, end_line: 2, replacement: '    return a + b\n' },
      { start_line: 5, end_line: 5, replacement: '    for i in items:\n' },
    ]);
  });

  it('more edits than max_edits are rejected', async () => {
    const two = '@@ 1-1\n-def add(a, b):\n+def add(a, b):  # sum\n@@ 2-2\n-    return a - b\n+    return a + b\n';
    const { url } = await serve({ replies: [two, FIX] });
    const r = await post(url, { ...addRequest, max_edits: 1 });
    expect(r.body).toMatchObject({ status: 'edited', model_rounds: 2, edits: [{ start_line: 2 }] });
  });

  it('a repeated request is a cache hit: same edits, no model call, counted on /metrics', async () => {
    const { url, model } = await serve({ replies: [FIX] });
    const first = await post(url, addRequest);
    const second = await post(url, addRequest);
    expect(first.body.tier).toBe('model');
    expect(second.body).toMatchObject({
      tier: 'cache',
      cached_tier: 'model',
      status: 'edited',
      edits: first.body.edits,
      raw_patch_dsl: first.body.raw_patch_dsl,
    });
    expect(chats(model!)).toHaveLength(1);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/fixwright_edit_cache_lookups_total\{result="hit"\} [1-9]/);
    expect(metrics).toMatch(/fixwright_edit_cache_lookups_total\{result="miss"\} [1-9]/);
  });

  it('the file path is part of the cache key (the model is shown it)', async () => {
    const { url, model } = await serve({ replies: [FIX, FIX] });
    expect((await post(url, { ...addRequest, file_path: 'a.py' })).body.tier).toBe('model');
    const other = await post(url, { ...addRequest, file_path: 'b.py' });
    expect(other.body.tier).toBe('model');
    expect(chats(model!)).toHaveLength(2);
    expect(JSON.stringify(chats(model!)[1]!.body)).toContain('File: b.py');
    expect((await post(url, { ...addRequest, file_path: 'b.py' })).body.tier).toBe('cache');
  });

  it("the LRU's bounds come from the settings: with FIXWRIGHT_EDIT_CACHE_ENTRIES=1 a second answer evicts the first", async () => {
    const { url, model } = await serve({ replies: [FIX, FIX, FIX], env: { FIXWRIGHT_EDIT_CACHE_ENTRIES: '1' } });
    await post(url, addRequest);
    expect((await post(url, addRequest)).body.tier).toBe('cache');
    await post(url, { ...addRequest, file_path: 'other.py' });
    expect((await post(url, addRequest)).body.tier).toBe('model');
    expect(chats(model!)).toHaveLength(3);
  });

  it("with Redis, a second API process answers from the first one's cache", async () => {
    const redis = await startLocalRedis();
    const clients = [new Redis(redis.url), new Redis(redis.url)];
    try {
      const first = await serve({ replies: [FIX], redis: clients[0] });
      const second = await serve({ replies: ['```\nNO_EDITS\n```'], redis: clients[1] });
      expect((await post(first.url, addRequest)).body.tier).toBe('model');
      // Same model name on both ("scripted"), so the same key: the second server's model is never asked.
      const r = await post(second.url, addRequest);
      expect(r.body).toMatchObject({
        tier: 'cache',
        cached_tier: 'model',
        status: 'edited',
        edits: [{ replacement: '    return a + b\n' }],
      });
      expect(chats(second.model!)).toHaveLength(0);
    } finally {
      await Promise.allSettled(open.splice(0).map((s) => s.close()));
      for (const c of clients) c.disconnect();
      await redis.stop();
    }
  });

  it('without pyflakes (no analysis image) it says so in verification instead of claiming a fix', async () => {
    const { url } = await serve({ env: { FIXWRIGHT_SANDBOX_IMAGE: 'fixwright-sandbox:no-such-image' } });
    const r = await post(url, {
      language: 'python',
      code: 'def total(items):\n    for i in itm:\n        print(i)\n',
      start_line: 1,
      end_line: 3,
      diagnostics: ["NameError: name 'itm' is not defined at line 2"],
    });
    expect(r.body).toMatchObject({
      status: 'edited',
      tier: 'rule',
      verification: { applies: true, parses: true, fixed: 'unknown', analyser: { available: false } },
    });
    expect(r.body.verification.analyser.reason).toMatch(/no-such-image is missing/);
    expect(r.body.verification.reason).toMatch(/no fix is claimed/);
  });
});

describe('POST /v1/edit input checks: precise 4xx with {code, message, field}', () => {
  it.each([
    [
      'no code',
      { language: 'python', start_line: 1, end_line: 1 },
      400,
      'FW_ERR_BAD_INPUT',
      'code',
      /code is required/,
    ],
    [
      'blank code',
      { language: 'python', code: '  \n', start_line: 1, end_line: 1 },
      400,
      'FW_ERR_BAD_INPUT',
      'code',
      /code is empty/,
    ],
    [
      'an unknown language',
      { language: 'cobol', code: 'x', start_line: 1, end_line: 1 },
      400,
      'FW_ERR_BAD_INPUT',
      'language',
      /unknown language "cobol": quick fixes support python/,
    ],
    [
      'a region past the end of the code',
      { language: 'python', code: 'x = 1\n', start_line: 1, end_line: 9 },
      400,
      'FW_ERR_BAD_INPUT',
      'end_line',
      /past the end of the code \(1 lines\)/,
    ],
    [
      'a region that starts past the end',
      { language: 'python', code: 'x = 1\n', start_line: 5, end_line: 9 },
      400,
      'FW_ERR_BAD_INPUT',
      'start_line',
      /past the end/,
    ],
    [
      'a region running backwards',
      { language: 'python', code: 'x = 1\ny = 2\n', start_line: 2, end_line: 1 },
      400,
      'FW_ERR_BAD_INPUT',
      'end_line',
      /before start_line/,
    ],
    [
      'line 0',
      { language: 'python', code: 'x = 1\n', start_line: 0, end_line: 1 },
      400,
      'FW_ERR_BAD_INPUT',
      'start_line',
      />= 1/,
    ],
    [
      'too many edits allowed',
      { language: 'python', code: 'x = 1\n', start_line: 1, end_line: 1, max_edits: 50 },
      400,
      'FW_ERR_BAD_INPUT',
      'max_edits',
      /<= 20/,
    ],
    [
      'an unknown field',
      { language: 'python', code: 'x = 1\n', start_line: 1, end_line: 1, model: 'gpt' },
      400,
      'FW_ERR_BAD_INPUT',
      'model',
      /not a known field/,
    ],
    [
      'a diagnostic past the end of the code',
      {
        language: 'python',
        code: 'x = y\n',
        start_line: 1,
        end_line: 1,
        diagnostics: [{ line: 999, message: "undefined name 'y'" }],
      },
      400,
      'FW_ERR_BAD_INPUT',
      'diagnostics.0.line',
      /diagnostics\[0\]\.line 999 is past the end of the code \(1 lines\)/,
    ],
    [
      'a diagnostic object with a bad line',
      {
        language: 'python',
        code: 'x = y\n',
        start_line: 1,
        end_line: 1,
        diagnostics: ['ok', { line: 0, message: "undefined name 'y'" }],
      },
      400,
      'FW_ERR_BAD_INPUT',
      'diagnostics.1.line',
      /diagnostics\.1\.line must be >= 1/,
    ],
    [
      'a diagnostic object without a message',
      { language: 'python', code: 'x = y\n', start_line: 1, end_line: 1, diagnostics: [{ line: 1 }] },
      400,
      'FW_ERR_BAD_INPUT',
      'diagnostics.0.message',
      /diagnostics\.0\.message is required/,
    ],
    [
      'a diagnostic object with an unknown field',
      {
        language: 'python',
        code: 'x = y\n',
        start_line: 1,
        end_line: 1,
        diagnostics: [{ message: "undefined name 'y'", range: {} }],
      },
      400,
      'FW_ERR_BAD_INPUT',
      'diagnostics.0.range',
      /not a known field/,
    ],
    [
      'an empty diagnostic string',
      { language: 'python', code: 'x = y\n', start_line: 1, end_line: 1, diagnostics: [''] },
      400,
      'FW_ERR_BAD_INPUT',
      'diagnostics.0',
      /fewer than 1 characters/,
    ],
    [
      'a previous proposal that is not DSL',
      { language: 'python', code: 'x = 1\n', start_line: 1, end_line: 1, previous: 'just do it' },
      400,
      'FW_ERR_BAD_INPUT',
      'previous',
      /raw_patch_dsl/,
    ],
  ])('%s', async (_name, body, status, code, field, message) => {
    const { url } = await serve();
    const r = await post(url, body);
    expect(r.status).toBe(status);
    expect(r.body).toMatchObject({ code, field });
    expect(r.body.message).toMatch(message);
  });

  it('diagnostic objects as the README documents them, and as editors send them, are accepted', async () => {
    const { url } = await serve();
    const code = 'def total(items):\n    for i in itm:\n        print(i)\n';
    for (const diagnostic of [
      { line: 2, message: "undefined name 'itm'", code: 'F821' },
      { line: 2, column: 13, message: "undefined name 'itm'", code: 821, severity: 'error', source: 'flake8' },
      { line: 2, column: 13, message: '"itm" is not defined', severity: 1, source: 'pyright' },
    ]) {
      const r = await post(url, { language: 'python', code, start_line: 1, end_line: 3, diagnostics: [diagnostic] });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({
        status: 'edited',
        tier: 'rule',
        edits: [{ start_line: 2, replacement: '    for i in items:\n' }],
        verification: { fixed: true },
      });
    }
  });

  it("a line read out of a diagnostic's text past the end of the code is not taken as this code's line", async () => {
    const { url } = await serve();
    const r = await post(url, {
      language: 'python',
      code: 'def total(items):\n    for i in itm:\n        print(i)\n',
      start_line: 1,
      end_line: 3,
      diagnostics: ["app.py:999:5: F821 undefined name 'itm'"],
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'edited', tier: 'rule', edits: [{ start_line: 2 }] });
  });

  it('5 MB of code is refused by the body limit (413)', async () => {
    const { url } = await serve();
    const r = await post(url, { language: 'python', code: 'x = 1\n'.repeat(900_000), start_line: 1, end_line: 1 });
    expect(r.status).toBe(413);
    expect(r.body.code).toBe('FW_ERR_BODY_TOO_LARGE');
  });

  it('code over the quick-fix size limit is refused (413, field code) even when the body limit allows it', async () => {
    const { url } = await serve({ env: { FIXWRIGHT_BODY_LIMIT: '8m' } });
    const r = await post(url, { language: 'python', code: 'x = 1\n'.repeat(900_000), start_line: 1, end_line: 1 });
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ code: 'FW_ERR_BODY_TOO_LARGE', field: 'code' });
  });

  it('needs the API key when the server has keys', async () => {
    const { url } = await serve({ env: { FIXWRIGHT_API_KEYS: 'k-12345678' } });
    const r = await post(url, { language: 'python', code: 'x = 1\n', start_line: 1, end_line: 1 });
    expect(r.status).toBe(401);
  });
});
