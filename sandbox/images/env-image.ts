import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type Docker from 'dockerode';
import { z } from 'zod';
import { FixwrightError, assetPath } from '../../core/index.js';
import { SANDBOX_UID } from '../container-spec.js';
import { BASE_IMAGE, DEBIAN_MIRROR } from './base-image.js';
import { buildFromDockerfile, buildNetworkMode, imageRecipe } from './docker-build.js';

const aptName = /^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+:~-]+)?$/;
/** A requirement: a name, extras, version clauses; spaces only (a newline would end a Dockerfile line, a tab start an option). */
export const pipRequirement =
  /^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])? *((===?|[<>!~]=|[<>]) *[A-Za-z0-9.*+!-]+( *, *(===?|[<>!~]=|[<>]) *[A-Za-z0-9.*+!-]+)*)?$/;

/**
 * What a repository needs beyond the base image. Builds get the network; the sandboxes that run
 * from the resulting image never do.
 */
export const environmentSpecSchema = z
  .object({
    base: z.string().min(1).default(BASE_IMAGE),
    apt: z
      .array(z.string().regex(aptName, 'not a Debian package name (such as python3-numpy or name=version)'))
      .default([]),
    pip: z.array(z.string().regex(pipRequirement, 'not a pip requirement (such as requests==2.31.0)')).default([]),
    /**
     * Requirements taken from Debian's python3-* package where the suite has one (its version, not
     * the pin), otherwise installed with pip from the build's package index or wheel directory.
     */
    packages: z.array(z.string().regex(pipRequirement, 'not a requirement (such as requests>=2.31)')).default([]),
    /**
     * Requirements that cannot be installed are listed in the image instead of failing the build
     * (inferred environments: the run's baseline check decides whether the project works without them).
     */
    best_effort: z.boolean().default(false),
    /** pip may build source distributions (running their setup.py at build time): --env files and the shipped table only. */
    allow_source_builds: z.boolean().default(false),
    /**
     * Pure-Python Debian packages taken from another suite (such as a newer asgiref for Python
     * 3.9): unpacked, not installed, so the other suite's interpreter never comes with them.
     */
    borrow: z
      .array(
        z
          .object({
            suite: z.string().regex(/^[a-z]+(-[a-z]+)?$/, 'not a Debian suite name'),
            packages: z.array(z.string().regex(aptName)).min(1),
          })
          .strict(),
      )
      .default([]),
    /** Shell commands run as root at build time, after the packages (trusted environment tables only). */
    setup: z
      .array(
        z
          .string()
          .min(1)
          .refine((c) => !c.includes('\n'), 'one command per entry, no newlines'),
      )
      .default([]),
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not an environment variable name'), z.string())
      .default({}),
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
  throw new FixwrightError('FW_ERR_BAD_INPUT', `invalid environment spec: ${problems.join('; ')}`, {
    field: 'environment',
  });
}

const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** Where pip looks at build time: a package index, a directory of wheels (copied into the build), or both; none: pip is not run. */
export interface PipSource {
  indexUrl?: string;
  /** Wheel file name → its path on this machine, read into the build context only when a build runs. */
  wheels?: Record<string, string>;
}

/** Where the wheels of a PipSource land inside the build. */
const WHEELS_DIR = '/tmp/fixwright-wheels';

/** Debian names for distributions whose package is not simply python3-<name>. */
const DEBIAN_NAMES: Record<string, string> = {
  pyyaml: 'python3-yaml',
  pillow: 'python3-pil',
  attrs: 'python3-attr',
  beautifulsoup4: 'python3-bs4',
  'scikit-learn': 'python3-sklearn',
  'python-dateutil': 'python3-dateutil',
  'typing-extensions': 'python3-typing-extensions',
  msgpack: 'python3-msgpack',
  pyzmq: 'python3-zmq',
  protobuf: 'python3-protobuf',
  pyjwt: 'python3-jwt',
  'python-dotenv': 'python3-dotenv',
  py: 'python3-py',
  'opencv-python': 'python3-opencv',
  'pytest-xdist': 'python3-pytest-xdist',
  pyqt5: 'python3-pyqt5',
  pycryptodome: 'python3-pycryptodome',
  dnspython: 'python3-dnspython',
};

/** Debian packages that may provide a requirement, most likely first. */
export function debianCandidates(requirement: string): string[] {
  const name = (requirement.match(/^[A-Za-z0-9][A-Za-z0-9._-]*/)?.[0] ?? '').toLowerCase().replace(/[._]+/g, '-');
  return [
    ...new Set(
      [
        DEBIAN_NAMES[name],
        `python3-${name}`,
        name.startsWith('python-') ? `python3-${name.slice(7)}` : undefined,
        name.startsWith('py') && name.length > 4 ? `python3-${name.slice(2)}` : undefined,
      ].filter((c): c is string => Boolean(c)),
    ),
  ];
}

/** The Dockerfile for a spec (names are validated, so they need no quoting beyond this). */
export function environmentDockerfile(spec: EnvironmentSpec, pip: PipSource = {}): string {
  const lines = [
    `FROM ${spec.base}`,
    'USER root',
    'ENV DEBIAN_FRONTEND=noninteractive PIP_BREAK_SYSTEM_PACKAGES=1 PIP_NO_CACHE_DIR=1',
  ];
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
  if (spec.packages.length > 0) {
    // Decided inside the build, against the suite's own package lists: Debian's package where one
    // exists, pip for the rest (listed in a file the pip step reads).
    const entries = spec.packages.map((req) => quote(`${req}|${debianCandidates(req).join(' ')}`)).join(' ');
    lines.push(
      'RUN set -f; apt-get update -q && debs= && : > /tmp/fixwright-pip.txt' +
        ` && for entry in ${entries}; do req="\${entry%%|*}"; found=; for c in \${entry#*|}; do` +
        ' if apt-cache show "$c" >/dev/null 2>&1; then found=$c; break; fi; done;' +
        ' if [ -n "$found" ]; then debs="$debs $found"; else echo "$req" >> /tmp/fixwright-pip.txt; fi; done' +
        ' && if [ -n "$debs" ]; then echo "fixwright: from Debian:$debs"; apt-get install -y -q --no-install-recommends $debs; fi' +
        ' && rm -rf /var/lib/apt/lists/*',
    );
  }
  if (spec.pip.length > 0 || spec.packages.length > 0) {
    // The pip step is a script in the build context (sandbox/assets/pip-install.sh): it installs
    // pip only when pip has work, and names each requirement it could not install.
    const hasWheels = pip.wheels !== undefined && Object.keys(pip.wheels).length > 0;
    const hasSource = hasWheels || pip.indexUrl !== undefined;
    const flags = [
      // Wheels only for specs the machine's owner did not write: a source package's setup.py would run as root, with the network.
      ...(hasSource && !spec.allow_source_builds ? ['--only-binary=:all:'] : []),
      ...(pip.indexUrl ? ['--index-url', quote(pip.indexUrl)] : []),
      ...(hasWheels ? [...(pip.indexUrl ? [] : ['--no-index']), '--find-links', WHEELS_DIR] : []),
    ];
    lines.push(`COPY fixwright /tmp/fixwright-build`);
    if (hasWheels) lines.push(`COPY wheels ${WHEELS_DIR}`);
    lines.push(
      `RUN touch /tmp/fixwright-pip.txt && ` +
        `FIXWRIGHT_PIP_SOURCE=${hasSource ? 1 : 0} ${spec.best_effort ? 'FIXWRIGHT_BEST_EFFORT=1 ' : ''}` +
        `sh /tmp/fixwright-build/pip-install.sh ${flags.join(' ')}` +
        ` && rm -rf /tmp/fixwright-pip.txt /tmp/fixwright-build ${WHEELS_DIR}`,
    );
  }
  for (const command of spec.setup) lines.push(`RUN ${command}`);
  const envEntries = Object.entries(spec.env);
  if (envEntries.length > 0) lines.push(`ENV ${envEntries.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`);
  lines.push(`USER ${SANDBOX_UID}:${SANDBOX_UID}`, 'WORKDIR /work');
  return lines.join('\n') + '\n';
}

/** The files a spec's build needs beside its Dockerfile: the pip step's script and list, and the wheels. */
export function environmentBuildContext(spec: EnvironmentSpec, pip: PipSource = {}): Record<string, Buffer> {
  if (spec.pip.length === 0 && spec.packages.length === 0) return {};
  return {
    'fixwright/pip-install.sh': readFileSync(assetPath('sandbox/assets/pip-install.sh')),
    'fixwright/pip-only.txt': Buffer.from(spec.pip.map((r) => `${r}\n`).join('')),
    ...Object.fromEntries(
      Object.entries(pip.wheels ?? {}).map(([name, path]) => [`wheels/${name}`, readFileSync(path)]),
    ),
  };
}

/** What identifies a build context without reading the wheels: the small files' hashes, each wheel's name, size and time. */
function contextKey(spec: EnvironmentSpec, pip: PipSource): string[][] {
  if (spec.pip.length === 0 && spec.packages.length === 0) return [];
  const small = Object.entries(environmentBuildContext(spec, {})).map(([name, bytes]) => [
    name,
    createHash('sha256').update(bytes).digest('hex'),
  ]);
  const wheels = Object.entries(pip.wheels ?? {}).map(([name, path]) => {
    const stat = statSync(path);
    return [`wheels/${name}`, `${stat.size}:${stat.mtimeMs}`];
  });
  return [...small, ...wheels].sort();
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
  pip: PipSource = {},
): Promise<EnvironmentImageResult> {
  const spec = parseEnvironmentSpec(specInput);
  let baseId: string;
  try {
    baseId = (await docker.getImage(spec.base).inspect()).Id;
  } catch {
    throw new FixwrightError(
      'FW_ERR_IMAGE_NOT_FOUND',
      `base image '${spec.base}' not found; build it with 'fixwright sandbox build'`,
      { field: 'base' },
    );
  }
  const usesPip = spec.pip.length > 0 || spec.packages.length > 0;
  const source: PipSource = usesPip ? pip : {};
  const dockerfile = environmentDockerfile(spec, source);
  const recipe = createHash('sha256')
    .update(JSON.stringify({ baseId, dockerfile, context: contextKey(spec, source) }))
    .digest('hex')
    .slice(0, 16);
  const tag = `fixwright-env:${recipe}`;
  // Callers in this process that need an image being built wait for that build: two builds of one
  // recipe would leave two image ids behind one tag (and key caches of what was built on it twice).
  const pending = imageBuilds.get(tag);
  if (pending) {
    await pending;
    return { tag, built: false };
  }
  if ((await imageRecipe(docker, tag)) === recipe) return { tag, built: false };
  if (imageBuilds.has(tag)) {
    await imageBuilds.get(tag);
    return { tag, built: false };
  }
  const context = environmentBuildContext(spec, source);
  // Registered before its first await, so a caller arriving meanwhile finds it.
  const build = (async () =>
    buildFromDockerfile(docker, {
      tag,
      dockerfile,
      recipe,
      network: await buildNetworkMode(docker),
      onLine,
      context,
    }))();
  imageBuilds.set(tag, build);
  try {
    await build;
  } finally {
    imageBuilds.delete(tag);
  }
  return { tag, built: true };
}

/** Environment images being built by this process, by tag. */
const imageBuilds = new Map<string, Promise<unknown>>();
