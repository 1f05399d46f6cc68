import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { FixwrightError } from '../../core/index.js';
import { baseImageTag, buildBaseImage } from '../images/base-image.js';
import { ensureEnvironmentImage, parseEnvironmentSpec, type PipSource } from '../images/env-image.js';
import type { TestEnvironment } from './types.js';

/** Where pip may look while an environment image builds (never while code runs). */
export interface PipSettings {
  indexUrl?: string;
  /** A directory of wheels on this machine (`--no-index --find-links` when no index is given). */
  wheelsDir?: string;
}

/** Base images being built in this process (one build per suite, however many runs ask). */
const baseBuilds = new Map<string, Promise<unknown>>();

const hasDebootstrap = () => ['/usr/sbin/debootstrap', '/usr/bin/debootstrap'].some((p) => existsSync(p));

/** Builds a missing fixwright base image (bullseye for Python 3.9) once; debootstrap needs root. */
async function ensureBaseImage(docker: Docker, base: string | undefined): Promise<void> {
  const suite = (['bookworm', 'bullseye'] as const).find((s) => base === baseImageTag(s));
  if (!suite || suite === 'bookworm') return;
  try {
    await docker.getImage(base!).inspect();
    return;
  } catch {
    // not there: build it below
  }
  if (!baseBuilds.has(suite))
    baseBuilds.set(suite, buildBaseImage(docker, { suite, hasDebootstrap: hasDebootstrap() }));
  try {
    await baseBuilds.get(suite);
  } catch (err) {
    baseBuilds.delete(suite);
    throw new FixwrightError(
      'FW_ERR_IMAGE_BUILD',
      `the ${suite} base image is missing and could not be built ` +
        `(${(err as Error).message.split('\n')[0]}); build it with 'sudo fixwright sandbox build --suite ${suite}'`,
    );
  }
}

/** The wheels of a directory (file name → path; the bytes are read only when a build runs). */
function listWheels(dir: string): Record<string, string> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new FixwrightError('FW_ERR_CONFIG', `FIXWRIGHT_PIP_WHEELS is not a directory: ${dir}`);
  }
  return Object.fromEntries(
    readdirSync(dir)
      .filter((f) => /^[\w.+-]+\.(whl|tar\.gz|zip)$/.test(f))
      .map((f) => [f, join(dir, f)]),
  );
}

/** A URL without its user and password, for messages. */
export function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return `${u.toString()} (credentials hidden)`;
  } catch {
    return '(an unparsable URL)';
  }
}

/** Turns the build's own words about what it could not install into the error's message. */
function missingPiece(lines: readonly string[], pip: PipSettings): string | undefined {
  const failed = lines.find((l) => l.startsWith('fixwright: pip could not install:'));
  if (!failed) return undefined;
  const what = failed.slice('fixwright: pip could not install:'.length).trim();
  const where =
    pip.indexUrl || pip.wheelsDir
      ? `from ${[pip.indexUrl && withoutCredentials(pip.indexUrl), pip.wheelsDir].filter(Boolean).join(' or ')}`
      : 'with no package index reachable (set FIXWRIGHT_PIP_INDEX_URL or FIXWRIGHT_PIP_WHEELS)';
  return `missing: ${what} — no Debian package provides it and pip could not install it ${where}`;
}

/**
 * The image an environment's tests run in, built once and cached by the hash of what defines it.
 * A build failure is an FW_ERR_IMAGE_BUILD whose message names the missing piece where it can.
 */
export async function prepareEnvironmentImage(
  docker: Docker,
  environment: Pick<TestEnvironment, 'image' | 'key'>,
  options: { pip?: PipSettings; onLine?: (line: string) => void } = {},
): Promise<{ image: string | undefined; built: boolean }> {
  if (environment.image === null) return { image: undefined, built: false };
  const spec = parseEnvironmentSpec(environment.image);
  await ensureBaseImage(docker, spec.base);
  const pip = options.pip ?? {};
  const source: PipSource = { indexUrl: pip.indexUrl, wheels: pip.wheelsDir ? listWheels(pip.wheelsDir) : undefined };
  const lines: string[] = [];
  try {
    const result = await ensureEnvironmentImage(
      docker,
      spec,
      (line) => {
        lines.push(line);
        if (lines.length > 2000) lines.shift();
        options.onLine?.(line);
      },
      source,
    );
    return { image: result.tag, built: result.built };
  } catch (err) {
    const missing = missingPiece(lines, pip);
    if (missing) throw new FixwrightError('FW_ERR_IMAGE_BUILD', missing, { cause: err });
    // Docker's message may quote the RUN line, and with it the index URL.
    if (pip.indexUrl && (err as Error).message.includes(pip.indexUrl)) {
      throw new FixwrightError(
        'FW_ERR_IMAGE_BUILD',
        (err as Error).message.replaceAll(pip.indexUrl, withoutCredentials(pip.indexUrl)),
        { cause: err },
      );
    }
    throw err;
  }
}
