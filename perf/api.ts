/**
 * `npm run perf:api`: what the service costs on loopback, in the Redis mode with no worker running
 * (so POST /api/solve only stores the task and puts a job on BullMQ). It starts its own redis-server
 * and the service in this process, then prints requests/s and p50/p99 for GET /api/task/:id and
 * POST /api/solve (autocannon, in a worker thread so the load does not share the server's event
 * loop), and the fan-out of one task's events to WebSocket clients: append-to-receipt latency,
 * events/s delivered, and a check that every client got every event in order.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { SingleBar } from 'cli-progress';
import WebSocket from 'ws';
import type { AgentEvent } from '../agent/index.js';
import { appendTaskEvent, type RunningService, startService, RedisTaskStore } from '../api/index.js';
import { loadSettings, assetPath } from '../core/index.js';
import { startLocalRedis } from '../core/local-redis.js';
import { createLogger } from '../core/logger.js';

/** A whole number of at least 1 from the environment, or the default. */
function knob(name: string, fallback: number): number {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${name} must be a whole number of at least 1 (got ${process.env[name]})`);
  return n;
}

const DURATION = knob('BENCH_DURATION', 5); // seconds per HTTP endpoint
const CONNECTIONS = knob('BENCH_CONNECTIONS', 10);
const CLIENTS = knob('BENCH_WS_CLIENTS', 50);
const EVENTS = knob('BENCH_WS_EVENTS', 2000);
const WARMUP_EVENTS = 20; // delivered and checked, not timed: every client is following before the clock starts
const SOLVE_BODY = JSON.stringify({
  repo_url: 'https://github.com/octo/demo',
  issue_text: 'add() returns the wrong sum for negative numbers',
});

/** The q-quantile of a sorted array (nearest rank). */
const pct = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
const msText = (x: number) => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;

/** A bar over a fixed number of seconds (autocannon runs in a worker thread and reports at the end). */
function timedBar(label: string, seconds: number): () => void {
  const bar = new SingleBar({
    format: `${label.padEnd(16)} {bar} {value}/{total} s`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    noTTYOutput: false,
    notTTYSchedule: 10_000,
  });
  const start = performance.now();
  bar.start(seconds, 0);
  const timer = setInterval(() => bar.update(Math.min(seconds, Math.floor((performance.now() - start) / 1000))), 250);
  return () => {
    clearInterval(timer);
    bar.update(seconds);
    bar.stop();
  };
}

interface HttpFigures {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  /** Responses that were not the expected status (plus connection errors and timeouts). */
  unexpected: number;
  codes: string;
}

async function load(
  label: string,
  options: { url: string; method: 'GET' | 'POST'; expect: number; body?: string },
): Promise<HttpFigures> {
  const done = timedBar(label, DURATION);
  let result: autocannon.Result;
  try {
    // A thenable, not a Promise: awaited here rather than chained.
    result = await autocannon({
      url: options.url,
      method: options.method,
      connections: CONNECTIONS,
      duration: DURATION,
      workers: 1,
      ...(options.body !== undefined ? { body: options.body, headers: { 'content-type': 'application/json' } } : {}),
    });
  } finally {
    done();
  }
  const stats = Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count ?? 0] as const);
  const expected = stats.filter(([code]) => Number(code) === options.expect).reduce((n, [, c]) => n + c, 0);
  const total = stats.reduce((n, [, c]) => n + c, 0);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: total,
    unexpected: total - expected + result.errors + result.timeouts,
    codes:
      stats.map(([code, c]) => `${code}×${c}`).join(' ') +
      (result.errors ? ` errors×${result.errors}` : '') +
      (result.timeouts ? ` timeouts×${result.timeouts}` : ''),
  };
}

/** Submits one task (202) and returns its id. */
async function submit(url: string): Promise<string> {
  const response = await fetch(`${url}/api/solve`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: SOLVE_BODY,
  });
  const text = await response.text();
  if (response.status !== 202) throw new Error(`POST /api/solve answered ${response.status}: ${text}`);
  return (JSON.parse(text) as { task_id: string }).task_id;
}

interface Follower {
  seqs: number[];
  latencies: number[];
  lastAt: number;
  closeCode?: number;
  ws: WebSocket;
  closed: Promise<void>;
}

/** One WebSocket client on `/ws/:id`: records every seq and, for timed events, append-to-receipt latency. */
function follow(url: string, taskId: string, onEvent: () => void): Promise<Follower> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws/${taskId}`);
    let onClose!: () => void;
    const follower: Follower = { seqs: [], latencies: [], lastAt: 0, ws, closed: new Promise((r) => (onClose = r)) };
    ws.on('message', (data) => {
      const at = performance.now();
      const event = JSON.parse(data.toString()) as AgentEvent;
      follower.seqs.push(event.seq);
      follower.lastAt = at;
      const sentAt = event.data.sent_at;
      if (typeof sentAt === 'number') follower.latencies.push(at - sentAt);
      onEvent();
    });
    ws.once('open', () => resolve(follower));
    ws.once('error', reject);
    ws.on('close', (code) => {
      follower.closeCode = code;
      onClose();
    });
  });
}

