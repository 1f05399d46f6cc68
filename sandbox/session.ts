import { hostname } from 'node:os';
import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import { FixwrightError, beforeExit, type Logger } from '../core/index.js';
import type { CommandPolicy } from './command-policy.js';
import { buildContainerSpec, LEASE_FILE, SANDBOX_USER, type SandboxLimits, WORKDIR } from './container-spec.js';
import { hasDockerStatus } from './docker-client.js';
import { type ExecOutcome, sandboxMetrics } from './metrics.js';
import type { OomEvents } from './oom-events.js';
import { type CappedOutput, OutputCollector } from './output-cap.js';
import type { RepoCopy } from './repo-copy.js';
import { checkRepoSource, filesTarStream, type RepoSource, repoTarStream } from './repo-source.js';

/** How one command in a sandbox ended. */
export interface ExecResult {
  /** The command's exit code; 124 when it hit the timeout, 137 when killed for memory. */
  exitCode: number;
  stdout: CappedOutput;
  stderr: CappedOutput;
  durationMs: number;
  timedOut: boolean;
  oomKilled: boolean;
}

/** Options for one command. */
export interface ExecOptions {
  /** Wall-clock limit; past it the whole container is killed. */
  timeoutSeconds: number;
  stdin?: Readable | Buffer | string;
  env?: Record<string, string>;
  /** Working directory inside the container (default: the repository copy). */
  cwd?: string;
  /** Cancels the command (the container is killed, as on a timeout). */
  signal?: AbortSignal;
}

/** What a session needs to start. */
export interface OpenSessionOptions {
  docker: Docker;
  image: string;
  limits: SandboxLimits;
  policy: CommandPolicy;
  outputCapBytes: number;
  /** The container's whole life, after which it ends and is removed whatever happens. */
  leaseSeconds: number;
  /** The longest the lease may be renewed to (a warm container's); clean-up elsewhere waits that long. */
  leaseBoundSeconds?: number;
  /** The engine's OOM events, which spare a failed command the exec that reads the cgroup's count. */
  oomEvents?: OomEvents;
  logger?: Logger;
}

/** Who runs an exec: fixwright's helpers and the caller's commands run as the sandbox user; only the lease renewal runs as root. */
type ExecUser = 'sandbox' | 'root';

const EXIT_TIMEOUT = 124;
const EXIT_KILLED = 137;

/** Sessions open in this process, so a signal handler can remove them before exit. */
const liveSessions = new Set<SandboxSession>();

/**
 * Container creations still in flight: a signal can arrive after Docker made the container but
 * before `open()` heard back, and that container must be removed too.
 */
const pendingCreates = new Set<Promise<unknown>>();

/** Container removals under way (a session may be closed without waiting for Docker). */
const pendingRemovals = new Set<Promise<void>>();

/** Things that open sessions on their own (warm pools): stopped before the sessions are closed. */
const sessionSources = new Set<{ drain(): Promise<void> }>();

/** Set when the process is exiting: no container may start from then on. */
let shuttingDown = false;

/** Registers a source of sessions that closeAllSessions must stop first; returns the unregistration. */
export function registerSessionSource(source: { drain(): Promise<void> }): () => void {
  // A source made while the process exits (a command still starting up) is stopped at once.
  if (shuttingDown) void source.drain();
  sessionSources.add(source);
  return () => sessionSources.delete(source);
}

/** Closes every session this process still holds (used on SIGINT/SIGTERM and at exit), and waits until Docker removed them. */
export async function closeAllSessions(): Promise<void> {
  await Promise.allSettled([...sessionSources].map((source) => source.drain()));
  await Promise.allSettled([...pendingCreates]);
  await Promise.allSettled([...liveSessions].map((session) => session.close()));
  await Promise.allSettled([...pendingRemovals]);
}
/**
 * At exit: no container starts any more (a command may go on for a moment after a signal), and
 * every one there is removed.
 */
