import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTANCE_QUEUE } from '../../benchmarks/queue/index.js';
import { fixwrightVersion, unpackText } from '../../benchmarks/queue/jobs.js';
import { freePort, startLocalRedis, type LocalRedis } from '../../core/local-redis.js';
import { type ScriptedServer, startScriptedOpenAIServer } from '../../core/scripted-openai-server.js';
import { FIXTURE_ANSWER, makeSwebenchFixture } from '../helpers/swebench-fixture.js';

// The built CLI, as a user runs it (npm test builds dist/ first); FIXWRIGHT_TEST_CLI names another build.
const CLI = process.env.FIXWRIGHT_TEST_CLI ?? join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))),
  );
  return { child, output: () => text, exited };
}

async function waitFor<T>(check: () => T | undefined | false, what: string, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const IDS = ['acme__calc-gold', 'acme__calc-wrong', 'acme__calc-regression', 'ghost__repo-1'];
const KEY = 'sk-queue-test-0123456789abcdef';

/** A trajectory as it compares across machines: its events with times and durations taken out. */
function untimed(events: unknown[]): unknown {
  const timed = /^(ts|time|at)$|_ms$|_ms_|Ms$|_at$|seconds|duration|elapsed/i;
  // pytest's summary line says how long the tests took ("1 passed in 0.03s").
  return JSON.parse(
    JSON.stringify(events, (key, value) =>
      timed.test(key) ? undefined : typeof value === 'string' ? value.replace(/ in \d+(\.\d+)?s\b/g, ' in Ns') : value,
    ),
  );
}

/**
 * Every value in the Redis, as text: strings (payloads unpacked), hashes (a job's data and return
 * value), lists, sets and streams (BullMQ's event stream keeps copies of return values).
 */
async function redisText(connection: Redis): Promise<string> {
  const parts: string[] = [];
  for (const key of await connection.keys('*')) {
    parts.push(key);
    const type = await connection.type(key);
    if (type === 'string') {
      const value = (await connection.get(key)) ?? '';
      parts.push(key.includes(':instance-payload:') ? unpackText(value) : value);
    } else if (type === 'hash') parts.push(JSON.stringify(await connection.hgetall(key)));
    else if (type === 'list') parts.push(JSON.stringify(await connection.lrange(key, 0, -1)));
    else if (type === 'set') parts.push(JSON.stringify(await connection.smembers(key)));
    else if (type === 'zset') parts.push(JSON.stringify(await connection.zrange(key, '0', '-1')));
    else if (type === 'stream') parts.push(JSON.stringify(await connection.xrange(key, '-', '+')));
  }
  return parts.join('\n');
}

/** A run directory as it compares across machines: per instance its status, patch, attempts and localisation figures. */
function runDir(out: string) {
  const predictions = readFileSync(join(out, 'predictions.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const report = JSON.parse(readFileSync(join(out, 'bench-report.json'), 'utf8'));
  const instances = report.instances.map((i: Record<string, unknown>) => ({
    instance_id: i.instance_id,
    status: i.status,
    stopped_by: i.stopped_by,
    attempts: i.attempts,
    gold_rank: i.gold_rank,
    gold_in_set: i.gold_in_set,
    set_size: i.set_size,
    settings: i.settings,
  }));
  const results = readdirSync(join(out, 'results')).sort();
  const trajectories = readdirSync(join(out, 'trajectories')).sort();
  const events = (id: string) =>
    readFileSync(join(out, 'trajectories', `${id}.jsonl`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
  return { predictions, report, instances, results, trajectories, events };
}

describe('bench and eval through the queue (BullMQ, fixwright worker processes)', () => {
  let dir: string;
  let reposDir: string;
  let dataset: string;
  let model: ScriptedServer;
  let redis: LocalRedis;
  /** While set, the model holds each answer this long: a worker killed then is mid-instance. */
  let holdMs = 0;
  const procs: Proc[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fw-bench-queue-'));
    ({ reposDir, dataset } = makeSwebenchFixture(dir));
    model = await startScriptedOpenAIServer({
      respond: () => (holdMs > 0 ? { delayMs: holdMs, reply: FIXTURE_ANSWER } : FIXTURE_ANSWER),
      apiKey: KEY,
    });
    redis = await startLocalRedis();
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await redis?.stop();
    await model?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const env = (data: string) => ({
    OPENAI_BASE_URL: model.url,
    OPENAI_API_KEY: KEY,
    FIXWRIGHT_DATA_DIR: join(dir, data),
    FIXWRIGHT_LOG_LEVEL: 'info',
    REDIS_URL: '',
  });
  const startWorker = async (data: string, more: string[] = []) => {
    const proc = start(
      [
        'worker',
        '--repos',
        reposDir,
        '--concurrency',
        '1',
        '--lock-duration',
        '2000',
        '--stalled-interval',
        '1000',
        ...more,
      ],
      { ...env(data), REDIS_URL: redis.url },
    );
    procs.push(proc);
    await waitFor(
      () => {
        if (proc.child.exitCode !== null) throw new Error(`worker exited: ${proc.output()}`);
        return proc.output().includes('taking tasks');
      },
      'a worker to start',
      30_000,
    );
    return proc;
  };
  const chats = () => model.requests.filter((q) => q.path === '/v1/chat/completions').length;
  const benchArgs = (out: string, more: string[] = []) => [
    'solve-dataset',
    '--dataset',
    dataset,
    '--instances',
    IDS.join(','),
    '--model',
    'scripted',
    '--max-attempts',
    '2',
    '--error-retries',
    '0',
    '--out',
    out,
    ...more,
  ];

  it(
    'a bench run through the queue with two workers, one killed mid-instance, writes the run ' +
      'directory a local run writes; nothing is lost; a rerun collects and reruns nothing',
    async () => {
      const local = start(benchArgs(join(dir, 'local'), ['--repos', reposDir, '--workers', '2']), env('local-data'));
      procs.push(local);
      expect(await local.exited, local.output()).toBe(0);

      const metricsPort = await freePort();
      const [a, b] = [
        await startWorker('worker-a'),
        await startWorker('worker-b', ['--metrics-port', String(metricsPort)]),
      ];
      const before = chats();
      holdMs = 6000;
      const out = join(dir, 'queued');
      const submitter = start(benchArgs(out, ['--queue', redis.url]), env('submitter-data'));
      procs.push(submitter);
      // While it runs, the workers' key and the gold test never appear in any Redis value (jobs, payloads, event stream).
      const watcher = new Redis(redis.url, { maxRetriesPerRequest: null });
      const seen: string[] = [];
      let scans = 0;
      const watching = setInterval(() => {
        void redisText(watcher).then(
          (text) => {
            scans += 1;
            for (const secret of [KEY, 'def test_add():']) if (text.includes(secret)) seen.push(secret);
          },
          () => undefined,
        );
      }, 500);
      // Both workers are inside an instance, each waiting on the model: kill one there.
      await waitFor(
        () =>
          a.output().includes('instance job started') &&
          b.output().includes('instance job started') &&
          chats() >= before + 2,
        'both workers to reach the model',
        90_000,
      );
      a.child.kill('SIGKILL');
      await a.exited;
      holdMs = 0;
      expect(await submitter.exited, submitter.output()).toBe(0);
      clearInterval(watching);
      await watcher.quit();
      expect(scans).toBeGreaterThan(3);
      expect(seen).toEqual([]);
      expect(submitter.output()).toMatch(/4 instance\(s\): agent resolved 3, unverified 0, failed 0, errors 1/);
      // The survivor ran the killed worker's instance again (BullMQ's stalled check).
      expect(b.output()).toMatch(/"retry":true/);
      // The survivor counts what it ran: at least the killed worker's instance and its own first one.
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const ran = [
        ...metrics.matchAll(/^fixwright_instance_jobs_total\{kind="bench",result="(\w+)"\} (\d+)$/gm),
      ].reduce((n, m) => n + Number(m[2]), 0);
      expect(ran).toBeGreaterThanOrEqual(2);
      expect(metrics).toMatch(/^fixwright_instance_job_seconds_count\{kind="bench"\} [1-9]/m);

      const here = runDir(join(dir, 'local'));
      const there = runDir(out);
      expect(there.instances).toEqual(here.instances);
      expect(there.instances.map((i: { instance_id: string }) => i.instance_id)).toEqual(IDS);
      expect(there.predictions).toEqual(here.predictions);
      expect(
        there.predictions.filter((p: { model_patch: string }) => p.model_patch.includes('+    return a + b')),
      ).toHaveLength(3);
      // Every result and trajectory, each trajectory the run of its instance to its end.
      expect(there.results).toEqual(IDS.map((id) => `${id}.json`).sort());
      expect(there.trajectories).toEqual(here.trajectories);
      for (const id of IDS.slice(0, 3)) {
        const events = there.events(id);
        // The same run, event for event, times aside.
        expect(untimed(events), id).toEqual(untimed(here.events(id)));
        expect(events[0], id).toMatchObject({ type: 'status', data: { instance_id: id } });
        expect(events.at(-1), id).toMatchObject({ type: 'done', data: { status: 'resolved' } });
        expect(
          events.map((e: { seq: number }) => e.seq),
          id,
        ).toEqual(events.map((_: unknown, i: number) => i + 1));
      }
      expect(there.events('ghost__repo-1').at(-1)).toMatchObject({ type: 'error' });
      expect(there.report.agent_status).toEqual(here.report.agent_status);
      expect(there.report.localisation).toEqual(here.report.localisation);
      // The workers never saw the gold fields (nor did the model), and no key went through Redis.
      const sent = JSON.stringify(model.requests.slice(before).map((q) => q.body));
      for (const secret of ['def test_add():', 'FAIL_TO_PASS', 'PASS_TO_PASS']) expect(sent).not.toContain(secret);
      // Collected jobs leave the queue.
      const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
      const queue = new Queue(INSTANCE_QUEUE, { connection, prefix: 'fixwright' });
      try {
        expect(await queue.getJobCounts('waiting', 'active', 'completed', 'failed')).toEqual({
          waiting: 0,
          active: 0,
          completed: 0,
          failed: 0,
        });
        // Nothing of the runs is left: no payload key, and the event stream holds no trajectory (only small results' copies).
        const left = await redisText(connection);
        expect(left).not.toContain(KEY);
        expect(await connection.keys('fixwright:instance-payload:*')).toEqual([]);
        expect(left).not.toContain('"type":"done"');
        expect(left).not.toContain('+    return a + b');
        const stream = JSON.stringify(await connection.xrange(`fixwright:${INSTANCE_QUEUE}:events`, '-', '+'));
        expect(stream.length).toBeLessThan(64 * 1024);
      } finally {
        await queue.close();
        await connection.quit();
      }

      // Resumable: a rerun keeps every finished instance and asks no worker for anything but the errored one.
      const calls = chats();
      const again = start(benchArgs(out, ['--queue', redis.url]), env('submitter-data'));
      procs.push(again);
      expect(await again.exited, again.output()).toBe(0);
      expect(again.output()).toMatch(/skipping 3 finished instance\(s\) of 4; 1 to run/);
      expect(chats()).toBe(calls);
      expect(runDir(out).instances).toEqual(here.instances);
    },
    240_000,
  );

  /** The instance queue's job counts. */
  const counts = async () => {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(INSTANCE_QUEUE, { connection, prefix: 'fixwright' });
    try {
      return await queue.getJobCounts('waiting', 'active', 'completed', 'failed');
    } finally {
      await queue.close();
      await connection.quit();
    }
  };
  const pollCounts = async (check: (c: Record<string, number>) => boolean, what: string) => {
    const end = Date.now() + 60_000;
    for (;;) {
      if (check(await counts())) return;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await counts())}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const stopWorkers = async () => {
    const workers = procs.filter(
      (p) => p.output().includes('taking tasks') && p.child.exitCode === null && p.child.signalCode === null,
    );
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
  };

  it('eval through the queue gives the verdicts a local eval gives; a submitter killed mid-run and run again collects what finished meanwhile', async () => {
    const predictions = join(dir, 'predictions.jsonl');
    const ids = ['acme__calc-gold', 'acme__calc-wrong', 'acme__calc-stale', 'ghost__repo-1'].join(',');
    const local = start(
      [
        'eval',
        '--dataset',
        dataset,
        '--predictions',
        predictions,
        '--repos',
        reposDir,
        '--instances',
        ids,
        '--out',
        join(dir, 'eval-local'),
      ],
      env('local-data'),
    );
    procs.push(local);
    expect(await local.exited, local.output()).toBe(0);
    // No worker yet: the jobs wait on the queue while the submitter is killed.
    await stopWorkers();
    const args = [
      'eval',
      '--dataset',
      dataset,
      '--predictions',
      predictions,
      '--instances',
      ids,
      '--queue',
      redis.url,
      '--out',
      join(dir, 'eval-queued'),
    ];
    const first = start(args, env('submitter-data'));
    procs.push(first);
    await pollCounts((c) => c.waiting === 4, 'four queued jobs');
    first.child.kill('SIGKILL');
    await first.exited;
    const worker = await startWorker('worker-c');
    // ghost/repo is on no worker: each try goes back for another worker, and after the last the job fails (the submitter records an env_error).
    await pollCounts((c) => c.completed === 3 && c.failed === 1, 'the four jobs to finish with no submitter');
    const started = () =>
      worker
        .output()
        .split('\n')
        .filter((l) => l.includes('instance job started') && !l.includes('ghost__repo-1')).length;
    expect(started()).toBe(3);
    expect(worker.output()).toMatch(
      /repository ghost\/repo is not on worker [^"]+:\d+.*it goes back for another worker/,
    );
    const queued = start(args, env('submitter-data'));
    procs.push(queued);
    expect(await queued.exited, queued.output()).toBe(0);
    // Collected, not run again.
    expect(started()).toBe(3);
    expect(await counts()).toEqual({ waiting: 0, active: 0, completed: 0, failed: 0 });
    // No test log is left in Redis: no payload key, none in the event stream.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    try {
      expect(await connection.keys('fixwright:instance-payload:*')).toEqual([]);
      const outcome = readFileSync(join(dir, 'eval-queued', 'instances', 'acme__calc-gold', 'test.log'), 'utf8')
        .split('\n')
        .find((l) => /^(PASSED|FAILED) /.test(l));
      expect(outcome).toBeDefined();
      expect(await redisText(connection)).not.toContain(outcome);
    } finally {
      await connection.quit();
    }
    const verdicts = (out: string) => {
      const report = JSON.parse(readFileSync(join(dir, out, 'report.json'), 'utf8'));
      return {
        resolved: report.resolved_ids,
        unresolved: report.unresolved_ids,
        apply_error: report.apply_error_ids,
        env_error: report.env_error_ids.length,
      };
    };
    expect(verdicts('eval-queued')).toEqual(verdicts('eval-local'));
    expect(verdicts('eval-queued').resolved).toEqual(['acme__calc-gold']);
    // Each result names the worker that ran it and its version.
    const ran = JSON.parse(
      readFileSync(join(dir, 'eval-queued', 'instances', 'acme__calc-gold', 'result.json'), 'utf8'),
    ).queue;
    expect(ran).toMatchObject({
      worker: `${hostname()}:${worker.child.pid}`,
      worker_version: expect.stringMatching(/^\d+\.\d+/),
      lost_runs: 0,
    });
    expect(
      JSON.parse(readFileSync(join(dir, 'eval-queued', 'instances', 'ghost__repo-1', 'result.json'), 'utf8')).reason,
    ).toMatch(/repository ghost\/repo is not on worker/);
    for (const id of ids.split(',').slice(0, 3)) {
      const log = (out: string) => readFileSync(join(dir, out, 'instances', id, 'test.log'), 'utf8');
      expect(existsSync(join(dir, 'eval-queued', 'instances', id, 'result.json')), id).toBe(true);
      // The same tests ran, with the same outcomes (timings aside).
      const outcomes = (text: string) =>
        text
          .split('\n')
          .filter((l) => /^(PASSED|FAILED|ERROR) /.test(l))
          .sort();
      expect(outcomes(log('eval-queued')), id).toEqual(outcomes(log('eval-local')));
    }
  }, 180_000);

  it('a worker refuses a job that would send its key elsewhere, or whose table, settings or version it would not run locally', async () => {
    await stopWorkers();
    // A server that records whoever calls it: a queued job naming it must not get the worker's key.
    const calls: string[] = [];
    const capture = createServer((req, res) => {
      calls.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => capture.listen(0, '127.0.0.1', resolve));
    const captureURL = `http://127.0.0.1:${(capture.address() as AddressInfo).port}/v1`;
    await startWorker('worker-d');
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(INSTANCE_QUEUE, { connection, prefix: 'fixwright' });
    const bench = {
      run_id: 'injected',
      fixwright: fixwrightVersion(),
      row: {
        instance_id: 'acme__calc-gold',
        repo: 'acme/calc',
        base_commit: readFileSync(dataset, 'utf8').match(/"base_commit":\s*"([0-9a-f]+)"/)![1],
        problem_statement: 'add is wrong',
      },
      solve: { model: 'scripted', baseURL: captureURL, maxAttempts: 1, testTimeoutSeconds: 60, temperatures: [0] },
      table: null,
      variant: null,
      error_retries: 0,
      retry_backoff_ms: 0,
    };
    const evalJob = {
      run_id: 'injected',
      fixwright: fixwrightVersion(),
      row: {},
      prediction: { instance_id: 'x', model_name_or_path: 'm', model_patch: '' },
      table: { default: {}, repos: {} },
      settings: { timeoutSeconds: 60, grading: 'swebench-5' },
    };
    const refused = async (name: string, data: unknown) => {
      const job = await queue.add(name, data, {
        jobId: `injected-${Math.random().toString(36).slice(2)}`,
        attempts: 1,
      });
      const end = Date.now() + 60_000;
      while ((await job.getState()) !== 'failed') {
        if (Date.now() > end) throw new Error(`job ${name} did not fail: ${await job.getState()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      return (await queue.getJob(job.id!))!.failedReason;
    };
    try {
      expect(await refused('bench', bench)).toMatch(
        new RegExp(
          `asks for the model endpoint ${captureURL.replace(/[.]/g, '\\.')}, which worker .* does not send its key to: only its OPENAI_BASE_URL`,
        ),
      );
      expect(
        await refused('bench', {
          ...bench,
          solve: { ...bench.solve, baseURL: undefined },
          table: { default: { env: { base: 'evil' } }, repos: {} },
        }),
      ).toMatch(/the job's environment table is invalid/);
      expect(await refused('bench', { ...bench, fixwright: '0.0.0-other' })).toMatch(
        /made by fixwright 0\.0\.0-other; worker .* runs /,
      );
      expect(await refused('eval', { ...evalJob, settings: { ...evalJob.settings, reposDir: '/' } })).toMatch(
        /the job is invalid: settings/,
      );
      expect(
        await refused('eval', {
          ...evalJob,
          table: {
            default: { test_cmd: ['pytest'], parser: 'pytest', pythonpath: [], helpers: ['../../etc/passwd'] },
            repos: {},
          },
        }),
      ).toMatch(/the job's environment table is invalid/);
      expect(calls).toEqual([]);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
      await connection.quit();
      capture.close();
    }
  }, 120_000);

  it('a worker without the repository leaves the instance to another worker; the result names the worker that ran it', async () => {
    await stopWorkers();
    const empty = join(dir, 'no-repos');
    mkdirSync(empty, { recursive: true });
    const lacking = start(
      ['worker', '--repos', empty, '--concurrency', '1', '--lock-duration', '2000', '--stalled-interval', '1000'],
      { ...env('worker-e'), REDIS_URL: redis.url },
    );
    procs.push(lacking);
    await waitFor(() => lacking.output().includes('taking tasks'), 'the worker without repositories', 30_000);
    const out = join(dir, 'eval-elsewhere');
    const submitter = start(
      [
        'eval',
        '--dataset',
        dataset,
        '--predictions',
        join(dir, 'predictions.jsonl'),
        '--instances',
        'acme__calc-gold',
        '--queue',
        redis.url,
        '--out',
        out,
      ],
      env('submitter-data'),
    );
    procs.push(submitter);
    await waitFor(
      () => /repository acme\/calc is not on worker .*it goes back for another worker/.test(lacking.output()),
      'the first worker to give the job back',
    );
    lacking.child.kill('SIGTERM');
    await lacking.exited;
    const good = await startWorker('worker-f');
    expect(await submitter.exited, submitter.output()).toBe(0);
    const result = JSON.parse(readFileSync(join(out, 'instances', 'acme__calc-gold', 'result.json'), 'utf8'));
    expect(result.status).toBe('resolved');
    expect(result.queue.worker).toBe(`${hostname()}:${good.child.pid}`);
  }, 120_000);

  it('Ctrl-C on the submitter takes its unstarted jobs off the queue; REDIS_URL alone keeps a run local; --model-rpm is refused with --queue', async () => {
    await stopWorkers();
    const args = [
      'eval',
      '--dataset',
      dataset,
      '--predictions',
      join(dir, 'predictions.jsonl'),
      '--instances',
      'acme__calc-gold,acme__calc-wrong',
      '--queue',
      redis.url,
      '--out',
      join(dir, 'eval-cancelled'),
    ];
    const submitter = start(args, env('submitter-data'));
    procs.push(submitter);
    await pollCounts((c) => c.waiting === 2, 'two queued jobs');
    submitter.child.kill('SIGINT');
    expect(await submitter.exited).toBe(130);
    expect(submitter.output()).toMatch(
      /cancelled; finished verdicts are kept in .*\(2 queued instance\(s\) taken off the queue; those already running finish on their workers and the rerun collects them\)/,
    );
    expect(await counts()).toEqual({ waiting: 0, active: 0, completed: 0, failed: 0 });
    // Ctrl-C with the queue's Redis down: the cancelled line still comes (within main's 3 s), saying what is not known.
    const doomed = await startLocalRedis();
    const stranded = start(
      [...args.slice(0, -4), '--queue', doomed.url, '--out', join(dir, 'eval-redis-down')],
      env('submitter-data'),
    );
    procs.push(stranded);
    await waitFor(() => stranded.output().includes('go to the workers'), 'the submitter to queue');
    await doomed.stop();
    stranded.child.kill('SIGINT');
    expect(await stranded.exited, stranded.output()).toBe(130);
    expect(stranded.output()).toMatch(
      /cancelled; finished verdicts are kept in .*the queue's Redis did not answer: this run's unstarted instances may still be queued/,
    );

    const rpm = start(benchArgs(join(dir, 'rpm'), ['--queue', redis.url, '--model-rpm', '60']), env('submitter-data'));
    procs.push(rpm);
    expect(await rpm.exited).toBe(2);
    expect(rpm.output()).toMatch(
      /--model-rpm limits this process only: with --queue set FIXWRIGHT_MODEL_RPM on each worker/,
    );
    const bad = start(benchArgs(join(dir, 'bad'), ['--queue', 'http://nope']), env('submitter-data'));
    procs.push(bad);
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toMatch(/--queue http:\/\/nope: not a Redis URL/);
    const nobody = `redis://127.0.0.1:${await freePort()}`;
    const down = start(
      [
        'eval',
        '--dataset',
        dataset,
        '--predictions',
        'gold',
        '--instances',
        'acme__calc-gold',
        '--queue',
        nobody,
        '--out',
        join(dir, 'down'),
      ],
      env('submitter-data'),
    );
    procs.push(down);
    expect(await down.exited).toBe(2);
    expect(down.output()).toContain(`the queue's Redis at ${nobody} does not answer: connect ECONNREFUSED`);
    // REDIS_URL set, no --queue: a local run, and a line saying how to queue it.
    const local = start(
      [
        'eval',
        '--dataset',
        dataset,
        '--predictions',
        join(dir, 'predictions.jsonl'),
        '--repos',
        reposDir,
        '--instances',
        'acme__calc-empty',
        '--out',
        join(dir, 'eval-redis-url'),
      ],
      { ...env('submitter-data'), REDIS_URL: redis.url },
    );
    procs.push(local);
    expect(await local.exited, local.output()).toBe(0);
    expect(local.output()).toContain(
      `REDIS_URL is set, but this run is local; pass --queue to run its instances on the workers of ${redis.url}`,
    );
  }, 120_000);
});
