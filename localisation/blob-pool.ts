import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { Bm25Weights } from './bm25.js';
import { type BlobCount, countBlob, type PackedCount, unpackCount } from './blob-count.js';
import { type BlobJob, claimBlob, JOB_DONE, packTexts } from './blob-job.js';

/**
 * Fewest uncounted blobs worth the pool: below it, handing texts out and results back costs about
 * what the other threads save (measured on sympy; see README, "perf:localise").
 */
export const PARALLEL_FROM = 32;

/** A worker that has not posted a blob this long after every blob was taken is counted past: its blob is counted here. */
const OVERDUE_MS = 1000;
/** Idle workers are ended after this long (they never keep the process alive meanwhile). */
const IDLE_MS = 30_000;

interface PoolWorker {
  worker: Worker;
  port: MessagePort;
  alive: boolean;
  online: boolean;
}

/** Why threads went missing, each said once a process (a second kind of failure is still said). */
const warned = new Set<string>();

function warnOnce(kind: string, why: string): void {
  if (warned.has(kind)) return;
  warned.add(kind);
  process.emitWarning(`indexing counts blobs in fewer threads: ${why}`, { code: 'FW_INDEX_SERIAL' });
}

/**
 * The most threads a count uses: each worker costs about 25 MB and its own JIT warm-up (pylint, 2
 * cores: 8 threads 412 MB and 6.1 s against one thread's 234 MB and 3.6 s), and Node 20's processor
 * count is the host's, not a container's CPU quota.
 */
export const MAX_INDEX_THREADS = 8;

