import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync, existsSync, lstatSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { z } from 'zod';
import { FixwrightError } from '../../core/errors.js';
import { assetPath } from '../../core/paths.js';
import type { SandboxSettings } from '../../core/config.js';
import { SCRATCH_DIR, WORKDIR, type SandboxLimits } from '../container-spec.js';
import { sandboxMetrics } from '../metrics.js';
import type { RepoSource } from '../repo-source.js';
import type { SandboxSession } from '../session.js';
import type { TestEnvironment } from './types.js';

/**
 * Files that feed a compiled extension: a pattern without a slash matches a file name anywhere,
 * one ending in a slash a directory, any other the whole path (`*` crosses directories).
 */
export const DEFAULT_BUILD_INPUTS = [
  '*.pyx', '*.pxd', '*.pxi', '*.tp', '*.c', '*.h', '*.cc', '*.cpp', '*.cxx', '*.hpp', '*.f', '*.f90',
  'setup.py', 'setup.cfg', 'pyproject.toml', 'setup_package.py', 'meson.build',
];

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * How a checkout's C/Cython extensions are built (such as `python3 setup.py build_ext --inplace`).
 * The command is the repository's own build code: it runs only inside a sandbox.
 */
export const extensionBuildSchema = z
  .object({
    command: z.array(z.string().min(1)).min(1),
    env: z.record(z.string().regex(envName, 'not an environment variable name'), z.string()).default({}),
    inputs: z.array(z.string().min(1).refine((p) => !p.startsWith('/') && !p.includes('..'), 'a pattern inside the repository')).min(1).default(DEFAULT_BUILD_INPUTS),
    timeout_seconds: z.number().int().positive().max(6 * 3600).default(1800),
  })
  .strict();

/** A build as written in a table or spec. */
export type ExtensionBuildInput = z.input<typeof extensionBuildSchema>;
/** A validated build. */
export type ExtensionBuild = z.output<typeof extensionBuildSchema>;

/** A finished build of one tree: the files it made, ready to be put into any sandbox of the same image. */
export interface BuiltExtensions {
  key: string;
  /** The outputs as a gzipped tar, relative to the checkout. */
  tar: Buffer;
  /** What the helper's `check` compares after patches (inputs' hashes, the outputs' paths). */
  manifest: string;
  /** Whether it came from the cache. */
  reused: boolean;
  /** The build's own time (seconds), when it was built. */
  buildSeconds: number;
  files: number;
}

/** What a test sandbox's check found and did. */
export interface RebuildResult {
  rebuilt: boolean;
  full: boolean;
  changed: string[];
  durationMs: number;
}

/** The sandbox runtime as the build needs it (a type, so this module does not load the runtime). */
export interface BuildRuntime {
  readonly docker: Docker;
  readonly settings: SandboxSettings;
  withSandbox<T>(
    options: { image?: string; repo?: RepoSource; limits?: Partial<SandboxLimits>; leaseSeconds?: number; outputCapBytes?: number; warm?: boolean },
    task: (session: SandboxSession) => Promise<T>,
  ): Promise<T>;
}

const STATE_DIR = `${SCRATCH_DIR}/build`;
const HELPER = `${STATE_DIR}/extension-build.py`;
const GIB = 1024 ** 3;
/** Outputs larger than this are a build gone wrong, not something to cache. */
const MAX_OUTPUT_BYTES = 1024 ** 3;

const helperScript = () => readFileSync(assetPath('sandbox/assets/extension-build.py'), 'utf8');

/** The cache directory: FIXWRIGHT_DATA_DIR/extension-builds unless given. */
export function defaultBuildCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(resolve(env.FIXWRIGHT_DATA_DIR ?? join(homedir(), '.fixwright')), 'extension-builds');
}

/** A matcher with the helper's rules (Python's fnmatch: `*` matches any characters, `/` too). */
export function inputMatcher(patterns: readonly string[]): (path: string) => boolean {
  const glob = (p: string) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  const rules = patterns.map((p) => {
    if (p.endsWith('/')) return (path: string) => path.startsWith(p);
    const re = glob(p);
    return p.includes('/') ? (path: string) => re.test(path) : (path: string) => re.test(path.slice(path.lastIndexOf('/') + 1));
  });
  return (path) => rules.some((rule) => rule(path));
}

