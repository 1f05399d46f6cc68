import { createHash } from 'node:crypto';
import type Docker from 'dockerode';
import { z } from 'zod';
import { FixwrightError } from '../../core/errors.js';
import { SANDBOX_UID } from '../container-spec.js';
import { BASE_IMAGE, DEBIAN_MIRROR } from './base-image.js';
import { buildFromDockerfile, buildNetworkMode, imageRecipe } from './docker-build.js';

const aptName = /^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+:~-]+)?$/;
const pipRequirement = /^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?((===?|[<>!~]=|[<>])[A-Za-z0-9.*+!-]+(,(===?|[<>!~]=|[<>])[A-Za-z0-9.*+!-]+)*)?$/;

/**
 * What a repository needs beyond the base image. Builds get the network; the sandboxes that run
 * from the resulting image never do.
 */
export const environmentSpecSchema = z
  .object({
    base: z.string().min(1).default(BASE_IMAGE),
    apt: z.array(z.string().regex(aptName, 'not a Debian package name (such as python3-numpy or name=version)')).default([]),
    pip: z.array(z.string().regex(pipRequirement, 'not a pip requirement (such as requests==2.31.0)')).default([]),
    /**
     * Pure-Python Debian packages taken from another suite (such as a newer asgiref for Python
     * 3.9): unpacked, not installed, so the other suite's interpreter never comes with them.
     */
    borrow: z
      .array(z.object({ suite: z.string().regex(/^[a-z]+(-[a-z]+)?$/, 'not a Debian suite name'), packages: z.array(z.string().regex(aptName)).min(1) }).strict())
      .default([]),
    /** Shell commands run as root at build time, after the packages (trusted environment tables only). */
    setup: z.array(z.string().min(1).refine((c) => !c.includes('\n'), 'one command per entry, no newlines')).default([]),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not an environment variable name'), z.string()).default({}),
  })
  .strict();

/** An environment spec as written in an environment table. */
export type EnvironmentSpecInput = z.input<typeof environmentSpecSchema>;
/** A validated environment spec. */
export type EnvironmentSpec = z.output<typeof environmentSpecSchema>;

/** Validates a spec, with every problem as `path: message`. */
export function parseEnvironmentSpec(input: unknown): EnvironmentSpec {
  const parsed = environmentSpecSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(spec)'}: ${i.message}`);
  throw new FixwrightError('FW_ERR_BAD_INPUT', `invalid environment spec: ${problems.join('; ')}`, { field: 'environment' });
}

const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** The Dockerfile for a spec (names are validated, so they need no quoting beyond this). */
export function environmentDockerfile(spec: EnvironmentSpec): string {
  const lines = [`FROM ${spec.base}`, 'USER root', 'ENV DEBIAN_FRONTEND=noninteractive PIP_BREAK_SYSTEM_PACKAGES=1 PIP_NO_CACHE_DIR=1'];
  const aptInstall = (packages: string) =>
    `apt-get update -q && apt-get install -y -q --no-install-recommends ${packages} && rm -rf /var/lib/apt/lists/*`;
  if (spec.apt.length > 0) lines.push(`RUN ${aptInstall(spec.apt.join(' '))}`);
  for (const { suite, packages } of spec.borrow) {
    const list = '/etc/apt/sources.list.d/fixwright-borrow.list';
    lines.push(
      `RUN echo 'deb ${DEBIAN_MIRROR} ${suite} main' > ${list} && apt-get update -q && mkdir /tmp/borrow && cd /tmp/borrow` +
        ` && apt-get download ${packages.map((p) => `${p}/${suite}`).join(' ')} && for f in *.deb; do dpkg -x "$f" /; done` +
        ` && cd / && rm -rf /tmp/borrow ${list} /var/lib/apt/lists/*`,
    );
  }
  if (spec.pip.length > 0) {
    // Registry python images ship pip; the offline Debian base gets Debian's.
    lines.push(`RUN command -v pip3 >/dev/null || (${aptInstall('python3-pip')})`);
    lines.push(`RUN python3 -m pip install ${spec.pip.map(quote).join(' ')}`);
  }
  for (const command of spec.setup) lines.push(`RUN ${command}`);
  const envEntries = Object.entries(spec.env);
  if (envEntries.length > 0) lines.push(`ENV ${envEntries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`);
  lines.push(`USER ${SANDBOX_UID}:${SANDBOX_UID}`, 'WORKDIR /work');
  return lines.join('\n') + '\n';
}

/** The outcome of `ensureEnvironmentImage`. */
export interface EnvironmentImageResult {
  tag: string;
  built: boolean;
}

/**
 * Returns the image for a spec, building it once. The tag is a hash of the spec and of the base
 * image's id, so a rebuilt base image yields new environment images too.
 */
export async function ensureEnvironmentImage(
  docker: Docker,
  specInput: unknown,
  onLine?: (line: string) => void,
): Promise<EnvironmentImageResult> {
  const spec = parseEnvironmentSpec(specInput);
  let baseId: string;
  try {
    baseId = (await docker.getImage(spec.base).inspect()).Id;
  } catch {
    throw new FixwrightError('FW_ERR_IMAGE_NOT_FOUND', `base image '${spec.base}' not found; build it with 'fixwright sandbox build'`, { field: 'base' });
  }
  const dockerfile = environmentDockerfile(spec);
  const recipe = createHash('sha256').update(JSON.stringify({ baseId, dockerfile })).digest('hex').slice(0, 16);
  const tag = `fixwright-env:${recipe}`;
  if ((await imageRecipe(docker, tag)) === recipe) return { tag, built: false };
  await buildFromDockerfile(docker, { tag, dockerfile, recipe, network: await buildNetworkMode(docker), onLine });
  return { tag, built: true };
}