interface FanOut {
  p50: number;
  p99: number;
  max: number;
  eventsPerSecond: number;
  appendsPerSecond: number;
  problems: string[];
}

async function fanOut(url: string, redisURL: string): Promise<FanOut> {
  const taskId = await submit(url);
  const store = new RedisTaskStore(redisURL);
  let followers: Follower[] = [];
  try {
    let received = 0;
    let wake: (() => void) | undefined;
    const onEvent = () => {
      received++;
      wake?.();
    };
    /** Waits until the clients together have received `n` events. */
    const untilReceived = async (n: number, what: string) => {
      const deadline = Date.now() + 30_000;
      while (received < n) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${received}/${n} deliveries)`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 100);
        });
      }
    };
    followers = await Promise.all(Array.from({ length: CLIENTS }, () => follow(url, taskId, onEvent)));

    // Warm-up: once every client has the warm-up events, every server-side follow is live.
    for (let i = 0; i < WARMUP_EVENTS; i++) await appendTaskEvent(store, taskId, 'log', { message: `warm-up ${i}` });
    await untilReceived(CLIENTS * WARMUP_EVENTS, 'the warm-up events');

    // Timed: events appended one after another as fast as the store takes them, the way a worker writes its log.
    const bar = new SingleBar({
      format: `${'WS fan-out'.padEnd(16)} {bar} {value}/{total} events`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      noTTYOutput: false,
      notTTYSchedule: 10_000,
    });
    bar.start(EVENTS, 0);
    const first = performance.now();
    try {
      for (let i = 0; i < EVENTS; i++) {
        await appendTaskEvent(store, taskId, 'log', { message: `event ${i}`, sent_at: performance.now() });
        if (i % 50 === 49) bar.update(i + 1);
      }
    } finally {
      bar.update(EVENTS);
      bar.stop();
    }
    const appended = performance.now();
    await untilReceived(CLIENTS * (WARMUP_EVENTS + EVENTS), 'every client to receive every event');
    const last = Math.max(...followers.map((f) => f.lastAt));

    // The server closes each socket (1000) after `done`.
    await appendTaskEvent(store, taskId, 'done', { status: 'failed', message: 'bench over' });
    await Promise.race([Promise.all(followers.map((f) => f.closed)), new Promise((r) => setTimeout(r, 10_000))]);

    const total = WARMUP_EVENTS + EVENTS + 1;
    const problems: string[] = [];
    followers.forEach((f, i) => {
      const gap = f.seqs.findIndex((seq, k) => seq !== k + 1);
      if (gap >= 0) problems.push(`client ${i}: event #${gap + 1} has seq ${f.seqs[gap]} (expected ${gap + 1})`);
      else if (f.seqs.length !== total) problems.push(`client ${i}: got ${f.seqs.length} of ${total} events`);
      if (f.closeCode !== 1000)
        problems.push(
          `client ${i}: ${f.closeCode === undefined ? 'not closed after done' : `closed with ${f.closeCode}`}`,
        );
    });
    const latencies = followers.flatMap((f) => f.latencies).sort((a, b) => a - b);
    if (latencies.length !== CLIENTS * EVENTS)
      problems.push(`${latencies.length} timed deliveries, expected ${CLIENTS * EVENTS}`);
    return {
      p50: pct(latencies, 0.5),
      p99: pct(latencies, 0.99),
      max: latencies.at(-1) ?? Number.NaN,
      eventsPerSecond: (CLIENTS * EVENTS) / ((last - first) / 1000),
      appendsPerSecond: EVENTS / ((appended - first) / 1000),
      problems,
    };
  } finally {
    for (const f of followers) if (f.ws.readyState !== WebSocket.CLOSED) f.ws.terminate();
    await store.close();
  }
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fw-bench-api-'));
  const redis = await startLocalRedis();
  let service: RunningService | undefined;
  try {
    const env: NodeJS.ProcessEnv = {
      REDIS_URL: redis.url,
      FIXWRIGHT_MODEL: 'scripted', // POST /api/solve wants a model; no worker runs, so it is never called
      FIXWRIGHT_DATA_DIR: dataDir,
      FIXWRIGHT_RATE_LIMIT: '1000000', // the most the settings allow (a minute's window): far above what this bench sends
      FIXWRIGHT_LOG_LEVEL: 'warn',
    };
    const settings = loadSettings(env);
    const { version } = JSON.parse(readFileSync(assetPath('package.json'), 'utf8')) as { version: string };
    service = await startService(settings, { host: '127.0.0.1', port: 0, version }, createLogger(settings.logLevel));
    const url = service.url;
    console.log(
      `fixwright api bench: ${url}, redis-server pid ${redis.pid}; ${cpus().length} cores; ` +
        `autocannon ${CONNECTIONS} connections × ${DURATION} s per endpoint (1 worker thread); ${CLIENTS} WebSocket clients × ${EVENTS} events`,
    );

    const taskId = await submit(url);
    const get = await load('GET /api/task', { url: `${url}/api/task/${taskId}`, method: 'GET', expect: 200 });
    const post = await load('POST /api/solve', {
      url: `${url}/api/solve`,
      method: 'POST',
      expect: 202,
      body: SOLVE_BODY,
    });
    const ws = await fanOut(url, redis.url);

    const row = (name: string, f: HttpFigures, bad: string) =>
      `  ${name.padEnd(20)} ${f.rps.toFixed(0).padStart(7)} req/s   ` +
      `p50 ${String(f.p50).padStart(3)} ms   p99 ${String(f.p99).padStart(3)} ms   ${bad} ${f.unexpected}   (${f.requests} requests: ${f.codes})`;
    console.log("\napi bench (loopback, Redis mode, enqueue only; HTTP latency at autocannon's 1 ms resolution)");
    console.log(row('GET /api/task/:id', get, 'non-200'));
    console.log(row('POST /api/solve', post, 'non-202'));
    console.log(
      `  WS fan-out, ${CLIENTS} clients × ${EVENTS} events: ` +
        `delivery p50 ${msText(ws.p50)}, p99 ${msText(ws.p99)} (max ${msText(ws.max)}), ` +
        `${ws.eventsPerSecond.toFixed(0)} events/s delivered (${ws.appendsPerSecond.toFixed(0)} appends/s), ` +
        `all in order: ${ws.problems.length ? 'NO' : 'yes'}`,
    );
    for (const problem of ws.problems.slice(0, 10)) console.log(`    ${problem}`);
    if (ws.problems.length > 10) console.log(`    … and ${ws.problems.length - 10} more`);
    const failed = [
      get.unexpected ? 'GET answered other than 200' : '',
      post.unexpected ? 'POST answered other than 202' : '',
      ws.problems.length ? 'WebSocket delivery was incomplete or out of order' : '',
    ].filter(Boolean);
    if (failed.length) throw new Error(failed.join('; '));
  } finally {
    await service?.close();
    await redis.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
