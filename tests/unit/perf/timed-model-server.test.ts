import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nowMs, startTimedModelServer, type TimedModelServer } from '../../../perf/timed-model-server.js';

const REPLY = 'a reply longer than one forty-character chunk, so the stream has several pieces';
let server: TimedModelServer;

beforeAll(async () => {
  server = await startTimedModelServer(REPLY);
});
afterAll(() => server.close());

const post = (path: string, body: unknown) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe("perf:agent's model server", () => {
  it('answers a chat completion with the reply and times the request', async () => {
    const before = nowMs();
    const res = await post('/chat/completions', { model: 'scripted', messages: [{ role: 'user', content: 'fix it' }] });
    const body = (await res.json()) as {
      choices: Array<{ message: { content: string } }>;
      usage: { total_tokens: number };
    };
    const after = nowMs();
    expect(body.choices[0]!.message.content).toBe(REPLY);
    expect(body.usage.total_tokens).toBeGreaterThan(0);
    const timed = server.requests.at(-1)!;
    expect(timed.path).toBe('/v1/chat/completions');
    expect(timed.start).toBeGreaterThanOrEqual(before);
    expect(timed.end).toBeGreaterThanOrEqual(timed.start);
    expect(timed.end).toBeLessThanOrEqual(after);
  });

  it('streams when asked, the reply in pieces then usage and [DONE]', async () => {
    const res = await post('/chat/completions', {
      model: 'scripted',
      stream: true,
      stream_options: { include_usage: true },
      messages: [],
    });
    const text = await res.text();
    const events = text
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => e.slice('data: '.length));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events
      .slice(0, -1)
      .map((e) => JSON.parse(e) as { choices: Array<{ delta: { content?: string } }>; usage?: unknown });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(REPLY);
    expect(chunks.filter((c) => c.choices.length > 0 && c.choices[0]!.delta.content).length).toBeGreaterThan(1);
    expect(chunks.at(-1)!.usage).toBeDefined();
    expect(Number.isNaN(server.requests.at(-1)!.end)).toBe(false);
  });

  it('lists the model, embeds (base64 when asked) and refuses other routes', async () => {
    expect(((await (await fetch(`${server.url}/models`)).json()) as { data: Array<{ id: string }> }).data[0]!.id).toBe(
      'scripted',
    );
    const plain = (await (await post('/embeddings', { input: ['a b', 'c'] })).json()) as {
      data: Array<{ embedding: number[] }>;
    };
    expect(plain.data).toHaveLength(2);
    expect(Math.hypot(...plain.data[0]!.embedding)).toBeCloseTo(1, 6);
    const b64 = (await (await post('/embeddings', { input: 'a b', encoding_format: 'base64' })).json()) as {
      data: Array<{ embedding: string }>;
    };
    const bytes = Buffer.from(b64.data[0]!.embedding, 'base64');
    const decoded = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    expect(Array.from(decoded)).toEqual(plain.data[0]!.embedding.map((x) => Math.fround(x)));
    expect((await post('/completions', {})).status).toBe(404);
  });
});