/**
 * What feeds the build, read on the host: the input files' git blob ids at the commit (a git
 * source) or their contents' hashes (a directory), so every commit whose extension sources are
 * the same shares one build.
 */
async function inputsFingerprint(repo: RepoSource, patterns: readonly string[]): Promise<string> {
  const match = inputMatcher(patterns);
  const hash = createHash('sha256');
  if (repo.kind === 'git') {
    let stdout: string;
    try {
      ({ stdout } = await promisify(execFile)('git', ['--git-dir', repo.gitDir, 'ls-tree', '-r', '-z', '--end-of-options', repo.commit], { maxBuffer: 256 << 20 }));
    } catch (err) {
      throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `commit ${repo.commit} not found in git repository ${repo.gitDir}`, { field: 'commit', cause: err });
    }
    for (const entry of stdout.split('\0')) {
      const tab = entry.indexOf('\t');
      if (tab < 0) continue;
      const [, type, id] = entry.slice(0, tab).split(' ');
      const path = entry.slice(tab + 1);
      if (type === 'blob' && match(path)) hash.update(`${path}\0${id}\n`);
    }
    return hash.digest('hex');
  }
  const root = resolve(repo.path);
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      if (name === '.git' || name === '__pycache__') continue;
      const path = rel ? `${rel}/${name}` : name;
      const stat = lstatSync(join(root, path));
      if (stat.isDirectory()) walk(path);
      else if (stat.isFile() && match(path)) hash.update(`${path}\0${createHash('sha256').update(readFileSync(join(root, path))).digest('hex')}\n`);
    }
  };
  walk('');
  return hash.digest('hex');
}

/** The build's key: the image's id, the build itself, the files written before it, and its inputs. */
export async function extensionBuildKey(docker: Docker, image: string, environment: Pick<TestEnvironment, 'build' | 'files'>, repo: RepoSource): Promise<string> {
  const build = extensionBuildSchema.parse(environment.build);
  let imageId: string;
  try {
    imageId = (await docker.getImage(image).inspect()).Id;
  } catch (err) {
    throw new FixwrightError('FW_ERR_IMAGE_NOT_FOUND', `image '${image}' not found for the extension build`, { field: 'image', cause: err });
  }
  const inputs = await inputsFingerprint(repo, build.inputs);
  const helper = createHash('sha256').update(helperScript()).digest('hex');
  return createHash('sha256').update(JSON.stringify({ imageId, build, files: environment.files, inputs, helper })).digest('hex').slice(0, 24);
}

/** Builds under way or done in this process, by key: two instances needing one build share it (a failed one too). */
const inFlight = new Map<string, Promise<Omit<BuiltExtensions, 'reused'>>>();

/** The last lines of a log, for an error message. */
function tail(text: string, lines = 25): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

function readCached(dir: string, key: string): Omit<BuiltExtensions, 'reused'> | undefined {
  const tarPath = join(dir, `${key}.tar.gz`);
  const metaPath = join(dir, `${key}.json`);
  if (!existsSync(tarPath) || !existsSync(metaPath)) return undefined;
  try {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { manifest: string; buildSeconds: number; files: number };
    return { key, tar: readFileSync(tarPath), manifest: meta.manifest, buildSeconds: meta.buildSeconds, files: meta.files };
  } catch {
    return undefined; // a torn or foreign file: built again
  }
}

function writeCached(dir: string, built: Omit<BuiltExtensions, 'reused'>): void {
  mkdirSync(dir, { recursive: true });
  const suffix = `.tmp-${process.pid}`;
  // Data first, then the description: a reader that sees the description finds the data whole.
  writeFileSync(join(dir, `${built.key}.tar.gz${suffix}`), built.tar);
  renameSync(join(dir, `${built.key}.tar.gz${suffix}`), join(dir, `${built.key}.tar.gz`));
  writeFileSync(join(dir, `${built.key}.json${suffix}`), JSON.stringify({ manifest: built.manifest, buildSeconds: built.buildSeconds, files: built.files, created: new Date().toISOString() }));
  renameSync(join(dir, `${built.key}.json${suffix}`), join(dir, `${built.key}.json`));
}

