import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { FixwrightError, assetPath } from '../../core/index.js';
import {
  extensionBuildSchema,
  LOG_PARSER_NAMES,
  parseEnvironmentSpec,
  type TestEnvironment,
} from '../../sandbox/index.js';

const entrySchema = z
  .object({
    /** An environment spec (sandbox/images/env-image.ts) over the base image; null: the base image as it is. */
    env: z.unknown().nullable().optional(),
    test_cmd: z.array(z.string()).min(1).optional(),
    parser: z.enum(LOG_PARSER_NAMES).optional(),
    /** Directories of the checkout put on PYTHONPATH (the repository is not pip-installed offline). */
    pythonpath: z.array(z.string()).optional(),
    /** Files written into the checkout before the tests ({version}, {major}, {minor} filled in). */
    files: z.record(z.string(), z.string()).optional(),
    /** Scripts from benchmarks/eval/assets/ put in /tmp/fixwright/eval/ (a test command may run them). */
    helpers: z.array(z.string().regex(/^[\w.-]+$/)).optional(),
    /** What a reader should know about the entry (where it departs from the official environment, and why). */
    notes: z.array(z.string()).optional(),
    /** Environment variables of the test command (locale, warning filters). */
    test_env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional(),
    /** The checkout's C/Cython extension build (run in a sandbox, cached per tree; {version} filled in its env). */
    build: extensionBuildSchema.optional(),
  })
  .strict();

/** How the test files a test patch touches become the test command's arguments. */
const directivesSchema = z.enum(['paths', 'django_labels']);

const tableSchema = z.object({
  $comment: z.string().optional(),
  default: entrySchema.required({ test_cmd: true, parser: true, pythonpath: true }),
  repos: z.record(
    z.string(),
    z
      .object({
        parser: z.enum(LOG_PARSER_NAMES).optional(),
        directives: directivesSchema.optional(),
        versions: z.record(z.string(), entrySchema),
        unsupported: z.string().optional(),
        /** Test names (the part after the last ::) that reach outside hosts: they cannot pass offline. */
        needs_network: z.array(z.string()).optional(),
      })
      .strict(),
  ),
});

/**
 * How one (repository, version) is tested: a test environment of the shared environment layer
 * (the agent tests a known instance in the same one), or why there is none.
 */
export type Environment =
  | (TestEnvironment & {
      supported: true;
      /** The image recipe (the same as `image`; kept under the table's own name). */
      env: unknown | null;
      /** Test names that reach outside hosts and cannot pass offline. */
      needsNetwork: string[];
    })
  | { supported: false; key: string; reason: string };

/** The environment table shipped with fixwright (Debian's packages, offline). */
export const SHIPPED_TABLE = 'benchmarks/eval/environments.json';
/** The shipped table with the official pip pins, for machines that reach a package index. */
export const PINNED_TABLE = 'benchmarks/eval/environments-pinned.json';

/**
 * Reads an environment table (data, not code): the shipped one, or another (`--env-table FILE`).
 * `source` names the file and its content's hash, which reports carry.
 */
export function loadEnvironmentTable(path = assetPath(SHIPPED_TABLE)) {
  let raw: unknown;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
    raw = JSON.parse(text);
  } catch (err) {
    throw new FixwrightError('FW_ERR_CONFIG', `environment table ${path} is unreadable: ${(err as Error).message}`);
  }
  const parsed = tableSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(table)'}: ${i.message}`);
    throw new FixwrightError('FW_ERR_CONFIG', `environment table ${path} is invalid: ${problems.join('; ')}`);
  }
  // Every entry's image recipe and helper scripts are checked now: a bad one is this one error, not
  // an env_error on each of its instances after the run has started.
  const entries: Array<[string, z.infer<typeof entrySchema>]> = [
    ['default', parsed.data.default],
    ...Object.entries(parsed.data.repos).flatMap(([repo, r]) =>
      Object.entries(r.versions).map(
        ([v, e]) => [`repos.${repo}.versions.${v}`, e] as [string, z.infer<typeof entrySchema>],
      ),
    ),
  ];
  const problems: string[] = [];
  for (const [where, entry] of entries) {
    if (entry.env !== undefined && entry.env !== null) {
      try {
        parseEnvironmentSpec(entry.env);
      } catch (err) {
        problems.push(`${where}.env: ${(err as Error).message.replace(/^invalid environment spec: /, '')}`);
      }
    }
    for (const name of entry.helpers ?? []) {
      if (!existsSync(assetPath(`benchmarks/eval/assets/${name}`)))
        problems.push(`${where}.helpers: no helper ${name} in benchmarks/eval/assets/`);
    }
  }
  if (problems.length > 0) {
    throw new FixwrightError(
      'FW_ERR_CONFIG',
      `environment table ${path} is invalid: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`,
    );
  }
  return { ...parsed.data, source: { path: resolve(path), sha256: createHash('sha256').update(text).digest('hex') } };
}

/** Entries whose image installs requirements with pip (which needs a package index or wheel directory to build). */
export function entriesWithPip(table: ReturnType<typeof loadEnvironmentTable>): string[] {
  return Object.entries(table.repos).flatMap(([repo, r]) =>
    Object.entries(r.versions)
      .filter(([, e]) => {
        const env = e.env as { pip?: unknown[]; packages?: unknown[] } | null | undefined;
        return (env?.pip?.length ?? 0) > 0;
      })
      .map(([v]) => `${repo}@${v}`),
  );
}

/** The environment for a row: its repository's entry for the version, the default for unknown repositories. */
export function environmentFor(
  table: ReturnType<typeof loadEnvironmentTable>,
  repo: string,
  version: string | undefined,
): Environment {
  const key = `${repo}@${version ?? '?'}`;
  const known = table.repos[repo];
  const entry = known ? (version !== undefined ? known.versions[version] : undefined) : table.default;
  if (!entry) {
    return {
      supported: false,
      key,
      reason:
        known?.unsupported ?? `no environment for ${repo} version ${version ?? '(none)'} in the environment table`,
    };
  }
  const [major = '0', minor = '0'] = (version ?? '0.0').split('.');
  const fill = (text: string) =>
    text
      .replaceAll('{version}', version ?? '0.0')
      .replaceAll('{major}', major)
      .replaceAll('{minor}', minor);
  const image = entry.env === undefined ? (table.default.env ?? null) : entry.env;
  return {
    supported: true,
    source: 'table',
    key,
    env: image,
    image: image as TestEnvironment['image'],
    imports: [],
    notes: entry.notes ?? [],
    testCmd: entry.test_cmd ?? table.default.test_cmd,
    testEnv: entry.test_env ?? {},
    directives: known?.directives ?? 'paths',
    parser: entry.parser ?? known?.parser ?? table.default.parser,
    pythonpath: entry.pythonpath ?? table.default.pythonpath,
    files: Object.fromEntries(Object.entries(entry.files ?? {}).map(([p, c]) => [p, fill(c)])),
    needsNetwork: known?.needs_network ?? [],
    ...(entry.build
      ? {
          build: {
            ...entry.build,
            env: Object.fromEntries(Object.entries(entry.build.env).map(([k, v]) => [k, fill(v)])),
          },
        }
      : {}),
    helpers: Object.fromEntries(
      (entry.helpers ?? []).map((name) => [name, readFileSync(assetPath(`benchmarks/eval/assets/${name}`), 'utf8')]),
    ),
  };
}