async function shutDown(): Promise<void> {
  shuttingDown = true;
  await closeAllSessions();
}
beforeExit(shutDown);

/** Waits until every container removal started so far has finished. */
export async function settleRemovals(): Promise<void> {
  await Promise.allSettled([...pendingRemovals]);
}

function recordExec(outcome: ExecOutcome, durationMs: number): void {
  sandboxMetrics.execs.inc({ outcome });
  sandboxMetrics.execSeconds.observe(durationMs / 1000);
}

/**
 * One fresh, locked-down container holding a private copy of a repository. Commands run in it
 * through `docker exec`; the container is always removed by `close()`, and by Docker itself at the
 * end of its lease if this process dies first.
 */
export class SandboxSession {
  readonly id: string;
  private readonly container: Docker.Container;
  private readonly options: OpenSessionOptions;
  private closed = false;
  private killedReason: 'timeout' | 'cancelled' | 'stopped' | undefined;
  private oomKillsSeen = 0;
  private oomEventsSeen = 0;
  /** Set once the cgroup was asked: from then on only the cgroup's count is compared with itself. */
  private oomByProbe = false;
  private leaseRenewals = 0;
  /** The last lease asked for by renewLease. */
  private leaseAsked: number | undefined;
  /** Commands started in the container (lease renewals aside): none means nothing ran in it. */
  private execsStarted = 0;
  private removal: Promise<void> | undefined;

  /** The image's own environment (PATH, PYTHONPATH…), so helpers can extend rather than replace it. */
  readonly imageEnv: Readonly<Record<string, string>>;

  private constructor(container: Docker.Container, options: OpenSessionOptions, imageEnv: Record<string, string>) {
    this.container = container;
    this.id = container.id;
    this.options = options;
    this.imageEnv = imageEnv;
  }