/** Limits for compiling: at least 4 GiB of memory, a 3 GiB checkout, the machine's processors (up to 4). */
function buildLimits(settings: SandboxSettings): Partial<SandboxLimits> {
  return {
    memoryBytes: Math.max(settings.memoryBytes, 4 * GIB),
    workdirBytes: Math.max(settings.workdirBytes, 3 * GIB),
    cpus: Math.max(settings.cpus, Math.min(cpus().length, 4)),
    pids: Math.max(settings.pids, 1024),
  };
}

/** Runs the build in a fresh sandbox over the repository at its base and brings back what it made. */
async function buildInSandbox(runtime: BuildRuntime, image: string, environment: TestEnvironment, build: ExtensionBuild, repo: RepoSource, key: string): Promise<Omit<BuiltExtensions, 'reused'>> {
  const started = Date.now();
  try {
    const result = await runtime.withSandbox(
      { image, repo, limits: buildLimits(runtime.settings), leaseSeconds: build.timeout_seconds + 600, outputCapBytes: MAX_OUTPUT_BYTES, warm: false },
      async (session) => {
        await session.putFiles('/', {
          [HELPER.slice(1)]: helperScript(),
          ...Object.fromEntries(Object.entries(environment.files).map(([p, c]) => [`${WORKDIR.slice(1)}/${p}`, c])),
        });
        const snap = await session.execTrusted(['python3', HELPER, 'snapshot', JSON.stringify(build.inputs)], { timeoutSeconds: 300 }, 1 << 20);
        if (snap.exitCode !== 0) throw new FixwrightError('FW_ERR_SANDBOX', `the build's snapshot failed: ${tail(snap.stderr.text, 5)}`);
        const run = await session.run(build.command, { timeoutSeconds: build.timeout_seconds, env: build.env }).catch((err: unknown) => {
          throw new FixwrightError('FW_ERR_IMAGE_BUILD', `the extension build could not run: ${(err as Error).message}`, { cause: err });
        });
        if (run.exitCode !== 0) {
          const why = run.timedOut ? `ran past ${build.timeout_seconds}s` : run.oomKilled ? 'was killed for memory' : `exited ${run.exitCode}`;
          throw new FixwrightError('FW_ERR_IMAGE_BUILD', `the extension build (${build.command.join(' ')}) ${why}:\n${tail(`${run.stdout.text}\n${run.stderr.text}`)}`);
        }
        const packed = await session.execTrusted(['python3', HELPER, 'pack'], { timeoutSeconds: 600 }, MAX_OUTPUT_BYTES);
        if (packed.exitCode !== 0 || packed.stdout.truncatedBytes > 0) {
          throw new FixwrightError('FW_ERR_SANDBOX', `collecting the build's outputs failed (exit ${packed.exitCode}): ${tail(packed.stderr.text, 5)}`);
        }
        const manifest = await session.readFile(`${STATE_DIR}/manifest.json`, 256 << 20);
        if (manifest === undefined) throw new FixwrightError('FW_ERR_SANDBOX', "the build's manifest is missing");
        return { tar: packed.stdout.raw, manifest, files: (JSON.parse(manifest) as { outputs: string[] }).outputs.length };
      },
    );
    const built = { key, ...result, buildSeconds: (Date.now() - started) / 1000 };
    sandboxMetrics.extensionBuilds.inc({ result: 'built' });
    sandboxMetrics.extensionBuildSeconds.observe(built.buildSeconds);
    return built;
  } catch (err) {
    sandboxMetrics.extensionBuilds.inc({ result: 'failed' });
    throw err;
  }
}

/**
 * The built extensions of a repository tree in an environment: read from the cache, or built once
 * in a fresh, locked-down sandbox (the repository's build code is untrusted) and cached under
 * `cacheDir` by `extensionBuildKey`. Callers in one process that need the same build wait for one
 * build (an in-process lock: two processes sharing a cache directory may both build, and the last
 * write wins with identical content). Undefined when the environment names no build.
 */
