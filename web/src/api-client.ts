import type { AgentEvent } from '../../events/index.js';

/** An error the server answered with: `{code, message, field?}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

const KEY_STORAGE = 'fixwright.apiKey';

/** The API key the user gave (kept in this browser only). */
export function apiKey(): string {
  return localStorage.getItem(KEY_STORAGE) ?? '';
}

/** Remembers (or forgets, when blank) the API key. */
export function setApiKey(key: string): void {
  if (key.trim()) localStorage.setItem(KEY_STORAGE, key.trim());
  else localStorage.removeItem(KEY_STORAGE);
}

function headers(json: boolean): Record<string, string> {
  const key = apiKey();
  return {
    ...(json ? { 'content-type': 'application/json' } : {}),
    ...(key ? { authorization: `Bearer ${key}` } : {}),
  };
}

/** Calls the API; a non-2xx answer becomes an ApiError with the server's message. */
export async function request<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: headers(init.body !== undefined),
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  } catch {
    throw new ApiError(0, 'FW_ERR_UNREACHABLE', 'the server cannot be reached; is fixwright serve running?');
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  if (!response.ok) {
    const e = (body ?? {}) as { code?: string; message?: string; field?: string };
    throw new ApiError(
      response.status,
      e.code ?? `HTTP_${response.status}`,
      e.message ?? `the server answered ${response.status}`,
      e.field,
    );
  }
  return body as T;
}

/** Downloads a file from the API (with the key, which a plain link could not carry). */
export async function download(path: string, filename: string): Promise<void> {
  const response = await fetch(path, { headers: headers(false) });
  if (!response.ok)
    throw new ApiError(response.status, 'HTTP_' + response.status, `download failed (${response.status})`);
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

/** How the live connection is doing, for the page to show. */
export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'closed';

/**
 * Follows a task's events over `WS /ws/:id`: replays from the start, streams live ones, and after a
 * dropped connection reconnects with `after=` the last seq seen (backing off), so nothing is
 * missed or shown twice. Stops when the server closes after `done`/`error`, or on `stop()`.
 */
export function followTask(
  taskId: string,
  onEvent: (event: AgentEvent) => void,
  onState: (state: LiveState) => void,
): () => void {
  let last = 0;
  let stopped = false;
  let socket: WebSocket | undefined;
  let retry = 0;
  let timer: number | undefined;
  const connect = () => {
    onState(retry === 0 ? 'connecting' : 'reconnecting');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const key = apiKey();
    const query = new URLSearchParams({ after: String(last), ...(key ? { api_key: key } : {}) });
    socket = new WebSocket(`${scheme}://${location.host}/ws/${encodeURIComponent(taskId)}?${query}`);
    socket.onopen = () => {
      retry = 0;
      onState('live');
    };
    socket.onmessage = (message) => {
      const event = JSON.parse(String(message.data)) as AgentEvent;
      if (event.seq <= last) return;
      last = event.seq;
      onEvent(event);
    };
    socket.onclose = (close) => {
      if (stopped || close.code === 1000) {
        onState('closed');
        return;
      }
      retry += 1;
      onState('reconnecting');
      timer = window.setTimeout(connect, Math.min(10_000, 250 * 2 ** retry));
    };
  };
  connect();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    socket?.close();
  };
}
