import { hostname } from 'node:os';
import type Docker from 'dockerode';
import type { SandboxSettings, Settings } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { type CommandPolicy, createCommandPolicy } from './command-policy.js';
import type { SandboxLimits } from './container-spec.js';
import { createDockerClient, ensureDockerReachable } from './docker-client.js';
import { removeOrphans } from './orphans.js';
import { SandboxPool } from './pool.js';
import type { RepoSource } from './repo-source.js';
import { closeAllSessions, type ExecResult, SandboxSession } from './session.js';

export { applyPatch, type ApplyResult } from './patch-apply.js';
export { checkPatch, pathViolations, type PatchCheck, type PatchFile, type PatchRule, type PatchViolation } from './patch-policy.js';
export { runPytest, type PytestRunOptions, type PytestRunResult } from './pytest-run.js';
export type { TestOutcome, TestStatus } from './pytest-outcomes.js';
export { baseImageTag, buildBaseImage, BASE_IMAGE, type BaseImageMethod, type BaseImageResult, type BaseSuite } from './images/base-image.js';
export { ensureEnvironmentImage, environmentDockerfile, parseEnvironmentSpec, type EnvironmentSpec, type EnvironmentSpecInput } from './images/env-image.js';
export type { CappedOutput } from './output-cap.js';
export type { ExecOptions, ExecResult } from './session.js';
export { SandboxSession, type RepoSource, type SandboxLimits };
export { createCommandPolicy, type CommandPolicy } from './command-policy.js';
export { checkRepoSource } from './repo-source.js';
export { createDockerClient, ensureDockerReachable } from './docker-client.js';

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
  /** Opens a sandbox when a pool slot is free, runs `task` in it, and always removes it. */
  withSandbox<T>(options: SandboxOptions, task: (session: SandboxSession) => Promise<T>): Promise<T>;
  /** Runs one allowlisted command in a fresh sandbox. */
  runCommand(options: RunCommandOptions): Promise<ExecResult>;
  /** Removes every sandbox this process still holds. */
  close(): Promise<void>;
}

/**
 * Connects to Docker (failing with what to do when it is not running), removes orphaned sandboxes
 * left by dead processes, and returns the runtime.
 */
export async function createSandboxRuntime(settings: Settings, options: { logger?: Logger; docker?: Docker } = {}): Promise<SandboxRuntime> {
  const docker = options.docker ?? createDockerClient(settings.dockerHost);
  await ensureDockerReachable(docker, settings.dockerHost);
  await removeOrphans(docker, { host: hostname(), pid: process.pid, now: Date.now() }, options.logger);
  const sandbox = settings.sandbox;
  const policy = createCommandPolicy(sandbox.allow);
  const pool = new SandboxPool(sandbox.concurrency);

  const withSandbox: SandboxRuntime['withSandbox'] = (opts, task) =>
    pool.use(async () => {
      const session = await SandboxSession.open({
        docker,
        image: opts.image ?? sandbox.image,
        limits: {
          memoryBytes: opts.limits?.memoryBytes ?? sandbox.memoryBytes,
          cpus: opts.limits?.cpus ?? sandbox.cpus,
          pids: opts.limits?.pids ?? sandbox.pids,
          workdirBytes: opts.limits?.workdirBytes ?? sandbox.workdirBytes,
        },
        policy,
        outputCapBytes: opts.outputCapBytes ?? sandbox.outputCapBytes,
        leaseSeconds: opts.leaseSeconds ?? sandbox.timeoutSeconds + sandbox.leaseGraceSeconds,
        logger: options.logger,
      });
      try {
        if (opts.repo) await session.copyRepo(opts.repo);
        return await task(session);
      } finally {
        await session.close();
      }
    });

  return {
    docker,
    settings: sandbox,
    policy,
    pool,
    withSandbox,
    async runCommand(opts) {
      // Refuse a disallowed program before paying for a container.
      policy.check(opts.argv);
      const timeoutSeconds = opts.timeoutSeconds ?? sandbox.timeoutSeconds;
      return withSandbox({ ...opts, leaseSeconds: opts.leaseSeconds ?? timeoutSeconds + sandbox.leaseGraceSeconds }, (session) =>
        session.run(opts.argv, { timeoutSeconds, signal: opts.signal }),
      );
    },
    close: closeAllSessions,
  };
}
export * from './environment/index.js';
