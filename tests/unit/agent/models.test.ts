import { afterEach, describe, expect, it } from 'vitest';
import { callCost, callModel, createChatModel } from '../../../agent/models.js';
import { type ScriptedServer, startScriptedOpenAIServer } from '../../../core/scripted-openai-server.js';

// The real @langchain/openai client over HTTP against the scripted server on 127.0.0.1.
describe('chat models over OpenAI-compatible HTTP', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('returns the reply with token usage and cost, streaming or not', async () => {
    server = await startScriptedOpenAIServer({
      replies: ['first answer', 'second answer, streamed in pieces of forty characters or so'],
    });
    const plain = await callModel(createChatModel({ model: 'gpt-4o-mini', baseURL: server.url, apiKey: 'sk-test' }), [
      ['system', 'You fix bugs.'],
      ['user', 'Fix it.'],
    ]);
    expect(plain.text).toBe('first answer');
    expect(plain.inputTokens).toBeGreaterThan(0);
    expect(plain.outputTokens).toBe(3);
    expect(plain.priced).toBe(true);
    expect(plain.costUsd).toBeCloseTo((plain.inputTokens * 0.15 + 3 * 0.6) / 1e6);
    const streamed = await callModel(createChatModel({ model: 'local-coder', baseURL: server.url, streaming: true }), [
      ['user', 'again'],
    ]);
    expect(streamed.text).toBe('second answer, streamed in pieces of forty characters or so');
    expect(streamed.outputTokens).toBeGreaterThan(0);
    expect(streamed).toMatchObject({ costUsd: 0, priced: false });
    const body = server.requests.at(-1)?.body as { stream: boolean; model: string };
    expect(body).toMatchObject({ stream: true, model: 'local-coder' });
  });

  it('retries 500s, and reports a model that keeps failing or times out', async () => {
    server = await startScriptedOpenAIServer({ replies: [{ status: 500 }, { status: 503 }, 'recovered'] });
    const model = createChatModel({ model: 'm', baseURL: server.url, maxRetries: 2 });
    expect((await callModel(model, [['user', 'x']])).text).toBe('recovered');
    await server.close();

    server = await startScriptedOpenAIServer({ replies: [{ status: 500 }] });
    await expect(
      callModel(createChatModel({ model: 'm', baseURL: server.url, maxRetries: 1 }), [['user', 'x']]),
    ).rejects.toMatchObject({
      code: 'FW_ERR_MODEL',
      message: expect.stringMatching(/^the model m failed: /),
    });
    await server.close();

    server = await startScriptedOpenAIServer({ replies: [{ delayMs: 3000, reply: 'too late' }] });
    const started = Date.now();
    await expect(
      callModel(createChatModel({ model: 'm', baseURL: server.url, timeoutMs: 300, maxRetries: 0 }), [['user', 'x']]),
    ).rejects.toMatchObject({ code: 'FW_ERR_MODEL' });
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('is cancellable', async () => {
    server = await startScriptedOpenAIServer({ replies: [{ delayMs: 3000, reply: 'never' }] });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    await expect(
      callModel(createChatModel({ model: 'm', baseURL: server.url, maxRetries: 0 }), [['user', 'x']], {
        signal: controller.signal,
      }),
    ).rejects.toMatchObject({
      code: 'FW_ERR_CANCELLED',
    });
  });

  it('refuses configurations that cannot work', () => {
    expect(() => createChatModel({ model: 'm', provider: 'compatible' })).toThrow(/needs a base URL/);
    expect(() => createChatModel({ model: 'gpt-4o', provider: 'openai' })).toThrow(/needs an API key/);
    expect(callCost('unknown-model', 1000, 1000)).toEqual({ costUsd: 0, priced: false });
  });
});
