import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import type Docker from 'dockerode';
import { extract, pack as tarPack } from 'tar-stream';
import { z } from 'zod';
import { FixwrightError, assetPath, loadSettings, type SandboxSettings } from '../../core/index.js';
import { WORKDIR, type SandboxLimits } from '../container-spec.js';
import { sandboxMetrics } from '../metrics.js';
import type { RepoSource } from '../repo-source.js';
import type { ExecResult, SandboxSession } from '../session.js';
import type { TestEnvironment } from './types.js';

/**
 * Files that feed a compiled extension: a pattern without a slash matches a file name anywhere,
 * a name ending in a slash a directory of that name anywhere, a path ending in a slash the
 * directory at that path, any other the whole path (`*` crosses directories, `?` is one character).
 * Setup code is here whole (every setup*.py, setupext.py, _build_utils/): what it reads is not
 * known to the host, and a change there must make a new build.
 */
export const DEFAULT_BUILD_INPUTS = [
  '*.pyx',
  '*.pxd',
  '*.pxi',
  '*.tp',
  '*.c',
  '*.h',
  '*.cc',
  '*.cpp',
  '*.cxx',
  '*.hpp',
  '*.f',
  '*.f90',
  'setup*.py',
  'setupext.py',
  '_build_utils/',
  'setup.cfg',
  'pyproject.toml',
  'meson.build',
  'meson_options.txt',
  'MANIFEST.in',
];

const inputPattern = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'a pattern inside the repository')
  // fnmatch reads [...] as a class: refused rather than matched two ways on the host and in the sandbox.
  .refine((p) => !/[[\]\\]/.test(p), 'patterns take * and ? only (no [, ] or \\)');

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * How a checkout's C/Cython extensions are built (such as `python3 setup.py build_ext --inplace`).
 * The command is the repository's own build code: it runs only inside a sandbox.
 */
export const extensionBuildSchema = z
  .object({
    command: z.array(z.string().min(1)).min(1),
    env: z.record(z.string().regex(envName, 'not an environment variable name'), z.string()).default({}),
    /** The build's inputs, replacing the defaults. */
    inputs: z.array(inputPattern).min(1).default(DEFAULT_BUILD_INPUTS),
    /** More inputs beside `inputs` (files the setup code reads, such as a docstrings module it compiles into C). */
    extra_inputs: z.array(inputPattern).default([]),
    timeout_seconds: z
      .number()
      .int()
      .positive()
      .max(6 * 3600)
      .default(1800),
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
  /**
   * Set when the build after the patches failed (the cached build of the base was fine, so this is
   * the patch's doing, like the official harness's install step that fails and the tests run on):
   * why, with the build log's tail.
   */
  failed?: string;
}

/** The sandbox runtime as the build needs it (a type, so this module does not load the runtime). */
export interface BuildRuntime {
  readonly docker: Docker;
  readonly settings: SandboxSettings;
  withSandbox<T>(
    options: {
      image?: string;
      repo?: RepoSource;
      limits?: Partial<SandboxLimits>;
      leaseSeconds?: number;
      outputCapBytes?: number;
      warm?: boolean;
    },
    task: (session: SandboxSession) => Promise<T>,
  ): Promise<T>;
}

const GIB = 1024 ** 3;
/** Outputs larger than this (unpacked) are a build gone wrong, not something to cache. */
const MAX_OUTPUT_BYTES = 1024 ** 3;
/** What is kept of a build's log (head and tail of each stream): enough for a compiler's error. */
const BUILD_LOG_CAP = 4 << 20;

/** The helper, passed whole on the command line (`python3 -I -S -c`): no copy of it lies in the sandbox. */
const helperScript = () => readFileSync(assetPath('sandbox/assets/extension-build.py'), 'utf8');
const helper = (mode: 'snapshot' | 'pack' | 'check') => ['python3', '-I', '-S', '-c', helperScript(), mode];
/** Where the build's Python records the checkout's files it reads (sandbox/assets/extension-build-reads.py as sitecustomize). */
const READS_DIR = '/tmp/fixwright-reads';
const readsHook = () => readFileSync(assetPath('sandbox/assets/extension-build-reads.py'), 'utf8');
/** Recorded reads taken into a manifest at most (a build that reads more is keyed on its patterns alone past these). */
const MAX_READS = 20_000;

/** The recorded reads, as paths of tracked files that are not already inputs or outputs. */
function recordedReads(
  text: string,
  inputs: Map<string, string>,
  produced: Set<string>,
  idOf: (path: string) => string | undefined,
): Map<string, string> {
  const reads = new Map<string, string>();
  for (const line of text.split('\n')) {
    const path = line.trim();
    if (reads.size >= MAX_READS) break;
    if (
      !path ||
      path.startsWith('/') ||
      path.split('/').some((p) => p === '' || p === '.' || p === '..' || p === '.git')
    )
      continue;
    if (inputs.has(path) || produced.has(path) || reads.has(path)) continue;
    const id = idOf(path);
    if (id !== undefined) reads.set(path, id);
  }
  return reads;
}

/** The cache directory: FIXWRIGHT_DATA_DIR/extension-builds unless given. */
export function defaultBuildCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(resolve(env.FIXWRIGHT_DATA_DIR ?? join(homedir(), '.fixwright')), 'extension-builds');
}