/** The CPUs a cgroup v2 quota allows (`cpu.max`: quota and period), when there is one. */
function cgroupCpus(): number | undefined {
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    const q = Number(quota);
    const p = Number(period);
    return quota !== 'max' && q > 0 && p > 0 ? Math.max(1, Math.floor(q / p)) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Threads that count blobs, this one included: FIXWRIGHT_INDEX_WORKERS when set (0 or 1: this
 * thread alone), else the processors idle over the last minute (Node's processors less the load
 * average) but one, which V8's own threads use (concurrent marking and compiling took 1.45 s of a
 * serial cold sympy index's 3.85 s of CPU): so one thread on 2 processors. Measured on this 2-core
 * machine under load average 6-12, two threads took about 1.5 times the CPU for a cold sympy index
 * (a worker's own JIT warm-up and heap, packing and unpacking the counts) and were slower.
 */
export function indexThreads(): number {
  const set = process.env.FIXWRIGHT_INDEX_WORKERS;
  if (set !== undefined && set.trim() !== '') {
    const n = Number(set);
    if (!(Number.isSafeInteger(n) && n >= 0)) {
      warnOnce('setting', `FIXWRIGHT_INDEX_WORKERS=${set} is not a whole number`);
      return 1;
    }
    if (n > MAX_INDEX_THREADS)
      warnOnce(
        'clamped',
        `FIXWRIGHT_INDEX_WORKERS=${set} is more than ${MAX_INDEX_THREADS}; ${MAX_INDEX_THREADS} are used`,
      );
    return Math.max(1, Math.min(n, MAX_INDEX_THREADS));
  }
  const cores = Math.min(availableParallelism(), cgroupCpus() ?? Infinity, MAX_INDEX_THREADS);
  return Math.max(1, Math.min(cores, Math.round(cores - loadavg()[0]!) - 1));
}

/** What a parallel count gave: each blob's count (undefined where it threw: count it again to get its error) and how many of them other threads counted. */
export interface PoolCount {
  counted: Array<BlobCount | undefined>;
  byWorkers: number;
  /** Blobs a worker took but had not posted in time, counted here. */
  overdue: number;
}

/**
 * Worker threads that count blobs (`blob-worker.ts`, or another script speaking its protocol),
 * started on first use, never keeping the process alive, and ended after IDLE_MS unused.
 */
export class BlobPool {
  private pool: PoolWorker[] = [];
  private idleTimer: NodeJS.Timeout | undefined;
  private jobs = 0;

  constructor(private readonly script: URL) {}

  /** Up to `count` live workers, started as needed; none when the script is not there (sources run by a TypeScript loader). */
  private workers(count: number): PoolWorker[] {
    this.pool = this.pool.filter((w) => w.alive);
    if (this.pool.length < count) {
      if (!existsSync(fileURLToPath(this.script))) {
        warnOnce('script', `no worker script at ${fileURLToPath(this.script)}`);
        return [];
      }
      while (this.pool.length < count) {
        const started = this.start();
        if (!started) break;
        this.pool.push(started);
      }
    }
    return this.pool.slice(0, count);
  }

  private start(): PoolWorker | undefined {
    try {
      const { port1, port2 } = new MessageChannel();
      // Workers inherit the process's Node options; an explicit list is given only to leave out
      // those about the entry (`node --input-type=module -e …` would stop the worker), since Node
      // checks an explicit list and refuses process-wide flags such as --max-old-space-size in it.
      const execArgv = process.execArgv.some((a) => a.startsWith('--input-type'))
        ? process.execArgv.filter((a) => !a.startsWith('--input-type'))
        : undefined;
      let worker: Worker;
      try {
        worker = new Worker(this.script, {
          workerData: { port: port2 },
          transferList: [port2],
          ...(execArgv ? { execArgv } : {}),
        });
      } catch (e) {
        if ((e as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw e;
        worker = new Worker(this.script, { workerData: { port: port2 }, transferList: [port2], execArgv: [] });
      }
      const member: PoolWorker = { worker, port: port1, alive: true, online: false };
      worker.once('online', () => (member.online = true));
      // A worker that fails or exits is only dropped: the blobs it took are counted by this thread.
      worker.on('error', (e) => {
        member.alive = false;
        warnOnce('failed', `a worker failed (${e instanceof Error ? e.message : String(e)})`);
      });
      worker.on('exit', () => {
        member.alive = false;
      });
      worker.unref();
      port1.unref();
      return member;
    } catch (e) {
      warnOnce('start', `a worker could not start (${e instanceof Error ? e.message : String(e)})`);
      return undefined;
    }
  }

  /**
   * Starts workers for a count on `threads` threads ahead of it (while the snapshot is read, say),
   * resolving when they run; a count does not wait for this. The workers are unref'd: awaited in a
   * process with nothing else to do, Node may exit before they are online.
   */
  warm(threads: number): Promise<void> {
    const started = this.workers(threads - 1);
    this.idleLater();
    return Promise.all(
      started.map((w) =>
        w.online
          ? undefined
          : new Promise<void>((resolve) => w.worker.once('online', resolve).once('exit', () => resolve())),
      ),
    ).then(() => undefined);
  }

  /** Ends every worker now (tests; idle workers end by themselves). */
  async close(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const ending = this.pool;
    this.pool = [];
    await Promise.all(ending.map((w) => w.worker.terminate()));
  }

  private idleLater(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.close(), IDLE_MS);
    this.idleTimer.unref();
  }

  /**
   * Counts blobs on `threads` threads, this one among them, and returns when every blob is counted
   * (synchronously: this thread waits on the job's shared counter and reads the workers' ports
   * without the event loop). A worker that dies or stalls holds up nothing for long: every blob
   * still unposted OVERDUE_MS (and more for a large one) after all were taken is counted here.
   * Undefined when no worker could be started.
   */
  count(
    files: ReadonlyArray<{ path: string; text: string }>,
    weights: Bm25Weights,
    threads: number,
  ): PoolCount | undefined {
    const total = files.reduce((sum, f) => sum + f.text.length, 0);
    if (total > 0x3fff_ffff) return undefined;
    const helpers = this.workers(Math.min(threads, files.length) - 1);
    if (helpers.length === 0) return undefined;
    const id = ++this.jobs;
    const order = Int32Array.from(files.keys()).sort((a, b) => files[b]!.text.length - files[a]!.text.length || a - b);
    const job: BlobJob = {
      id,
      control: new SharedArrayBuffer(8),
      ...packTexts(files.map((f) => f.text)),
      paths: files.map((f) => f.path),
      order,
      weights,
      scanner: process.env.FIXWRIGHT_PYTHON_SCANNER,
    };
    const control = new Int32Array(job.control);
    for (const w of helpers) w.port.postMessage(job);

    const counted: Array<BlobCount | undefined> = new Array(files.length);
    const settled = new Uint8Array(files.length);
    let left = files.length;
    let byWorkers = 0;
    let overdueCount = 0;
    const settle = (item: number, result: BlobCount | undefined): boolean => {
      if (settled[item]) return false;
      settled[item] = 1;
      counted[item] = result;
      left--;
      return true;
    };
    const drain = () => {
      for (const w of helpers) {
        for (let m = receiveMessageOnPort(w.port); m; m = receiveMessageOnPort(w.port)) {
          const posted = m.message as { job: number; item: number; packed: PackedCount | undefined };
          // Posts of an earlier job (a blob counted here meanwhile) are dropped. Unpacked as they
          // come, while the workers still count: what is left for the caller is in snapshot order.
          if (posted.job !== id || settled[posted.item]) continue;
          settle(posted.item, posted.packed && unpackCount(posted.packed));
          if (posted.packed) byWorkers++;
        }
      }
    };
    let ownMs = 0;
    let ownChars = 0;
    const countHere = (item: number) => {
      const t0 = performance.now();
      let result: BlobCount | undefined;
      try {
        result = countBlob(files[item]!.path, files[item]!.text, weights);
      } catch {
        // Counted again by the caller, in its order, so the error is thrown where it would be.
        result = undefined;
      }
      ownMs += performance.now() - t0;
      ownChars += files[item]!.text.length;
      settle(item, result);
    };
    for (let item = claimBlob(control, job); item >= 0; item = claimBlob(control, job)) {
      countHere(item);
      drain();
    }
    const tailStart = performance.now();
    const msPerChar = ownChars > 0 ? ownMs / ownChars : 1e-4;
    while (left > 0) {
      const seen = Atomics.load(control, JOB_DONE);
      drain();
      if (left === 0) break;
      const waited = performance.now() - tailStart;
      const overdue = order.find(
        (item) => !settled[item] && waited > OVERDUE_MS + 20 * msPerChar * files[item]!.text.length,
      );
      if (overdue !== undefined) {
        overdueCount++;
        countHere(overdue);
        continue;
      }
      Atomics.wait(control, JOB_DONE, seen, 50);
    }
    this.idleLater();
    return { counted, byWorkers, overdue: overdueCount };
  }
}

/** The pool indexing uses: the worker script built beside this module. */
export const blobPool = new BlobPool(new URL('./blob-worker.js', import.meta.url));