  /** Creates and starts the container. */
  static async open(options: OpenSessionOptions): Promise<SandboxSession> {
    if (shuttingDown) throw new FixwrightError('FW_ERR_SANDBOX_CLOSED', 'fixwright is exiting: no sandbox starts now');
    const spec = buildContainerSpec({
      image: options.image,
      limits: options.limits,
      leaseSeconds: options.leaseSeconds,
      leaseBoundSeconds: options.leaseBoundSeconds,
      ownerHost: hostname(),
      ownerPid: process.pid,
      now: Date.now(),
    });
    let container: Docker.Container;
    const imageEnv: Record<string, string> = {};
    try {
      const image = await options.docker.getImage(options.image).inspect();
      for (const entry of image.Config?.Env ?? []) {
        const eq = entry.indexOf('=');
        if (eq > 0) imageEnv[entry.slice(0, eq)] = entry.slice(eq + 1);
      }
      const creating = options.docker.createContainer(spec);
      pendingCreates.add(creating);
      try {
        container = await creating;
      } finally {
        pendingCreates.delete(creating);
      }
    } catch (err) {
      sandboxMetrics.starts.inc({ result: 'error' });
      if (hasDockerStatus(err, 404)) {
        throw new FixwrightError(
          'FW_ERR_IMAGE_NOT_FOUND',
          `sandbox image '${options.image}' not found; build it with 'fixwright sandbox build' or pass --image`,
          { field: 'image', cause: err },
        );
      }
      throw new FixwrightError('FW_ERR_SANDBOX', `could not create the sandbox container: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const session = new SandboxSession(container, options, imageEnv);
    options.oomEvents?.track(session.id);
    liveSessions.add(session);
    sandboxMetrics.containers.inc();
    try {
      await container.start();
      sandboxMetrics.starts.inc({ result: 'ok' });
    } catch (err) {
      sandboxMetrics.starts.inc({ result: 'error' });
      await session.close();
      throw new FixwrightError('FW_ERR_SANDBOX', `could not start the sandbox container: ${(err as Error).message}`, {
        cause: err,
      });
    }
    options.logger?.debug({ container: session.id.slice(0, 12), image: options.image }, 'sandbox opened');
    return session;
  }

  /** Copies the repository into the container's working directory: a tree read once (a RepoCopy), or read from its source now. */
  async copyRepo(source: RepoSource | RepoCopy, timeoutSeconds = 300): Promise<void> {
    const stdin = 'bytes' in source ? source.bytes : repoTarStream(checkRepoSource(source));
    const result = await this.execTrusted(['tar', '-x', '--no-same-owner', '-C', WORKDIR, '-f', '-'], {
      timeoutSeconds,
      stdin,
    });
    if (result.exitCode !== 0) {
      throw new FixwrightError(
        'FW_ERR_SANDBOX',
        `copying the repository into the sandbox failed ` +
          `(exit ${result.exitCode}${result.oomKilled ? ', out of memory: raise --memory' : ''}): ${result.stderr.text.trim().slice(0, 500)}`,
      );
    }
  }

  /** Writes small files (relative path → content) under `dir` inside the container. */
  async putFiles(dir: string, files: Record<string, string | Buffer>): Promise<void> {
    const result = await this.execTrusted(
      ['sh', '-c', 'mkdir -p "$1" && tar -x --no-same-owner -C "$1" -f -', 'sh', dir],
      {
        timeoutSeconds: 60,
        stdin: filesTarStream(files),
      },
    );
    if (result.exitCode !== 0)
      throw new FixwrightError('FW_ERR_SANDBOX', `writing files into the sandbox failed: ${result.stderr.text.trim()}`);
  }

  /** Reads a file from the container (at most `maxBytes`, head and tail kept). */
  async readFile(path: string, maxBytes = 16 * 1024 * 1024): Promise<string | undefined> {
    const result = await this.execTrusted(['cat', path], { timeoutSeconds: 60 }, maxBytes, false);
    return result.exitCode === 0 ? result.stdout.text : undefined;
  }

  /**
   * Restarts the keeper's count at `seconds` from now (a warm container gets its caller's lease
   * when it is handed out). Written as root into a file the sandbox user cannot write.
   */
  async renewLease(seconds: number): Promise<void> {
    const lease = Math.max(1, Math.ceil(seconds));
    if (this.options.leaseBoundSeconds !== undefined && lease > this.options.leaseBoundSeconds) {
      throw new FixwrightError(
        'FW_ERR_SANDBOX',
        `a lease of ${lease}s is past this sandbox's bound of ${this.options.leaseBoundSeconds}s`,
      );
    }
    this.leaseRenewals += 1;
    this.leaseAsked = lease;
    const result = await this.exec(
      ['sh', '-c', `printf '%s %s\\n' "$1" "$2" > ${LEASE_FILE}`, 'sh', String(this.leaseRenewals), String(lease)],
      { timeoutSeconds: 30 },
      4096,
      false,
      'root',
    );
    if (result.exitCode !== 0)
      throw new FixwrightError(
        'FW_ERR_SANDBOX',
        `could not renew the sandbox's lease (exit ${result.exitCode}): ${result.stderr.text.trim().slice(0, 200)}`,
      );
  }

  /** Commands started in this container so far (lease renewals aside): unchanged since a moment, nothing ran in it since. */
  get commandsStarted(): number {
    return this.execsStarted;
  }

  /** Throws FW_ERR_COMMAND_NOT_ALLOWED unless the program is allowed by the command policy. */
  checkCommand(argv: readonly string[]): void {
    this.options.policy.check(argv);
  }

  /** Runs a caller's command, which must pass the command policy. */
  async run(argv: readonly string[], options: ExecOptions): Promise<ExecResult> {
    this.options.policy.check(argv);
    return this.execTrusted(argv, options);
  }

