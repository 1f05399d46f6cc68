import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Socket } from 'node:net';
import { PassThrough, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { assetPath, type Logger } from '../core/index.js';
// The same lock-down every sandbox gets (network none, read-only root, cap-drop ALL, limits, labels
// for orphan clean-up); the analysis server is one more locked-down container, not a new kind.
import { buildContainerSpec, SANDBOX_USER, hasDockerStatus } from '../sandbox/index.js';
import { pyflakesDiagnostics, type PyflakesFinding } from './diagnostics.js';
import { quickfixMetrics } from './metrics.js';
import type { Diagnostic } from './types.js';

/** One pyflakes check: the diagnostics, or why pyflakes could not run. */
export type AnalysisResult =
  | {
      available: true;
      diagnostics: Diagnostic[];
      version: string;
      durationMs: number;
      /** Set when pyflakes saw a skeleton of the file: what it saw whole (the diagnostics are those parts'). */
      view?: string;
    }
  | { available: false; reason: string; durationMs: number };

/** Re-runs diagnostics on code without executing it. */
export interface Analyser {
  check(code: string): Promise<AnalysisResult>;
  close(): Promise<void>;
}

/** How the analysis container is run. */
export interface AnalysisContainerOptions {
  docker: Docker;
  image: string;
  logger?: Logger;
  /** The container's whole life; a fresh one replaces it before then. */
  leaseSeconds?: number;
  /** One check's limit; past it the container is replaced (a snippet that hangs pyflakes). */
  checkTimeoutMs?: number;
  /** After a failed start, how long checks answer "unavailable" before trying again. */
  retryAfterMs?: number;
  memoryBytes?: number;
}

interface Connection {
  container: Docker.Container;
  stream: Duplex;
  version: string;
  startedAt: number;
  pending: Map<
    number,
    {
      resolve: (value: { ok: boolean; diagnostics?: PyflakesFinding[]; error?: string }) => void;
      reject: (err: Error) => void;
    }
  >;
  dead: boolean;
}

let serverSource: string | undefined;

/** Splits a byte stream into lines and hands each to `onLine`; `onEnd` runs once when it ends. */
function readLines(stream: PassThrough, onLine: (line: string) => void, onEnd: () => void): void {
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      onLine(line);
    }
  });
  stream.once('end', onEnd);
}

/**
 * One long-lived, locked-down container running pyflakes behind a JSON-lines protocol on stdin and
 * stdout, so a check costs milliseconds rather than a container start. It is started on first use,
 * replaced before its lease ends, restarted when it dies, and reports "unavailable" (with the
 * reason) when Docker or the image is missing instead of failing the request.
 */
export class AnalysisContainer implements Analyser {
  private readonly options: Required<Omit<AnalysisContainerOptions, 'logger'>> & { logger?: Logger };
  private connection: Promise<Connection> | undefined;
  /** The connection `connection` resolved to, so a dead one can be dropped synchronously. */
  private live: Connection | undefined;
  private lastFailure: { reason: string; at: number } | undefined;
  private nextId = 1;
  private closed = false;

  constructor(options: AnalysisContainerOptions) {
    this.options = {
      leaseSeconds: 900,
      checkTimeoutMs: 10_000,
      retryAfterMs: 15_000,
      memoryBytes: 512 * 1024 * 1024,
      ...options,
    };
  }

  /** Runs pyflakes on the code; retries once on a fresh container when the old one died mid-check. */
  async check(code: string): Promise<AnalysisResult> {
    const started = performance.now();
    for (let attempt = 0; attempt < 2; attempt++) {
      let connection: Connection;
      try {
        connection = await this.ensure();
      } catch (err) {
        return { available: false, reason: (err as Error).message, durationMs: performance.now() - started };
      }
      try {
        const answer = await this.ask(connection, code);
        const durationMs = performance.now() - started;
        quickfixMetrics.analysisSeconds.observe(durationMs / 1000);
        if (!answer.ok)
          return {
            available: false,
            reason: `pyflakes could not check the code: ${answer.error ?? 'unknown error'}`,
            durationMs,
          };
        return {
          available: true,
          diagnostics: pyflakesDiagnostics(answer.diagnostics ?? []),
          version: connection.version,
          durationMs,
        };
      } catch (err) {
        this.discard(connection);
        if (attempt === 1 || /timed out/.test((err as Error).message))
          return { available: false, reason: (err as Error).message, durationMs: performance.now() - started };
      }
    }
    return {
      available: false,
      reason: 'the analysis container kept stopping',
      durationMs: performance.now() - started,
    };
  }

  /** Stops the container; later checks answer "unavailable". */
  async close(): Promise<void> {
    this.closed = true;
    const current = this.connection;
    this.connection = undefined;
    this.live = undefined;
    const connection = await current?.catch(() => undefined);
    if (connection) await this.remove(connection);
  }

  private ensure(): Promise<Connection> {
    if (this.closed) return Promise.reject(new Error('the analysis container was shut down'));
    if (this.lastFailure && Date.now() - this.lastFailure.at < this.options.retryAfterMs)
      return Promise.reject(new Error(this.lastFailure.reason));
    const current = this.connection;
    if (current) {
      return current.then((connection) => {
        // Replaced a minute before its lease ends, so no check is cut off by the keeper's exit.
        const old = Date.now() - connection.startedAt > (this.options.leaseSeconds - 60) * 1000;
        if (!connection.dead && !old) return connection;
        this.discard(connection);
        return this.ensure();
      });
    }
    const starting = this.start().then(
      (connection) => {
        this.live = connection;
        this.lastFailure = undefined;
        quickfixMetrics.analysisStarts.inc({ result: 'ok' });
        return connection;
      },
      (err: Error) => {
        quickfixMetrics.analysisStarts.inc({ result: 'error' });
        if (this.connection === starting) this.connection = undefined;
        this.lastFailure = { reason: err.message, at: Date.now() };
        this.options.logger?.warn(
          { reason: err.message },
          'the quick-fix analysis container is unavailable; edits are returned without pyflakes checks',
        );
        throw err;
      },
    );
    this.connection = starting;
    return starting;
  }

