import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { FixwrightError, assetPath } from '../../core/index.js';
import { SANDBOX_UID } from '../container-spec.js';
import { buildFromDockerfile, buildNetworkMode, followProgress, imageRecipe, RECIPE_LABEL } from './docker-build.js';

/** The default base image every sandbox and environment image starts from. */
export const BASE_IMAGE = 'fixwright-sandbox:base';

/** Where Debian packages come from (debootstrap, and packages borrowed from other suites). */
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';

/** The offline recipe: a minimal Debian root filesystem with Python, pytest, pyflakes, git and patch. */
export const DEBOOTSTRAP_RECIPE = {
  suite: 'bookworm',
  variant: 'minbase',
  // python3-pyflakes: the quick-fix analysis container (POST /v1/edit) re-checks edits with it.
  include: ['python3', 'python3-pytest', 'python3-pyflakes', 'git', 'patch'],
  mirror: DEBIAN_MIRROR,
} as const;

/** Debian releases a base image can be built from: bookworm (Python 3.11, the default) and bullseye (Python 3.9, for old repository versions). */
export type BaseSuite = 'bookworm' | 'bullseye';

/** The tag of the base image for a suite. */
export function baseImageTag(suite: BaseSuite): string {
  return suite === 'bookworm' ? BASE_IMAGE : `fixwright-sandbox:${suite}`;
}

/** How the base image gets built: from a registry's python image, or offline with debootstrap. */
export type BaseImageMethod = 'dockerfile' | 'debootstrap';

/** The outcome of `buildBaseImage`. */
export interface BaseImageResult {
  tag: string;
  recipe: string;
  /** 'cached' when an image from the same recipe already existed. */
  method: BaseImageMethod | 'cached';
  /** Why earlier methods failed, when a later one was used. */
  fallbacks: string[];
}

function dockerfileText(suite: BaseSuite = 'bookworm'): string {
  const text = readFileSync(assetPath('sandbox/images/Dockerfile'), 'utf8');
  // The registry route for bullseye: the same recipe over Python 3.9's image.
  return suite === 'bookworm' ? text : text.replace(/python:3\.11-slim-bookworm/g, 'python:3.9-slim-bullseye');
}

/** Hash of everything that shapes the base image; a change to either recipe rebuilds it. */
export function baseRecipeHash(suite: BaseSuite = 'bookworm'): string {
  // The bookworm recipe hashes as it always did, so existing images stay cached.
  const debootstrap = suite === 'bookworm' ? DEBOOTSTRAP_RECIPE : { ...DEBOOTSTRAP_RECIPE, suite };
  return createHash('sha256')
    .update(JSON.stringify({ version: 2, uid: SANDBOX_UID, debootstrap, dockerfile: dockerfileText(suite) }))
    .digest('hex')
    .slice(0, 16);
}

function runLogged(command: string, args: string[], onLine?: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        onLine?.(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => reject(new Error(`${command} could not start: ${err.message}`)));
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited ${code}: ${tail.slice(-5).join(' | ')}`)),
    );
  });
}

/** Adds the unprivileged sandbox user so tools that look up the uid (git, pip) find a name. */
function addSandboxUser(rootfs: string): void {
  const passwd = readFileSync(join(rootfs, 'etc/passwd'), 'utf8');
  if (!passwd.includes(`:${SANDBOX_UID}:`)) {
    appendFileSync(
      join(rootfs, 'etc/passwd'),
      `sandbox:x:${SANDBOX_UID}:${SANDBOX_UID}:fixwright sandbox:/tmp:/bin/sh\n`,
    );
    appendFileSync(join(rootfs, 'etc/group'), `sandbox:x:${SANDBOX_UID}:\n`);
  }
  mkdirSync(join(rootfs, 'work'), { recursive: true });
}

async function buildWithDebootstrap(
  docker: Docker,
  tag: string,
  recipe: string,
  suite: BaseSuite,
  onLine?: (line: string) => void,
): Promise<void> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error(
      'debootstrap needs root (run fixwright sandbox build as root, or on a machine that reaches a registry)',
    );
  }
  const rootfs = mkdtempSync(join(tmpdir(), 'fixwright-rootfs-'));
  try {
    const r = DEBOOTSTRAP_RECIPE;
    await runLogged(
      'debootstrap',
      [`--variant=${r.variant}`, `--include=${r.include.join(',')}`, suite, rootfs, r.mirror],
      onLine,
    );
    addSandboxUser(rootfs);
    rmSync(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
    mkdirSync(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
    const tar = spawn('tar', ['--numeric-owner', '-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [repo, version] = tag.split(':') as [string, string | undefined];
    const stream = await docker.importImage(
      tar.stdout as unknown as string,
      {
        repo,
        tag: version ?? 'latest',
        changes: [
          `LABEL ${RECIPE_LABEL}=${recipe}`,
          'ENV LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin',
          'WORKDIR /work',
        ],
      } as object,
    );
    await followProgress(docker, stream as unknown as Readable, onLine);
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

/**
 * Builds the base image unless one from the same recipe exists. `auto` tries debootstrap first
 * where it is installed (it needs no registry), then the Dockerfile; errors of both are reported.
 */
export async function buildBaseImage(
  docker: Docker,
  options: {
    tag?: string;
    suite?: BaseSuite;
    method?: BaseImageMethod | 'auto';
    force?: boolean;
    onLine?: (line: string) => void;
    hasDebootstrap: boolean;
  },
): Promise<BaseImageResult> {
  const suite = options.suite ?? 'bookworm';
  const tag = options.tag ?? baseImageTag(suite);
  const recipe = baseRecipeHash(suite);
  if (!options.force && (await imageRecipe(docker, tag)) === recipe)
    return { tag, recipe, method: 'cached', fallbacks: [] };

  const order: BaseImageMethod[] =
    options.method && options.method !== 'auto'
      ? [options.method]
      : options.hasDebootstrap
        ? ['debootstrap', 'dockerfile']
        : ['dockerfile', 'debootstrap'];
  const fallbacks: string[] = [];
  for (const method of order) {
    try {
      if (method === 'debootstrap') await buildWithDebootstrap(docker, tag, recipe, suite, options.onLine);
      else
        await buildFromDockerfile(docker, {
          tag,
          dockerfile: dockerfileText(suite),
          recipe,
          network: await buildNetworkMode(docker),
          onLine: options.onLine,
        });
      return { tag, recipe, method, fallbacks };
    } catch (err) {
      fallbacks.push(`${method}: ${(err as Error).message}`);
    }
  }
  throw new FixwrightError('FW_ERR_IMAGE_BUILD', `could not build ${tag}:\n  ${fallbacks.join('\n  ')}`);
}