  /**
   * Runs one of fixwright's own helper programs (tar, cat, git apply) without the policy check.
   * Never pass argv that came from a user or a model.
   */
  execTrusted(
    argv: readonly string[],
    options: ExecOptions,
    outputCapBytes = this.options.outputCapBytes,
    checkOom = true,
  ): Promise<ExecResult> {
    return this.exec(argv, options, outputCapBytes, checkOom, 'sandbox');
  }

  /** The lease the sandbox was opened with, and the longest a renewal may ask for. */
  get lease(): { seconds: number; boundSeconds: number | undefined } {
    return { seconds: this.leaseAsked ?? this.options.leaseSeconds, boundSeconds: this.options.leaseBoundSeconds };
  }

  private async exec(
    argv: readonly string[],
    options: ExecOptions,
    outputCapBytes: number,
    checkOom: boolean,
    user: ExecUser,
  ): Promise<ExecResult> {
    if (this.closed || this.killedReason) {
      throw new FixwrightError(
        'FW_ERR_SANDBOX_CLOSED',
        `the sandbox was already ${this.killedReason ? 'killed (' + this.killedReason + ')' : 'closed'}`,
      );
    }
    const started = Date.now();
    const stdout = new OutputCollector(outputCapBytes);
    const stderr = new OutputCollector(outputCapBytes);
    const hasStdin = options.stdin !== undefined;
    const env = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`);
    let exec: Docker.Exec;
    let stream: Duplex;
    try {
      exec = await this.container.exec({
        Cmd: [...argv],
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: hasStdin,
        Tty: false,
        Env: env,
        User: user === 'root' ? '0:0' : SANDBOX_USER,
        WorkingDir: options.cwd ?? WORKDIR,
      });
      // Counted before the start: a start that fails half-way may still have run something.
      if (user === 'sandbox') this.execsStarted += 1;
      stream = (await exec.start({ hijack: true, stdin: hasStdin })) as Duplex;
    } catch (err) {
      if (hasDockerStatus(err, 404, 409)) {
        this.killedReason ??= 'stopped';
        throw new FixwrightError(
          'FW_ERR_SANDBOX_CLOSED',
          'the sandbox container has stopped (its lease ended, or it was killed)',
          { cause: err },
        );
      }
      throw new FixwrightError('FW_ERR_SANDBOX', `could not run a command in the sandbox: ${(err as Error).message}`, {
        cause: err,
      });
    }

    let timedOut = false;
    let cancelled = false;
    const kill = (reason: 'timeout' | 'cancelled') => {
      if (this.killedReason) return;
      this.killedReason = reason;
      if (reason === 'timeout') timedOut = true;
      else cancelled = true;
      void this.container.kill().catch(() => undefined);
      stream.destroy();
    };
    const timer = setTimeout(() => kill('timeout'), Math.max(1, options.timeoutSeconds * 1000));
    const onAbort = () => kill('cancelled');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();

    const finished = new Promise<void>((resolveDone) => {
      stream.once('end', resolveDone);
      stream.once('close', resolveDone);
      stream.once('error', () => resolveDone());
    });
    // demuxStream only calls write(); the collectors take chunks synchronously.
    this.options.docker.modem.demuxStream(
      stream,
      stdout as unknown as NodeJS.WritableStream,
      stderr as unknown as NodeJS.WritableStream,
    );
    if (hasStdin) void this.feedStdin(stream, options.stdin!);

    await finished;
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);

    const durationMs = Date.now() - started;
    if (timedOut || cancelled) {
      recordExec(timedOut ? 'timeout' : 'cancelled', durationMs);
      return {
        exitCode: timedOut ? EXIT_TIMEOUT : EXIT_KILLED,
        stdout: stdout.result(),
        stderr: stderr.result(),
        durationMs,
        timedOut,
        oomKilled: false,
      };
    }
    const exitCode = await this.waitExitCode(exec);
    // Any failure may hide an OOM kill of a child process, not only an exit by SIGKILL.
    const oomKilled = checkOom && exitCode !== 0 && (await this.sawOomKill(exec.id));
    recordExec(oomKilled ? 'oom' : exitCode === 0 ? 'ok' : 'nonzero', durationMs);
    return { exitCode, stdout: stdout.result(), stderr: stderr.result(), durationMs, timedOut: false, oomKilled };
  }

  private async feedStdin(stream: Duplex, input: Readable | Buffer | string): Promise<void> {
    try {
      if (typeof input === 'string' || Buffer.isBuffer(input)) {
        stream.end(input);
        return;
      }
      // end: true half-closes the connection, which the process in the container sees as EOF.
      await pipeline(input, stream, { end: true }).catch((err: unknown) => {
        // The command may exit before reading all of stdin; only a source failure matters.
        if (input.destroyed && !stream.destroyed) stream.destroy(err as Error);
      });
    } catch {
      stream.destroy();
    }
  }

  private async waitExitCode(exec: Docker.Exec): Promise<number> {
    // The stream can end a moment before the engine records the exit code.
    for (let i = 0; i < 200; i++) {
      let info: Docker.ExecInspectInfo;
      try {
        info = await exec.inspect();
      } catch {
        return EXIT_KILLED; // The container is gone (its lease ended or it was killed).
      }
      if (!info.Running && info.ExitCode !== null) return info.ExitCode;
      await new Promise((r) => setTimeout(r, 10));
    }
    return EXIT_KILLED;
  }

  /**
   * Whether the kernel's OOM killer struck in this container since the last check: from the
   * engine's events when they can tell (no exec), else from the cgroup (v2 and v1 counters).
   */
  private async sawOomKill(execId: string): Promise<boolean> {
    const events = this.oomByProbe ? undefined : await this.options.oomEvents?.countAtExit(this.id, execId);
    if (events !== undefined) {
      const fresh = events > this.oomEventsSeen;
      this.oomEventsSeen = events;
      return fresh;
    }
    // The stream could not tell (it ended, or the exec_die is late): from now on the cgroup's count
    // is compared with itself; its first answer with what the events had counted, the nearest known.
    if (!this.oomByProbe) {
      this.oomByProbe = true;
      this.oomKillsSeen = this.oomEventsSeen;
    }
    try {
      const probe = await this.execTrusted(
        ['sh', '-c', 'cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null; true'],
        { timeoutSeconds: 10 },
        64 * 1024,
        false,
      );
      const match = /^oom_kill (\d+)$/m.exec(probe.stdout.text);
      if (match) {
        const count = Number(match[1]);
        const fresh = count > this.oomKillsSeen;
        this.oomKillsSeen = count;
        return fresh;
      }
    } catch {
      // The container itself may be gone; ask the engine instead.
    }
    try {
      return (await this.container.inspect()).State.OOMKilled;
    } catch {
      return false;
    }
  }

  /**
   * Kills and removes the container; safe to call more than once. No command can run in it once
   * this is called; the promise settles when Docker has removed it, and closeAllSessions waits
   * for that too, so a caller may leave the removal to run on.
   */
  close(): Promise<void> {
    if (this.removal) return this.removal;
    this.closed = true;
    liveSessions.delete(this);
    this.options.oomEvents?.forget(this.id);
    sandboxMetrics.containers.dec();
    const removal = this.container
      .remove({ force: true, v: true })
      .then(
        () => undefined,
        (err: unknown) => {
          // 404: already gone; 409: removal already in progress (auto-remove after a kill).
          if (!hasDockerStatus(err, 404, 409)) {
            this.options.logger?.warn(
              { err, container: this.id.slice(0, 12) },
              'sandbox removal failed; start-up clean-up will retry',
            );
          }
        },
      )
      .finally(() => {
        pendingRemovals.delete(removal);
        this.options.logger?.debug({ container: this.id.slice(0, 12) }, 'sandbox closed');
      });
    pendingRemovals.add(removal);
    this.removal = removal;
    return removal;
  }
}
