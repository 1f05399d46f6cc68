import { hostname } from 'node:os';
import type Docker from 'dockerode';
import type { SandboxSettings, Settings, Logger } from '../core/index.js';
import { type CommandPolicy, createCommandPolicy } from './command-policy.js';
import { LABELS, type SandboxLimits } from './container-spec.js';
import { createDockerClient, ensureDockerReachable } from './docker-client.js';
import { OomEvents } from './oom-events.js';
import { removeOrphans } from './orphans.js';
import { sandboxMetrics } from './metrics.js';
import { SandboxPool } from './pool.js';
import { RepoCopies } from './repo-copy.js';
import type { RepoSource } from './repo-source.js';
import { closeAllSessions, type ExecResult, SandboxSession } from './session.js';
import { WarmPool, type WarmSpec } from './warm-pool.js';

export { applyPatch, type ApplyResult } from './patch-apply.js';
export {
  checkPatch,
  pathViolations,
  type PatchCheck,
  type PatchFile,
  type PatchRule,
  type PatchViolation,
} from './patch-policy.js';
export { runPytest, type PytestRunOptions, type PytestRunResult } from './pytest-run.js';
export type { TestOutcome, TestStatus } from './pytest-outcomes.js';
export {
  baseImageTag,
  buildBaseImage,
  BASE_IMAGE,
  type BaseImageMethod,
  type BaseImageResult,
  type BaseSuite,
} from './images/base-image.js';
export {
  ensureEnvironmentImage,
  environmentDockerfile,
  parseEnvironmentSpec,
  type EnvironmentSpec,
  type EnvironmentSpecInput,
} from './images/env-image.js';
export type { CappedOutput } from './output-cap.js';
export type { ExecOptions, ExecResult } from './session.js';
export { settleRemovals } from './session.js';
export { SandboxSession, type RepoSource, type SandboxLimits };
export { createCommandPolicy, type CommandPolicy } from './command-policy.js';
export { checkRepoSource } from './repo-source.js';
export { createDockerClient, ensureDockerReachable, hasDockerStatus } from './docker-client.js';
// The container every sandbox runs in, for quickfix's long-lived analysis container.
export { buildContainerSpec, SANDBOX_USER } from './container-spec.js';
export type { RepoCopy } from './repo-copy.js';

/** A spec no one asked for in this long stops being kept warm. */
const WARM_IDLE_SECONDS = 120;
/** The longest lease a warm container can be given (longer ones start cold). */
const WARM_LEASE_BOUND_SECONDS = 6 * 3600;

/** How to open one sandbox; anything left out comes from the settings. */
export interface SandboxOptions {
  image?: string;
  limits?: Partial<SandboxLimits>;
  /** The repository to copy in before the caller's code runs. */
  repo?: RepoSource;
  /** The container's whole life (default: the command timeout plus the lease grace). */
  leaseSeconds?: number;
  /** Bytes kept per output stream (default: the settings'); a test log may want more. */
  outputCapBytes?: number;
  /**
   * False when no other sandbox of this image and repository is expected soon (a one-off
   * evaluation): none is started ahead for it. A warm one already there is still taken.
   */
  warm?: boolean;
}

