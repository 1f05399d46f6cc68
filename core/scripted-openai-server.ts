import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scripted chat reply: text, an HTTP error, or a reply that comes late. */
export type ScriptedReply = string | { status: number; message?: string } | { delayMs: number; reply: string };

/**
 * A scripted OpenAI-compatible HTTP server for tests, benches and offline demos: the real client
 * libraries talk to it over HTTP on loopback. It serves `/v1/models`, `/v1/embeddings` with
 * deterministic hashed bag-of-words vectors (texts sharing words get similar vectors), and
 * `/v1/chat/completions` from a script (one reply per request, the last one repeating; streaming
 * too, with usage), and can be told to fail its first requests, as a flaky provider does.
 */
export interface ScriptedServerOptions {
  /** Chat replies, one per request in order; the last repeats. */
  replies?: ScriptedReply[];
  /**
   * Chooses each chat reply from the request instead (wins over `replies`): a script that answers
   * what it is asked, so it keeps working when the agent's steps change order.
   */
  respond?: (request: ScriptedChatRequest, index: number) => ScriptedReply;
  /** Loopback only: 127.0.0.1 (default) or ::1. */
  host?: '127.0.0.1' | '::1';
  port?: number;
  embeddingDimensions?: number;
  /** The first N requests to /v1/* answer 500. */
  failFirst?: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
}

/** A running scripted server. */
export interface ScriptedServer {
  /** Base URL for OpenAI clients, ending in /v1. */
  url: string;
  /** Every request received: path and parsed JSON body. */
  requests: Array<{ path: string; body: unknown }>;
  close(): Promise<void>;
}

function hash(token: string): number {
  let h = 2166136261;
  for (let i = 0; i < token.length; i++) h = Math.imul(h ^ token.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** The deterministic embedding of a text: hashed lower-cased word counts, unit length. */
export function scriptedEmbedding(text: string, dimensions: number): number[] {
  const v = new Array<number>(dimensions).fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9_]+/g) ?? []) {
    const h = hash(word);
    v[h % dimensions]! += h & 0x80000000 ? -1 : 1;
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => x / norm);
}

/** The parts of a chat request a script may read. */
export interface ScriptedChatRequest {
  model?: string;
  messages?: Array<{ role?: string; content?: unknown }>;
  temperature?: number;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

/** Requests kept for inspection; tests read a handful, a demo server runs for days. */
const MAX_KEPT_REQUESTS = 1000;

/** Starts the server on loopback; `close()` stops it. */
export async function startScriptedOpenAIServer(options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  const dimensions = options.embeddingDimensions ?? 64;
  let failuresLeft = options.failFirst ?? 0;
  const requests: ScriptedServer['requests'] = [];
  const replies = options.replies ?? ['```\nNO_EDITS\n```'];
  let chatCount = 0;
  const chat = async (body: ScriptedChatRequest, res: ServerResponse) => {
    const index = chatCount++;
    const step = options.respond ? options.respond(body, index) : replies[Math.min(index, replies.length - 1)]!;
    if (typeof step === 'object' && 'status' in step) {
      return send(res, step.status, { error: { message: step.message ?? 'scripted error', type: 'server_error' } });
    }
    let text = typeof step === 'string' ? step : step.reply;
    if (typeof step === 'object' && 'delayMs' in step) {
      await new Promise((r) => setTimeout(r, step.delayMs));
      if (res.destroyed) return;
      text = step.reply;
    }
    const prompt = JSON.stringify(body.messages ?? []).length;
    const usage = {
      prompt_tokens: Math.ceil(prompt / 4),
      completion_tokens: Math.ceil(text.length / 4),
      total_tokens: Math.ceil(prompt / 4) + Math.ceil(text.length / 4),
    };
    const base = {
      id: `chatcmpl-scripted-${chatCount}`,
      created: Math.floor(Date.now() / 1000),
      model: body.model ?? 'scripted',
    };
    if (!body.stream) {
      return send(res, 200, {
        ...base,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
        usage,
      });
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const pieces = text.match(/[\s\S]{1,40}/g) ?? [''];
    pieces.forEach((piece, i) => {
      const delta = i === 0 ? { role: 'assistant', content: piece } : { content: piece };
      res.write(
        `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`,
      );
    });
    res.write(
      `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`,
    );
    if (body.stream_options?.include_usage)
      res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices: [], usage })}\n\n`);
    res.end('data: [DONE]\n\n');
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '').split('?')[0]!;
      let body: unknown;
      try {
        body = await readJson(req);
      } catch {
        return send(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
      }
      requests.push({ path, body });
      // A long-lived server (serve --demo) keeps the newest requests only.
      if (requests.length > MAX_KEPT_REQUESTS) requests.splice(0, requests.length - MAX_KEPT_REQUESTS);
      if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
        return send(res, 401, { error: { message: 'invalid api key', type: 'invalid_request_error' } });
      }
      if (failuresLeft > 0) {
        failuresLeft -= 1;
        return send(res, 500, { error: { message: 'scripted failure', type: 'server_error' } });
      }
      if (path === '/v1/models') return send(res, 200, { object: 'list', data: [{ id: 'scripted', object: 'model' }] });
      if (path === '/v1/chat/completions' && req.method === 'POST') return chat(body as ScriptedChatRequest, res);
      if (path === '/v1/embeddings' && req.method === 'POST') {
        const {
          input,
          model,
          encoding_format: format,
        } = body as { input?: unknown; model?: string; encoding_format?: string };
        const inputs = Array.isArray(input) ? input : [input];
        if (!inputs.every((x) => typeof x === 'string'))
          return send(res, 400, { error: { message: 'input must be strings', type: 'invalid_request_error' } });
        const data = (inputs as string[]).map((text, index) => {
          const vector = scriptedEmbedding(text, dimensions);
          const embedding =
            format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
          return { object: 'embedding', index, embedding };
        });
        const tokens = (inputs as string[]).reduce((s, t) => s + Math.ceil(t.length / 4), 0);
        return send(res, 200, {
          object: 'list',
          data,
          model: model ?? 'scripted',
          usage: { prompt_tokens: tokens, total_tokens: tokens },
        });
      }
      send(res, 404, { error: { message: `no route ${path}`, type: 'invalid_request_error' } });
    })();
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}/v1`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
