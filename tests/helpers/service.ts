import type { ChildProcess } from 'node:child_process';
import WebSocket from 'ws';
import type { AgentEvent } from '../../agent/index.js';
import { freePort, startLocalRedis, type LocalRedis } from '../../core/local-redis.js';
import { spawnCli } from './cli.js';

/** A Redis of the test's own, on a free port, stopped by PID (../shared/OFFLINE.md). */
export type TestRedis = LocalRedis;
export { freePort };

/** Starts a redis-server for one test file. */
export const startRedis = startLocalRedis;

/** A `fixwright serve` or `fixwright worker` process the test started. */
export interface Proc {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
}

function track(child: ChildProcess): Proc {
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))),
  );
  return { child, output: () => text, exited };
}

/** Waits until `check` holds (polling), or fails with `what`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts `fixwright serve` on a free port and waits for /healthz. */
export async function startServe(env: Record<string, string>, args: string[] = []): Promise<Proc & { url: string }> {
  const port = await freePort();
  const proc = track(spawnCli(['serve', '--host', '127.0.0.1', '--port', String(port), ...args], env));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`serve exited: ${proc.output()}`);
      return fetch(`${url}/healthz`).then(
        (r) => r.ok || undefined,
        () => undefined,
      );
    },
    'fixwright serve to start',
    30_000,
  );
  return { ...proc, url };
}

/** Starts `fixwright worker` and waits until it says it is taking tasks. */
export async function startWorkerProcess(env: Record<string, string>, args: string[] = []): Promise<Proc> {
  const proc = track(spawnCli(['worker', ...args], env));
  await waitFor(
    () => {
      if (proc.child.exitCode !== null) throw new Error(`worker exited: ${proc.output()}`);
      return proc.output().includes('taking tasks') || undefined;
    },
    'fixwright worker to start',
    30_000,
  );
  return proc;
}

/** Stops a process with a signal and waits for it. */
export async function stop(proc: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal);
  return proc.exited;
}

/** JSON over HTTP. */
export async function api(
  url: string,
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
  // The JSON of whichever route was asked: callers read the fields they expect, as a client would.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { ...(init.body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body };
}

/** Follows `WS /ws/:id?after=` until the server closes it; `stopAfter` closes early from the client side. */
export function followTask(
  url: string,
  taskId: string,
  options: { after?: number; stopAfter?: number; headers?: Record<string, string> } = {},
): Promise<{ events: AgentEvent[]; code: number }> {
  return new Promise((resolve, reject) => {
    const events: AgentEvent[] = [];
    const ws = new WebSocket(
      `${url.replace(/^http/, 'ws')}/ws/${taskId}${options.after !== undefined ? `?after=${options.after}` : ''}`,
      { headers: options.headers },
    );
    ws.on('message', (data) => {
      events.push(JSON.parse(data.toString()) as AgentEvent);
      if (options.stopAfter !== undefined && events.length >= options.stopAfter) ws.close();
    });
    ws.on('close', (code) => resolve({ events, code }));
    ws.on('error', reject);
  });
}