/** A build's patterns: `inputs` and `extra_inputs` together. */
function patternsOf(build: ExtensionBuild): string[] {
  return [...new Set([...build.inputs, ...build.extra_inputs])];
}

/** A matcher with the helper's rules (Python's fnmatch without classes: `*` matches any characters, `/` too). */
export function inputMatcher(patterns: readonly string[]): (path: string) => boolean {
  const glob = (p: string) =>
    new RegExp(
      `^${p
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
      's',
    );
  const rules = patterns.map((p) => {
    if (p.endsWith('/'))
      return p.slice(0, -1).includes('/')
        ? (path: string) => path.startsWith(p)
        : (path: string) => path.startsWith(p) || path.includes(`/${p}`);
    const re = glob(p);
    return p.includes('/')
      ? (path: string) => re.test(path)
      : (path: string) => re.test(path.slice(path.lastIndexOf('/') + 1));
  });
  return (path) => rules.some((rule) => rule(path));
}

/** Git's id of a blob with this content (what `git ls-tree` lists and the helper's check computes). */
function blobId(content: Buffer | string): string {
  const data = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

/**
 * The build's inputs as the host reads them, path → git blob id: the matching files of the commit
 * (a git source) or of the directory, with the environment's written files over them (they are
 * in the checkout before the build). The key and the manifest come from this, never from the sandbox.
 */
async function readInputs(
  repo: RepoSource,
  patterns: readonly string[],
  written: Record<string, string>,
): Promise<{ inputs: Map<string, string>; idOf: (path: string) => string | undefined }> {
  const match = inputMatcher(patterns);
  const inputs = new Map<string, string>();
  let idOf: (path: string) => string | undefined;
  if (repo.kind === 'git') {
    const tree = new Map<string, string>();
    let stdout: string;
    try {
      ({ stdout } = await promisify(execFile)(
        'git',
        ['--git-dir', repo.gitDir, 'ls-tree', '-r', '-z', '--end-of-options', repo.commit],
        { maxBuffer: 256 << 20 },
      ));
    } catch (err) {
      throw new FixwrightError(
        'FW_ERR_REPO_NOT_FOUND',
        `commit ${repo.commit} not found in git repository ${repo.gitDir}`,
        { field: 'commit', cause: err },
      );
    }
    for (const entry of stdout.split('\0')) {
      const tab = entry.indexOf('\t');
      if (tab < 0) continue;
      const [mode, type, id] = entry.slice(0, tab).split(' ');
      const path = entry.slice(tab + 1);
      // 120000: a link, which the helper's walk passes over as well.
      if (type !== 'blob' || mode === '120000') continue;
      tree.set(path, id!);
      if (match(path)) inputs.set(path, id!);
    }
    idOf = (path) => tree.get(path);
  } else {
    const root = resolve(repo.path);
    const walk = (rel: string): void => {
      for (const name of readdirSync(join(root, rel)).sort()) {
        if (name === '.git' || name === '__pycache__') continue;
        const path = rel ? `${rel}/${name}` : name;
        const stat = lstatSync(join(root, path));
        if (stat.isDirectory()) walk(path);
        else if (stat.isFile() && match(path)) inputs.set(path, blobId(readFileSync(join(root, path))));
      }
    };
    walk('');
    idOf = (path) => {
      const full = join(root, path);
      if (!full.startsWith(`${root}/`)) return undefined;
      try {
        return lstatSync(full).isFile() ? blobId(readFileSync(full)) : undefined;
      } catch {
        return undefined;
      }
    };
  }
  for (const [path, content] of Object.entries(written)) if (match(path)) inputs.set(path, blobId(content));
  const tracked = idOf;
  return { inputs, idOf: (path) => (written[path] !== undefined ? blobId(written[path]!) : tracked(path)) };
}

/** The build's key: the image's id, the build itself, the files written before it, and its inputs' blob ids. */
export async function extensionBuildKey(
  docker: Docker,
  image: string,
  environment: Pick<TestEnvironment, 'build' | 'files'>,
  repo: RepoSource,
): Promise<string> {
  const build = extensionBuildSchema.parse(environment.build);
  return (await keyAndInputs(docker, image, build, environment.files, repo)).key;
}

async function keyAndInputs(
  docker: Docker,
  image: string,
  build: ExtensionBuild,
  files: Record<string, string>,
  repo: RepoSource,
): Promise<{ key: string; inputs: Map<string, string>; idOf: (path: string) => string | undefined }> {
  let imageId: string;
  try {
    imageId = (await docker.getImage(image).inspect()).Id;
  } catch (err) {
    throw new FixwrightError('FW_ERR_IMAGE_NOT_FOUND', `image '${image}' not found for the extension build`, {
      field: 'image',
      cause: err,
    });
  }
  const { inputs, idOf } = await readInputs(repo, patternsOf(build), files);
  const fingerprint = createHash('sha256');
  for (const [path, id] of [...inputs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    fingerprint.update(`${path}\0${id}\n`);
  const helperHash = createHash('sha256').update(helperScript()).update(readsHook()).digest('hex');
  const key = createHash('sha256')
    .update(JSON.stringify({ imageId, build, files, inputs: fingerprint.digest('hex'), helper: helperHash }))
    .digest('hex')
    .slice(0, 24);
  return { key, inputs, idOf };
}

/** Builds under way in this process, by key: two instances needing one build share it. */
const inFlight = new Map<string, Promise<Omit<BuiltExtensions, 'reused'>>>();

/** The last lines of a log, for an error message. */
function tail(text: string, lines = 25): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

const CACHE_TAR = 'outputs.tar.gz';
const CACHE_META = 'build.json';

type CachedMeta = { manifest: string; buildSeconds: number; files: number };

/** A cached build's description alone (its tar is not read). */
function readCachedMeta(dir: string, key: string): CachedMeta | undefined {
  const file = join(dir, key, CACHE_META);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CachedMeta;
  } catch {
    return undefined; // a foreign file: built again
  }
}

/** A cached build: a directory `KEY/` holding the tar and its description, made whole under another name and renamed into place. */
function readCached(dir: string, key: string): Omit<BuiltExtensions, 'reused'> | undefined {
  const meta = readCachedMeta(dir, key);
  if (!meta) return undefined;
  try {
    return {
      key,
      tar: readFileSync(join(dir, key, CACHE_TAR)),
      manifest: meta.manifest,
      buildSeconds: meta.buildSeconds,
      files: meta.files,
    };
  } catch {
    return undefined; // a foreign file: built again
  }
}

/** Whether a process of this machine with this id still runs. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function writeCached(dir: string, built: Omit<BuiltExtensions, 'reused'>): void {
  mkdirSync(dir, { recursive: true });
  const host = hostname().replace(/[^A-Za-z0-9_-]/g, '_');
  // Half-written builds of processes of this machine that died: nobody will finish them.
  for (const name of readdirSync(dir)) {
    const m = /\.tmp-(.+)-(\d+)-[0-9a-f]+$/.exec(name);
    if (m && m[1] === host && !alive(Number(m[2]))) rmSync(join(dir, name), { recursive: true, force: true });
  }
  const tmp = join(dir, `${built.key}.tmp-${host}-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  try {
    writeFileSync(join(tmp, CACHE_TAR), built.tar);
    writeFileSync(
      join(tmp, CACHE_META),
      JSON.stringify({
        manifest: built.manifest,
        buildSeconds: built.buildSeconds,
        files: built.files,
        created: new Date().toISOString(),
      }),
    );
    // One rename puts the pair in place; where another process's build is there first, it stays (same inputs).
    renameSync(tmp, join(dir, built.key));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The shipped sandbox settings (no variable or flag set): a setting equal to one of these was not chosen by the operator. */
let shippedDefaults: SandboxSettings | null | undefined;

/**
 * Limits for compiling: at least 4 GiB of memory, a 3 GiB checkout, the machine's processors (up
 * to 4) and 1024 processes where the operator left a setting at its default; a setting the
 * operator chose (FIXWRIGHT_SANDBOX_* or a flag) is kept as it is, lower or higher. Used by the build's
 * sandbox and by every sandbox that may build again (an instance's, an agent's).
 */
export function extensionBuildLimits(settings: SandboxSettings): Partial<SandboxLimits> {
  if (shippedDefaults === undefined) {
    try {
      shippedDefaults = loadSettings({}).sandbox;
    } catch {
      // The defaults cannot be told: every setting counts as the operator's.
      shippedDefaults = null;
    }
  }
  const shipped = shippedDefaults;
  const pick = (key: 'memoryBytes' | 'workdirBytes' | 'cpus' | 'pids', wish: number) =>
    shipped !== null && settings[key] === shipped[key] ? Math.max(settings[key], wish) : settings[key];
  return {
    memoryBytes: pick('memoryBytes', 4 * GIB),
    workdirBytes: pick('workdirBytes', 3 * GIB),
    cpus: pick('cpus', Math.min(cpus().length, 4)),
    pids: pick('pids', 1024),
  };
}

/** Why a build command failed, in words. */
async function whyFailed(session: SandboxSession, run: ExecResult, build: ExtensionBuild): Promise<string> {
  if (run.timedOut) return `ran past ${build.timeout_seconds}s`;
  if (run.oomKilled) return 'was killed for memory';
  if (run.exitCode === 137) {
    // The keeper ends the container at the end of its lease: then nothing runs in it any more.
    const gone = await session.execTrusted(['true'], { timeoutSeconds: 10 }, 1024, false).then(
      () => false,
      () => true,
    );
    if (gone) return "was stopped with its sandbox (the sandbox's lease ended, or it was killed)";
  }
  return `exited ${run.exitCode}`;
}

/**
 * The outputs' tar as it is cached: read on the host and written again with regular files only,
 * under normalised relative paths (no `..`, no absolute path, nothing in .git), modes 0644/0755,
 * the whole under MAX_OUTPUT_BYTES. Anything else in it is refused: the build's sandbox made it.
 */
export async function cleanOutputsTar(
  gz: Buffer,
  maxBytes = MAX_OUTPUT_BYTES,
): Promise<{ tar: Buffer; outputs: string[] }> {
  const refuse = (why: string) => new FixwrightError('FW_ERR_SANDBOX', `the build's outputs were refused: ${why}`);
  let raw: Buffer;
  try {
    raw = gunzipSync(gz, { maxOutputLength: maxBytes + (64 << 20) });
  } catch (err) {
    throw refuse(`not a gzipped tar within ${maxBytes} bytes (${(err as Error).message})`);
  }
  const files: Array<{ name: string; mode: number; mtime: Date; data: Buffer }> = [];
  let total = 0;
  const reader = extract();
  const done = new Promise<void>((resolveDone, reject) => {
    reader.on('entry', (header, stream, next) => {
      const name = header.name;
      const parts = name.split('/');
      let problem: string | undefined;
      if (header.type !== 'file') problem = `${JSON.stringify(name)} is a ${header.type}, not a regular file`;
      else if (name.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..') || name.includes('\0'))
        problem = `${JSON.stringify(name)} is not a plain relative path`;
      else if (parts.includes('.git')) problem = `${JSON.stringify(name)} is inside .git`;
      else if ((total += header.size ?? 0) > maxBytes) problem = `more than ${maxBytes} bytes`;
      if (problem) {
        stream.resume();
        reject(refuse(problem));
        reader.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        files.push({
          name,
          mode: (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644,
          mtime: header.mtime ?? new Date(0),
          data: Buffer.concat(chunks),
        });
        next();
      });
    });
    reader.on('finish', resolveDone);
    reader.on('error', (err: Error) => reject(refuse(err.message)));
  });
  Readable.from([raw]).pipe(reader);
  await done;
  const names = files.map((f) => f.name);
  if (new Set(names).size !== names.length) throw refuse('a path is there twice');
  const out = tarPack();
  const chunks: Buffer[] = [];
  out.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((r) => out.on('end', r));
  for (const f of files)
    out.entry({ name: f.name, mode: f.mode, mtime: f.mtime, size: f.data.length, type: 'file' }, f.data);
  out.finalize();
  await ended;
  return { tar: gzipSync(Buffer.concat(chunks), { level: 3 }), outputs: names };
}

/** Runs the build in a fresh sandbox over the repository at its base and brings back what it made. */
async function buildInSandbox(
  runtime: BuildRuntime,
  image: string,
  environment: TestEnvironment,
  build: ExtensionBuild,
  repo: RepoSource,
  key: string,
  inputs: Map<string, string>,
  idOf: (path: string) => string | undefined,
  signal: AbortSignal | undefined,
): Promise<Omit<BuiltExtensions, 'reused'>> {
  const started = Date.now();
  try {
    const result = await runtime.withSandbox(
      // The log's cap is small (a build can print without end); the outputs' tar has its own cap.
      {
        image,
        repo,
        limits: extensionBuildLimits(runtime.settings),
        leaseSeconds: build.timeout_seconds + 900,
        outputCapBytes: BUILD_LOG_CAP,
        warm: false,
      },
      async (session) => {
        if (Object.keys(environment.files).length > 0) await session.putFiles(WORKDIR, environment.files);
        await session.putFiles('/', { [`${READS_DIR.slice(1)}/sitecustomize.py`]: readsHook() });
        // Snapshot and pack run from the command line (isolated Python from /: no site, no path from
        // the checkout, no file the build could rewrite). What pack returns is only a tar of regular
        // files, which the host checks; the manifest is the host's own. (As the sandbox user: root,
        // with no capability, cannot read a checkout copied with a private mode.)
        const snap = await session.execTrusted(helper('snapshot'), { timeoutSeconds: 300, cwd: '/' }, 256 << 20);
        if (snap.exitCode !== 0 || snap.stdout.truncatedBytes > 0)
          throw new FixwrightError('FW_ERR_SANDBOX', `the build's snapshot failed: ${tail(snap.stderr.text, 5)}`);
        // The build's Python code records the checkout's files it opens (what setup code reads beside the patterns).
        const env = {
          ...build.env,
          PYTHONPATH: build.env.PYTHONPATH ? `${READS_DIR}:${build.env.PYTHONPATH}` : READS_DIR,
        };
        const run = await session
          .run(build.command, { timeoutSeconds: build.timeout_seconds, env, signal })
          .catch((err: unknown) => {
            throw new FixwrightError(
              'FW_ERR_IMAGE_BUILD',
              `the extension build could not run: ${(err as Error).message}`,
              { cause: err },
            );
          });
        if (signal?.aborted) throw new FixwrightError('FW_ERR_CANCELLED', 'the extension build was cancelled');
        if (run.exitCode !== 0) {
          throw new FixwrightError(
            'FW_ERR_IMAGE_BUILD',
            `the extension build (${build.command.join(' ')}) ${await whyFailed(session, run, build)}:\n${tail(`${run.stdout.text}\n${run.stderr.text}`)}`,
          );
        }
        const packed = await session.execTrusted(
          helper('pack'),
          { timeoutSeconds: 600, cwd: '/', stdin: snap.stdout.raw },
          MAX_OUTPUT_BYTES,
        );
        if (packed.exitCode !== 0 || packed.stdout.truncatedBytes > 0) {
          throw new FixwrightError(
            'FW_ERR_SANDBOX',
            `collecting the build's outputs failed (exit ${packed.exitCode}): ${tail(packed.stderr.text, 5)}`,
          );
        }
        const clean = await cleanOutputsTar(packed.stdout.raw);
        const produced = new Set(clean.outputs);
        const recorded = await session.execTrusted(
          [
            'python3',
            '-I',
            '-S',
            '-c',
            `import glob, sys\nfor f in sorted(glob.glob('${READS_DIR}/reads.*.txt')):\n    sys.stdout.write(open(f, errors='replace').read())`,
          ],
          { timeoutSeconds: 120, cwd: '/' },
          16 << 20,
        );
        const reads = recordedReads(recorded.exitCode === 0 ? recorded.stdout.text : '', inputs, produced, idOf);
        // The manifest is the host's: the patterns of the build, the inputs' blob ids read from git
        // (a file the build rewrote is an output, not an input) with the tracked files its Python
        // code was seen to read, the outputs of the checked tar.
        const manifest = JSON.stringify({
          patterns: patternsOf(build),
          inputs: Object.fromEntries([...[...inputs].filter(([p]) => !produced.has(p)), ...reads]),
          reads: [...reads.keys()],
          outputs: clean.outputs,
        });
        return { tar: clean.tar, manifest, files: clean.outputs.length };
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
 * The key a tree's build is cached under: the patterns' key, unless the build cached there was seen
 * to read files (beside the patterns) that differ in this tree; then a variant of it named by those
 * files' blob ids here, so a tree whose setup code reads other content gets a build of its own.
 */
function variantKey(dir: string, key: string, idOf: (path: string) => string | undefined): string {
  // Only the description: the tar is read once, by the caller, for the key this returns.
  const cached = readCachedMeta(dir, key);
  if (!cached) return key;
  let manifest: { inputs?: Record<string, string>; reads?: string[] };
  try {
    manifest = JSON.parse(cached.manifest) as typeof manifest;
  } catch {
    return key;
  }
  const reads = (manifest.reads ?? []).map((path) => [path, idOf(path) ?? null] as const);
  if (reads.every(([path, id]) => manifest.inputs?.[path] === id)) return key;
  return createHash('sha256').update(JSON.stringify({ key, reads })).digest('hex').slice(0, 24);
}

/** Waits for `promise`, or throws FW_ERR_CANCELLED as soon as `signal` aborts. */
function unlessCancelled<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted)
    return Promise.reject(new FixwrightError('FW_ERR_CANCELLED', 'the extension build was cancelled'));
  return new Promise<T>((resolveP, reject) => {
    const onAbort = () => reject(new FixwrightError('FW_ERR_CANCELLED', 'the extension build was cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolveP(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * The built extensions of a repository tree in an environment: read from the cache, or built once
 * in a fresh, locked-down sandbox (the repository's build code is untrusted) and cached under
 * `cacheDir` by `extensionBuildKey`. Callers in one process that need the same build wait for one
 * build; two processes sharing a cache directory may both build, and the first to rename its
 * build into place keeps it (tar and description go in together). A failed build is not
 * remembered: the next caller tries again. Undefined when the environment names no build.
 */
export async function prepareExtensionBuild(
  runtime: BuildRuntime,
  environment: TestEnvironment,
  options: { image?: string; repo: RepoSource; cacheDir?: string; signal?: AbortSignal },
): Promise<BuiltExtensions | undefined> {
  if (!environment.build) return undefined;
  const build = extensionBuildSchema.parse(environment.build);
  const image = options.image ?? runtime.settings.image;
  const dir = options.cacheDir ?? defaultBuildCacheDir();
  if (options.signal?.aborted) throw new FixwrightError('FW_ERR_CANCELLED', 'the extension build was cancelled');
  const keyed = await keyAndInputs(runtime.docker, image, build, environment.files, options.repo);
  const { inputs, idOf } = keyed;
  const key = variantKey(dir, keyed.key, idOf);
  for (;;) {
    let pending = inFlight.get(key);
    let reused = true;
    if (!pending) {
      const cached = readCached(dir, key);
      if (cached) {
        sandboxMetrics.extensionBuilds.inc({ result: 'cached' });
        return { ...cached, reused: true };
      }
      reused = false;
      const started = buildInSandbox(
        runtime,
        image,
        environment,
        build,
        options.repo,
        key,
        inputs,
        idOf,
        options.signal,
      ).then((built) => {
        writeCached(dir, built);
        return built;
      });
      pending = started;
      inFlight.set(key, started);
      // Once on disk, later callers read it there; a failure may be passing (Docker, a cancel): gone too.
      const forget = () => {
        if (inFlight.get(key) === started) inFlight.delete(key);
      };
      started.then(forget, forget);
    } else {
      sandboxMetrics.extensionBuilds.inc({ result: 'shared' });
    }
    try {
      return { ...(await unlessCancelled(pending, options.signal)), reused };
    } catch (err) {
      // The caller whose build this was was cancelled, this one not: it builds for itself.
      if ((err as { code?: string }).code === 'FW_ERR_CANCELLED' && !options.signal?.aborted) continue;
      throw err;
    }
  }
}

/** The manifest put into each sandbox, kept on the host: nothing in the sandbox can change it. */
const manifests = new WeakMap<SandboxSession, string>();

/**
 * Puts a build's outputs into a sandbox that holds the repository at the build's tree (before any
 * patch), and remembers its manifest for `checkExtensionBuild` after the patches.
 */
export async function putExtensionBuild(session: SandboxSession, built: BuiltExtensions): Promise<void> {
  const result = await session.execTrusted(
    ['tar', '-x', '-z', '--no-same-owner', '--no-same-permissions', '-C', WORKDIR, '-f', '-'],
    { timeoutSeconds: 300, stdin: built.tar },
  );
  if (result.exitCode !== 0)
    throw new FixwrightError(
      'FW_ERR_SANDBOX',
      `putting the built extensions into the sandbox failed: ${result.stderr.text.trim().slice(0, 500)}`,
    );
  manifests.set(session, built.manifest);
}

/**
 * Before tests, in the test's own sandbox: when a patch changed a build input since the cached
 * build, builds again there (incrementally for changed sources, fully when a header or setup file
 * changed), its lease first renewed by the build's time. A rebuild that fails after a cached build
 * was put in is the patch's doing: returned with `failed` (the log's tail), and the tests go on as
 * in the official harness. With no cached build put in, builds fully; a failure there is the
 * environment's: FW_ERR_IMAGE_BUILD with the log's tail.
 */
export async function checkExtensionBuild(
  session: SandboxSession,
  environment: Pick<TestEnvironment, 'build'>,
  signal?: AbortSignal,
): Promise<RebuildResult> {
  const started = Date.now();
  if (!environment.build) return { rebuilt: false, full: false, changed: [], durationMs: 0 };
  const build = extensionBuildSchema.parse(environment.build);
  const manifest = manifests.get(session);
  let full = true;
  let changed: string[] = [];
  if (manifest !== undefined) {
    const check = await session.execTrusted(
      helper('check'),
      { timeoutSeconds: 300, cwd: '/', stdin: manifest },
      1 << 20,
    );
    if (check.exitCode !== 0)
      throw new FixwrightError('FW_ERR_SANDBOX', `checking the build's inputs failed: ${tail(check.stderr.text, 5)}`);
    const found = JSON.parse(check.stdout.text.trim().split('\n').at(-1) ?? '{}') as {
      rebuild?: boolean;
      full?: boolean;
      changed?: string[];
      removed?: string[];
    };
    if (!found.rebuild) return { rebuilt: false, full: false, changed: [], durationMs: Date.now() - started };
    full = Boolean(found.full);
    changed = [...(found.changed ?? []), ...(found.removed ?? [])];
  }
  // The build's own time on top of what the sandbox was leased for (within its bound).
  const { seconds, boundSeconds } = session.lease;
  const want = Math.min(seconds + build.timeout_seconds, boundSeconds ?? Infinity);
  if (want > seconds) await session.renewLease(want);
  const run = await session.run(build.command, { timeoutSeconds: build.timeout_seconds, env: build.env, signal });
  sandboxMetrics.extensionBuilds.inc({ result: run.exitCode === 0 ? 'rebuilt' : 'failed' });
  if (run.exitCode !== 0) {
    if (signal?.aborted) throw new FixwrightError('FW_ERR_CANCELLED', 'the extension build was cancelled');
    const why = await whyFailed(session, run, build);
    const log = tail(`${run.stdout.text}\n${run.stderr.text}`);
    if (manifest !== undefined) {
      return {
        rebuilt: true,
        full,
        changed,
        durationMs: Date.now() - started,
        failed: `the extension build after the patches changed ${changed.slice(0, 3).join(', ') || 'its inputs'} ${why}:\n${log}`,
      };
    }
    throw new FixwrightError(
      'FW_ERR_IMAGE_BUILD',
      `the extension build in the sandbox (no cached build was put in) ${why}:\n${log}`,
    );
  }
  return { rebuilt: true, full, changed, durationMs: Date.now() - started };
}