  private discard(connection: Connection): void {
    connection.dead = true;
    if (this.live === connection) {
      this.live = undefined;
      this.connection = undefined;
    }
    void this.remove(connection);
  }

  private async remove(connection: Connection): Promise<void> {
    connection.dead = true;
    for (const p of connection.pending.values()) p.reject(new Error('the analysis container stopped'));
    connection.pending.clear();
    connection.stream.destroy();
    await connection.container.remove({ force: true, v: true }).catch((err: unknown) => {
      if (!hasDockerStatus(err, 404, 409))
        this.options.logger?.warn({ err }, 'could not remove the analysis container');
    });
  }

  private async start(): Promise<Connection> {
    const { docker, image } = this.options;
    try {
      await docker.getImage(image).inspect();
    } catch (err) {
      if (hasDockerStatus(err, 404))
        throw new Error(`the sandbox image ${image} is missing; build it with 'fixwright sandbox build'`, {
          cause: err,
        });
      throw new Error(`Docker is unreachable (${(err as Error).message}); pyflakes checks need it`, { cause: err });
    }
    const spec = buildContainerSpec({
      image,
      limits: { memoryBytes: this.options.memoryBytes, cpus: 1, pids: 16, workdirBytes: 16 * 1024 * 1024 },
      leaseSeconds: this.options.leaseSeconds,
      ownerHost: hostname(),
      ownerPid: process.pid,
      now: Date.now(),
    });
    const container = await docker.createContainer({
      ...spec,
      Labels: { ...spec.Labels, 'fixwright.role': 'quickfix-analysis' },
    });
    try {
      await container.start();
      serverSource ??= readFileSync(assetPath('sandbox/assets/fixwright_pyflakes_server.py'), 'utf8');
      // -I: isolated mode (no user site, no PYTHON* variables); the server only parses snippets.
      const exec = await container.exec({
        Cmd: ['python3', '-I', '-c', serverSource],
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        User: SANDBOX_USER,
        WorkingDir: '/tmp',
      });
      const stream = (await exec.start({ hijack: true, stdin: true })) as Duplex;
      // An idle analyser must never keep the process alive (a server that is shutting down would
      // wait on it forever): a pending check holds the loop through its own timeout timer instead.
      (stream as Partial<Socket>).unref?.();
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      docker.modem.demuxStream(stream, stdout, stderr);
      stderr.resume();
      stream.once('end', () => stdout.end());
      stream.once('close', () => stdout.end());
      const connection: Connection = {
        container,
        stream,
        version: 'unknown',
        startedAt: Date.now(),
        pending: new Map(),
        dead: false,
      };
      const hello = await this.listen(connection, stdout);
      if (!hello.ready)
        throw new Error(
          `${hello.error ?? 'the analysis server failed to start'}; rebuild the image with 'fixwright sandbox build --force'`,
        );
      connection.version = hello.pyflakes ?? 'unknown';
      this.options.logger?.debug(
        { container: container.id.slice(0, 12), pyflakes: connection.version },
        'quick-fix analysis container ready',
      );
      return connection;
    } catch (err) {
      await container.remove({ force: true, v: true }).catch(() => undefined);
      throw err;
    }
  }

  /** Routes answers to their waiting checks; resolves with the server's first line (its hello). */
  private listen(
    connection: Connection,
    stdout: PassThrough,
  ): Promise<{ ready: boolean; pyflakes?: string; error?: string }> {
    return new Promise((resolveHello, rejectHello) => {
      let greeted = false;
      const timer = setTimeout(() => rejectHello(new Error('the analysis server did not start within 20 s')), 20_000);
      readLines(
        stdout,
        (line) => {
          let answer: {
            id?: number;
            ok?: boolean;
            ready?: boolean;
            pyflakes?: string;
            diagnostics?: PyflakesFinding[];
            error?: string;
          };
          try {
            answer = JSON.parse(line) as typeof answer;
          } catch {
            return; // not ours: the protocol is one JSON object a line
          }
          if (!greeted) {
            greeted = true;
            clearTimeout(timer);
            resolveHello({ ready: answer.ready === true, pyflakes: answer.pyflakes, error: answer.error });
            return;
          }
          const waiter = answer.id === undefined ? undefined : connection.pending.get(answer.id);
          if (waiter) {
            connection.pending.delete(answer.id!);
            waiter.resolve({ ok: answer.ok === true, diagnostics: answer.diagnostics, error: answer.error });
          }
        },
        () => {
          connection.dead = true;
          clearTimeout(timer);
          if (!greeted) rejectHello(new Error('the analysis server exited before it was ready'));
          for (const p of connection.pending.values()) p.reject(new Error('the analysis container stopped'));
          connection.pending.clear();
        },
      );
    });
  }

  private ask(
    connection: Connection,
    code: string,
  ): Promise<{ ok: boolean; diagnostics?: PyflakesFinding[]; error?: string }> {
    if (connection.dead) return Promise.reject(new Error('the analysis container stopped'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        connection.pending.delete(id);
        reject(new Error(`pyflakes timed out after ${this.options.checkTimeoutMs} ms`));
      }, this.options.checkTimeoutMs);
      connection.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      connection.stream.write(`${JSON.stringify({ id, code })}\n`);
    });
  }
}
