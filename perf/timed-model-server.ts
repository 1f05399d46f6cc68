/**
 * `perf:agent`'s model: an OpenAI-compatible server on loopback that answers every chat completion
 * with one fixed reply (streamed when the client asks) and records, per request, the server-side
 * time from the request's arrival to the end of its response, so the bench can take the model's
 * share out of a run. Its own (not the project's scripted server): the bench must time requests
 * the same way whatever build it measures.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Interval } from './agent-loop-timing.js';

/** One request the server answered: its path and when it arrived and ended (epoch ms). */
export interface TimedRequest extends Interval {
  path: string;
}

/** A running timed model server. */
export interface TimedModelServer {
  /** Base URL for OpenAI clients, ending in /v1. */
  url: string;
  /** Every request answered so far, in order of arrival. */
  requests: TimedRequest[];
  close(): Promise<void>;
}

/** Epoch milliseconds with sub-millisecond precision (Date.now() has whole milliseconds). */
export const nowMs = (): number => performance.timeOrigin + performance.now();

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const parsed: unknown = text ? JSON.parse(text) : {};
  return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
}

/** A deterministic unit vector for a text (the localiser may ask for embeddings). */
function embedding(text: string, dimensions = 64): number[] {
  const v = new Array<number>(dimensions).fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9_]+/g) ?? []) {
    let h = 2166136261;
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 16777619);
    v[(h >>> 0) % dimensions]! += 1;
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => x / norm);
}

function chat(body: Record<string, unknown>, reply: string, res: ServerResponse, serial: number): void {
  const model = typeof body.model === 'string' ? body.model : 'scripted';
  const prompt = JSON.stringify(body.messages ?? []).length;
  const usage = {
    prompt_tokens: Math.ceil(prompt / 4),
    completion_tokens: Math.ceil(reply.length / 4),
    total_tokens: Math.ceil(prompt / 4) + Math.ceil(reply.length / 4),
  };
  const base = { id: `chatcmpl-bench-${serial}`, created: Math.floor(Date.now() / 1000), model };
  if (body.stream !== true) {
    return sendJson(res, 200, {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }],
      usage,
    });
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`;
  (reply.match(/[\s\S]{1,40}/g) ?? ['']).forEach((piece, i) => {
    res.write(
      chunk([
        { index: 0, delta: i === 0 ? { role: 'assistant', content: piece } : { content: piece }, finish_reason: null },
      ]),
    );
  });
  res.write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
  const options = body.stream_options as { include_usage?: boolean } | undefined;
  if (options?.include_usage) res.write(chunk([], { usage }));
  res.end('data: [DONE]\n\n');
}

/** Starts the server on 127.0.0.1 (a free port); every chat completion answers `reply`. */
export async function startTimedModelServer(reply: string): Promise<TimedModelServer> {
  const requests: TimedRequest[] = [];
  let serial = 0;
  const server = createServer((req, res) => {
    const record: TimedRequest = { path: (req.url ?? '').split('?')[0]!, start: nowMs(), end: Number.NaN };
    requests.push(record);
    // 'close' too: a client that hangs up early still ends the request's time.
    const ended = () => {
      if (Number.isNaN(record.end)) record.end = nowMs();
    };
    res.once('finish', ended);
    res.once('close', ended);
    void (async () => {
      let body: Record<string, unknown>;
      try {
        body = await readBody(req);
      } catch {
        return sendJson(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
      }
      const path = record.path.replace(/\/+$/, '');
      if (path.endsWith('/models') && req.method === 'GET')
        return sendJson(res, 200, { object: 'list', data: [{ id: 'scripted', object: 'model' }] });
      if (path.endsWith('/chat/completions') && req.method === 'POST') return chat(body, reply, res, ++serial);
      if (path.endsWith('/embeddings') && req.method === 'POST') {
        const inputs = Array.isArray(body.input) ? body.input : [body.input];
        // The openai client asks for base64 unless told otherwise, and decodes it.
        const encode = (v: number[]) =>
          body.encoding_format === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v;
        const data = inputs.map((text, index) => ({
          object: 'embedding',
          index,
          embedding: encode(embedding(String(text))),
        }));
        return sendJson(res, 200, {
          object: 'list',
          data,
          model: body.model ?? 'scripted',
          usage: { prompt_tokens: 1, total_tokens: 1 },
        });
      }
      sendJson(res, 404, { error: { message: `no route ${record.path}`, type: 'invalid_request_error' } });
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