export async function prepareExtensionBuild(
  runtime: BuildRuntime,
  environment: TestEnvironment,
  options: { image?: string; repo: RepoSource; cacheDir?: string },
): Promise<BuiltExtensions | undefined> {
  if (!environment.build) return undefined;
  const build = extensionBuildSchema.parse(environment.build);
  const image = options.image ?? runtime.settings.image;
  const dir = options.cacheDir ?? defaultBuildCacheDir();
  const key = await extensionBuildKey(runtime.docker, image, environment, options.repo);
  let pending = inFlight.get(key);
  let reused = true;
  if (!pending) {
    const cached = readCached(dir, key);
    if (cached) {
      sandboxMetrics.extensionBuilds.inc({ result: 'cached' });
      return { ...cached, reused: true };
    }
    reused = false;
    pending = buildInSandbox(runtime, image, environment, build, options.repo, key).then((built) => {
      writeCached(dir, built);
      return built;
    });
    inFlight.set(key, pending);
    // Once on disk, later callers read it there; a failure stays (the same inputs fail the same way).
    pending.then(
      () => inFlight.delete(key),
      () => undefined,
    );
  } else {
    sandboxMetrics.extensionBuilds.inc({ result: 'shared' });
  }
  return { ...(await pending), reused };
}

/**
 * Puts a build's outputs into a sandbox that holds the repository at the build's tree (before any
 * patch), with the manifest `checkExtensionBuild` compares against after the patches.
 */
export async function putExtensionBuild(session: SandboxSession, built: BuiltExtensions): Promise<void> {
  const result = await session.execTrusted(['tar', '-x', '-z', '--no-same-owner', '-C', WORKDIR, '-f', '-'], { timeoutSeconds: 300, stdin: built.tar });
  if (result.exitCode !== 0) throw new FixwrightError('FW_ERR_SANDBOX', `putting the built extensions into the sandbox failed: ${result.stderr.text.trim().slice(0, 500)}`);
  await session.putFiles('/', { [HELPER.slice(1)]: helperScript(), [`${STATE_DIR.slice(1)}/manifest.json`]: built.manifest });
}

/**
 * Before tests, in the test's own sandbox: when a patch changed a build input since the cached
 * build, builds again there (incrementally for changed sources, fully when a header or setup file
 * changed); with no cached build put in at all, builds fully. A failure is FW_ERR_IMAGE_BUILD with
 * the build log's tail.
 */
export async function checkExtensionBuild(session: SandboxSession, environment: Pick<TestEnvironment, 'build'>): Promise<RebuildResult> {
  const started = Date.now();
  if (!environment.build) return { rebuilt: false, full: false, changed: [], durationMs: 0 };
  const build = extensionBuildSchema.parse(environment.build);
  const hasManifest = (await session.execTrusted(['test', '-f', `${STATE_DIR}/manifest.json`], { timeoutSeconds: 30 })).exitCode === 0;
  let full = true;
  let changed: string[] = [];
  if (hasManifest) {
    const check = await session.execTrusted(['python3', HELPER, 'check'], { timeoutSeconds: 300 }, 1 << 20);
    if (check.exitCode !== 0) throw new FixwrightError('FW_ERR_SANDBOX', `checking the build's inputs failed: ${tail(check.stderr.text, 5)}`);
    const found = JSON.parse(check.stdout.text.trim().split('\n').at(-1) ?? '{}') as { rebuild?: boolean; full?: boolean; changed?: string[] };
    if (!found.rebuild) return { rebuilt: false, full: false, changed: [], durationMs: Date.now() - started };
    full = Boolean(found.full);
    changed = found.changed ?? [];
  }
  const run = await session.run(build.command, { timeoutSeconds: build.timeout_seconds, env: build.env });
  sandboxMetrics.extensionBuilds.inc({ result: run.exitCode === 0 ? 'rebuilt' : 'failed' });
  if (run.exitCode !== 0) {
    const why = run.timedOut ? `ran past ${build.timeout_seconds}s` : run.oomKilled ? 'was killed for memory' : `exited ${run.exitCode}`;
    const what = hasManifest ? `after the patches changed ${changed.slice(0, 3).join(', ') || 'its inputs'}` : 'in the sandbox (no cached build was put in)';
    throw new FixwrightError('FW_ERR_IMAGE_BUILD', `the extension build ${what} ${why}:\n${tail(`${run.stdout.text}\n${run.stderr.text}`)}`);
  }
  return { rebuilt: true, full, changed, durationMs: Date.now() - started };
}
