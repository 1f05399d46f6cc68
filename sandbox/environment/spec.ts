import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FixwrightError } from '../../core/index.js';
import { BASE_IMAGE, baseImageTag } from '../images/base-image.js';
import { type EnvironmentSpecInput, pipRequirement } from '../images/env-image.js';
import { extensionBuildSchema } from './extension-build.js';
import { LOG_PARSER_NAMES } from './log-parsers.js';
import type { EnvironmentSource, TestEnvironment } from './types.js';

/** Python versions the offline base images provide (Debian bullseye and bookworm). */
export const PYTHON_BASES = { '3.9': baseImageTag('bullseye'), '3.11': BASE_IMAGE } as const;
/** A Python version fixwright can give a project. */
export type PythonVersion = keyof typeof PYTHON_BASES;

const aptName = /^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+:~-]+)?$/;
const requirement = pipRequirement;
const repoPath = z
  .string()
  .min(1)
  .refine(
    (p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0'),
    'must be a path inside the repository',
  );

/**
 * The environment spec a user writes (`--env FILE`, the `environment` field of POST /api/solve, or
 * `.fixwright/environment.yml` committed in the repository). YAML or JSON.
 */
export const userSpecSchema = z
  .object({
    /** 3.9 or 3.11: picks the offline base image (bullseye or bookworm). */
    python: z.enum(['3.9', '3.11']).optional(),
    /** Another base image (a registry image with python3 where one is reachable); --env files only. */
    base: z.string().min(1).optional(),
    /** Requirements installed from Debian's python3-* package where one exists, otherwise with pip at build time. */
    packages: z
      .array(z.string().regex(requirement, 'not a requirement (such as requests or requests>=2.31)'))
      .default([]),
    /** Debian packages. */
    apt: z.array(z.string().regex(aptName, 'not a Debian package name (such as python3-numpy)')).default([]),
    /** Requirements installed with pip only (needs a package index or a wheel directory at build time). */
    pip: z.array(z.string().regex(requirement, 'not a requirement (such as requests==2.31.0)')).default([]),
    /** Build commands run as root with the network, after the packages; --env files only. */
    setup: z
      .array(
        z
          .string()
          .min(1)
          .refine((c) => !c.includes('\n'), 'one command per entry'),
      )
      .default([]),
    /** Repository directories put on PYTHONPATH (default: src when the project uses a src layout, else the root). */
    pythonpath: z.array(repoPath).optional(),
    /** The test command before its targets (default: python3 -m pytest -rA). */
    test_command: z.array(z.string().min(1)).min(1).optional(),
    test_env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not an environment variable name'), z.string())
      .default({}),
    /** How to read the test command's log when it is not pytest. */
    parser: z.enum(LOG_PARSER_NAMES).optional(),
    /**
     * Builds the checkout's C/Cython extensions before tests (such as python3 setup.py build_ext
     * --inplace): run in a sandbox like the tests, once per tree, and cached.
     */
    build: extensionBuildSchema.optional(),
    /** Modules that must import (default: the project's top-level packages). */
    imports: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'not a module name'))
      .optional(),
  })
  .strict();

/** A validated user spec. */
export type UserSpec = z.output<typeof userSpecSchema>;

/**
 * How far a spec is trusted: a file the user passes on the command line may name any base image
 * and build commands; a spec sent over the API or committed in a repository may not (its author
 * is not the machine's owner), though it may still ask for packages.
 */
export type SpecTrust = 'operator' | 'untrusted';

/** Parses YAML or JSON text into a user spec, with every problem as `path: message`. */
export function parseUserSpecText(text: string, origin: string, trust: SpecTrust): UserSpec {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `${origin}: not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`,
      { field: 'environment' },
    );
  }
  return parseUserSpec(raw, origin, trust);
}

/** Validates a user spec object, with every problem as `path: message`. */
export function parseUserSpec(raw: unknown, origin: string, trust: SpecTrust): UserSpec {
  const parsed = userSpecSchema.safeParse(raw ?? {});
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((i) => `${i.path.join('.') || '(spec)'}: ${i.message}`);
  if (parsed.success && trust === 'untrusted') {
    if (parsed.data.base !== undefined)
      problems.push('base: only an environment file given on the command line may name a base image (use "python")');
    if (parsed.data.setup.length > 0)
      problems.push('setup: only an environment file given on the command line may run build commands');
  }
  if (problems.length > 0 || !parsed.success) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `invalid environment spec (${origin}): ${problems.join('; ')}`, {
      field: 'environment',
    });
  }
  return parsed.data;
}

/** Whether a test command is pytest (so it takes pytest's flags and fixwright's report plugin). */
export function isPytestCommand(cmd: readonly string[]): boolean {
  const m = cmd.indexOf('-m');
  // The table's requests environment runs pytest behind fixwright's own httpbin wrapper.
  return (
    (m >= 0 && cmd[m + 1] === 'pytest') ||
    /^(py\.test|pytest)$/.test(cmd[0] ?? '') ||
    (cmd[0] === 'python3' && cmd[1] === '/tmp/fixwright/eval/with-httpbin.py')
  );
}

/** Defaults a spec leaves open, from what the repository shows. */
export interface SpecDefaults {
  pythonpath: string[];
  imports: string[];
}

/** Turns a user spec into a test environment. */
export function specToEnvironment(
  spec: UserSpec,
  source: EnvironmentSource,
  key: string,
  defaults: SpecDefaults,
  notes: string[] = [],
  options: { bestEffort?: boolean; trusted?: boolean } = {},
): TestEnvironment {
  const base = spec.base ?? (spec.python ? PYTHON_BASES[spec.python] : undefined);
  const needsImage =
    (base !== undefined && base !== BASE_IMAGE) ||
    spec.apt.length + spec.pip.length + spec.packages.length + spec.setup.length > 0;
  const image: EnvironmentSpecInput | null = needsImage
    ? {
        ...(base ? { base } : {}),
        apt: spec.apt,
        pip: spec.pip,
        packages: spec.packages,
        setup: spec.setup,
        ...(options.bestEffort ? { best_effort: true } : {}),
        ...(options.trusted ? { allow_source_builds: true } : {}),
      }
    : null;
  return {
    source,
    key,
    image,
    pythonpath: spec.pythonpath ?? defaults.pythonpath,
    testCmd: spec.test_command ?? ['python3', '-m', 'pytest', '-rA'],
    testEnv: spec.test_env,
    parser: spec.parser ?? 'pytest',
    directives: 'paths',
    files: {},
    helpers: {},
    imports: spec.imports ?? defaults.imports,
    ...(spec.imports ? { importsExplicit: true } : {}),
    ...(spec.build ? { build: spec.build } : {}),
    notes,
  };
}