/** One command in a fresh sandbox over a copy of a repository. */
export interface RunCommandOptions extends SandboxOptions {
  repo: RepoSource;
  argv: readonly string[];
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

/** The sandbox stage as other stages see it. */
export interface SandboxRuntime {
  readonly docker: Docker;
  readonly settings: SandboxSettings;
  readonly policy: CommandPolicy;
  readonly pool: SandboxPool;
  /** Containers started ahead of need (each handed out once); size 0 when off. */
  readonly warm: WarmPool;
  /** Opens a sandbox when a pool slot is free, runs `task` in it, and always removes it. */
  withSandbox<T>(options: SandboxOptions, task: (session: SandboxSession) => Promise<T>): Promise<T>;
  /** Runs one allowlisted command in a fresh sandbox. */
  runCommand(options: RunCommandOptions): Promise<ExecResult>;
  /** Stops the warm pool and removes every sandbox this process still holds, waiting for Docker. */
  close(): Promise<void>;
}

/** Options of the runtime itself. */
export interface SandboxRuntimeOptions {
  logger?: Logger;
  docker?: Docker;
  /** Overrides the settings' warm pool size (a one-shot command wants none). */
  warm?: number;
}

/**
 * Connects to Docker (failing with what to do when it is not running), removes orphaned sandboxes
 * left by dead processes, and returns the runtime.
 */
export async function createSandboxRuntime(
  settings: Settings,
  options: SandboxRuntimeOptions = {},
): Promise<SandboxRuntime> {
  const docker = options.docker ?? createDockerClient(settings.dockerHost);
  await ensureDockerReachable(docker, settings.dockerHost);
  await removeOrphans(docker, { host: hostname(), pid: process.pid, now: Date.now() }, options.logger);
  const sandbox = settings.sandbox;
  const policy = createCommandPolicy(sandbox.allow);
  const pool = new SandboxPool(sandbox.concurrency);
  const copies = new RepoCopies(sandbox.warmMemoryBytes);
  // Subscribed before any container of this runtime exists, so none of their OOM events is missed.
  const oomEvents = await OomEvents.start(docker, [
    `${LABELS.sandbox}=1`,
    `${LABELS.ownerHost}=${hostname()}`,
    `${LABELS.ownerPid}=${process.pid}`,
  ]);
  const open = (spec: WarmSpec, leaseSeconds: number, leaseBoundSeconds?: number) =>
    SandboxSession.open({
      docker,
      image: spec.image,
      limits: spec.limits,
      policy,
      outputCapBytes: spec.outputCapBytes,
      leaseSeconds,
      leaseBoundSeconds,
      oomEvents,
      logger: options.logger,
    });
  const warm = new WarmPool({
    size: options.warm ?? sandbox.warm ?? sandbox.concurrency,
    memoryBytes: sandbox.warmMemoryBytes,
    idleSeconds: WARM_IDLE_SECONDS,
    leaseBoundSeconds: WARM_LEASE_BOUND_SECONDS,
    open,
    logger: options.logger,
  });

  const withSandbox: SandboxRuntime['withSandbox'] = (opts, task) =>
    pool.use(async () => {
      warm.begin();
      try {
        return await inSandbox(opts, task);
      } finally {
        warm.end();
      }
    });

  /** One caller's sandbox: a warm one when the pool has it, else started now. */
  const inSandbox = async <T>(opts: SandboxOptions, task: (session: SandboxSession) => Promise<T>): Promise<T> => {
    const spec: WarmSpec = {
      image: opts.image ?? sandbox.image,
      limits: {
        memoryBytes: opts.limits?.memoryBytes ?? sandbox.memoryBytes,
        cpus: opts.limits?.cpus ?? sandbox.cpus,
        pids: opts.limits?.pids ?? sandbox.pids,
        workdirBytes: opts.limits?.workdirBytes ?? sandbox.workdirBytes,
      },
      outputCapBytes: opts.outputCapBytes ?? sandbox.outputCapBytes,
    };
    const leaseSeconds = opts.leaseSeconds ?? sandbox.timeoutSeconds + sandbox.leaseGraceSeconds;
    // The repository is read once per tree and copied from memory; a tree too large to keep is read per sandbox.
    const copy = opts.repo ? await copies.get(opts.repo) : undefined;
    const warmable = !opts.repo || copy !== undefined;
    const cold = async () => {
      const session = await open(spec, leaseSeconds);
      try {
        if (opts.repo) await session.copyRepo(copy ?? opts.repo);
      } catch (err) {
        void session.close();
        throw err;
      }
      return session;
    };
    const run = async (session: SandboxSession) => {
      sandboxMetrics.inUse.inc();
      try {
        return await task(session);
      } finally {
        sandboxMetrics.inUse.dec();
        // Nothing runs in it again; Docker removes it while the caller goes on (close() waits for every removal).
        void session.close();
      }
    };
    const taken = warmable ? warm.take({ ...spec, copy }, leaseSeconds, { refill: opts.warm !== false }) : undefined;
    if (!taken || !('session' in taken)) return run(await cold());
    const started = taken.session.commandsStarted;
    try {
      return await run(taken.session);
    } catch (err) {
      // A warm container that had died in the pool (the engine restarted, the host's OOM killer) fails
      // the task before any of its commands ran: it runs again in a fresh container. Once a command
      // started, the outcome stands.
      if ((err as { code?: string }).code === 'FW_ERR_SANDBOX_CLOSED' && taken.session.commandsStarted === started)
        return run(await cold());
      throw err;
    } finally {
      taken.lease.done();
    }
  };

  return {
    docker,
    settings: sandbox,
    policy,
    pool,
    warm,
    withSandbox,
    async runCommand(opts) {
      // Refuse a disallowed program before paying for a container.
      policy.check(opts.argv);
      const timeoutSeconds = opts.timeoutSeconds ?? sandbox.timeoutSeconds;
      return withSandbox(
        { ...opts, leaseSeconds: opts.leaseSeconds ?? timeoutSeconds + sandbox.leaseGraceSeconds },
        (session) => session.run(opts.argv, { timeoutSeconds, signal: opts.signal }),
      );
    },
    async close() {
      await warm.drain();
      await closeAllSessions();
      oomEvents?.close();
    },
  };
}
export * from './environment/index.js';
