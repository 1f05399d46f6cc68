import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { FixwrightError } from './errors.js';
import { parseByteSize } from './units.js';

/**
 * Settings are read and validated once, at start-up, into a frozen object; no other module reads
 * `process.env`. Flags win over environment variables, which win over defaults.
 */

/** The sandbox's default programs: enough to run a repository's tests and apply patches. */
export const DEFAULT_ALLOWED_PROGRAMS = ['python', 'python3', 'pytest', 'git'] as const;

const byteSize = (what: string) =>
  z.union([z.number(), z.string()]).transform((value, ctx) => {
    const bytes = typeof value === 'number' ? value : parseByteSize(value);
    if (bytes === undefined || !Number.isFinite(bytes) || bytes < 1) {
      ctx.addIssue({
        code: 'custom',
        message: `${what} must be a size such as 512m or 2g (got ${JSON.stringify(value)})`,
      });
      return z.NEVER;
    }
    return Math.floor(bytes);
  });

const positiveNumber = (what: string, max: number) =>
  z.coerce.number({ message: `${what} must be a number` }).refine((n) => Number.isFinite(n) && n > 0 && n <= max, {
    message: `${what} must be greater than 0 and at most ${max}`,
  });

const positiveInt = (what: string, max: number) =>
  positiveNumber(what, max).refine((n) => Number.isInteger(n), { message: `${what} must be a whole number` });

const programList = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => (Array.isArray(value) ? value : value.split(',')).map((p) => p.trim()).filter(Boolean))
  .refine((list) => list.length > 0, { message: 'the allowlist must name at least one program' })
  .refine((list) => list.every((p) => /^[A-Za-z0-9._+-]+$/.test(p)), {
    message: 'allowed programs are bare names such as python3 (no paths, no spaces)',
  });

const sandboxSchema = z.object({
  image: z.string().min(1, 'the sandbox image name must not be empty'),
  concurrency: positiveInt('sandbox concurrency', 64),
  allow: programList,
  memoryBytes: byteSize('sandbox memory'),
  cpus: positiveNumber('sandbox cpus', 64),
  pids: positiveInt('sandbox pids limit', 65536),
  timeoutSeconds: positiveNumber('sandbox timeout', 24 * 3600),
  outputCapBytes: byteSize('the output cap'),
  workdirBytes: byteSize('the working directory size'),
  leaseGraceSeconds: positiveInt('the lease grace period', 24 * 3600),
  /** Warm containers held ready, over every image and repository (0: none); unset: as many as the concurrency. */
  warm: z
    .union([z.number(), z.string()])
    // A blank value is a mistake, not 0 (Number(' ') is 0).
    .transform((v) => (typeof v === 'string' ? (v.trim() === '' ? NaN : Number(v)) : v))
    .refine((n) => Number.isInteger(n) && n >= 0 && n <= 64, {
      message: 'the warm pool size must be a whole number from 0 to 64',
    })
    .optional(),
  /** Memory the warm containers and the cached repository copies may each hold. */
  warmMemoryBytes: byteSize('the warm pool memory'),
});

const httpUrl = (what: string, example = 'http://127.0.0.1:8000/v1') =>
  z.string().refine((u) => {
    try {
      return ['http:', 'https:'].includes(new URL(u).protocol);
    } catch {
      return false;
    }
  }, `${what} must be an http(s) URL such as ${example}`);

const modelsSchema = z.object({
  /** Chat model for the agent (FIXWRIGHT_MODEL or --model). */
  chatModel: z.string().min(1).optional(),
  /** Embedding model for the dense localisation signal through the API; unset means the offline LSI embedder. */
  embeddingsModel: z.string().min(1).optional(),
  baseURL: httpUrl('OPENAI_BASE_URL').optional(),
  apiKey: z.string().optional(),
  maxTokens: positiveInt('FIXWRIGHT_MAX_TOKENS', 1_000_000),
  /** Price overrides, USD per million tokens: {"model": {"inputPerMTok": 1, "outputPerMTok": 2}}. */
  prices: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (!text) return {};
      try {
        const parsed = z
          .record(
            z.string(),
            z.object({ inputPerMTok: z.number().nonnegative(), outputPerMTok: z.number().nonnegative() }).strict(),
          )
          .parse(JSON.parse(text));
        return parsed;
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: 'must be JSON like {"my-model": {"inputPerMTok": 0.5, "outputPerMTok": 1.5}}',
        });
        return z.NEVER;
      }
    }),
  /**
   * The model's context window in tokens (FIXWRIGHT_MODEL_CONTEXT), e.g. 16384 for a vLLM server
   * started with --max-model-len 16384; unset means a large hosted model. The code shown to the
   * model shrinks so that prompt and answer fit in it.
   */
  contextTokens: positiveInt('FIXWRIGHT_MODEL_CONTEXT', 10_000_000).optional(),
  requestTimeoutSeconds: positiveNumber('FIXWRIGHT_REQUEST_TIMEOUT', 3600),
});

const githubSchema = z.object({
  /** GitHub's REST API (a GitHub Enterprise server's, or a local stand-in in tests). */
  apiURL: httpUrl('FIXWRIGHT_GITHUB_API'),
  token: z.string().optional(),
});

const listOf = (split: RegExp) =>
  z
    .string()
    .optional()
    .transform((text) =>
      (text ?? '')
        .split(split)
        .map((p) => p.trim())
        .filter(Boolean),
    );

/** The highest model rate limit (requests a minute) `--model-rpm` and FIXWRIGHT_MODEL_RPM take. */
export const MODEL_RPM_LIMIT = 100_000;

/** Candidates per attempt the agent draws at most (agent/'s MAX_SAMPLES; core/ does not import the agent). */
export const SAMPLES_LIMIT = 8;

/**
 * Why a Redis URL is unusable (undefined: it is usable): parsed as ioredis parses it, so a bad port
 * or host is this one line, not a stack trace from inside ioredis.
 */
/** A Redis URL as messages show it: its password (REDIS_PASSWORD in compose) replaced by ***. */
export function redisURLForDisplay(u: string): string {
  try {
    const url = new URL(u);
    if (!url.password) return u;
    url.password = '***';
    return url.toString();
  } catch {
    return u.replace(/\/\/[^@/]*@/, '//***@');
  }
}

export function redisURLProblem(u: string): string | undefined {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    return 'not a URL (redis://[:password@]host[:port][/db], port 1 to 65535)';
  }
  if (!['redis:', 'rediss:'].includes(url.protocol)) return `${url.protocol} is not redis: or rediss:`;
  if (!url.hostname) return 'no host';
  if (url.port !== '' && !(Number(url.port) >= 1 && Number(url.port) <= 65535))
    return `port ${url.port} is not 1 to 65535`;
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,5}$/.test(db)) return `/${db} is not a database number`;
  return undefined;
}

const serviceSchema = z.object({
  /** Redis for BullMQ jobs, tasks and event streams; unset means the in-process queue and the on-disk store. */
  redisURL: z
    .string()
    .optional()
    .superRefine((u, ctx) => {
      const problem = u === undefined ? undefined : redisURLProblem(u);
      if (problem)
        ctx.addIssue({
          code: 'custom',
          message: `must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379 (${problem})`,
        });
    }),
  /**
   * Model endpoints a `fixwright worker` sends its key to when a queued bench job names one (the
   * submitter's --base-url), beside its own OPENAI_BASE_URL; none: only its own.
   */
  workerBaseURLs: listOf(/,/).refine(
    (urls) => urls.every((u) => httpUrl('x').safeParse(u).success),
    'must be http(s) URLs separated by commas',
  ),
  /** API keys a caller must present (`authorization: Bearer KEY` or `x-api-key`); none means an open API. */
  apiKeys: listOf(/,/).refine((keys) => keys.every((k) => k.length >= 8), 'each key must be at least 8 characters'),
  /** Directories under which `repo_path` may point; none means `repo_path` is refused. */
  repoRoots: listOf(/[,:]/)
    .refine((roots) => roots.every((r) => r.startsWith('/')), 'roots must be absolute paths')
    .transform((roots) => roots.map((r) => resolve(r))),
  /** Origins allowed to call the API from a browser; none means same-origin only. */
  corsOrigins: listOf(/,/),
  rateLimitPerMinute: positiveInt('FIXWRIGHT_RATE_LIMIT', 1_000_000),
  bodyLimitBytes: byteSize('FIXWRIGHT_BODY_LIMIT'),
  /** Tasks the in-process queue runs at once (a worker's own --concurrency wins in the Redis mode). */
  workers: positiveInt('FIXWRIGHT_WORKERS', 64),
  /** How long shutdown waits for running jobs before they are left to the stalled-job check. */
  shutdownGraceSeconds: positiveNumber('FIXWRIGHT_SHUTDOWN_GRACE', 3600),
  /** Spending cap of every API task (USD, priced models); a request may ask for less, never more. */
  maxCostUsd: z.coerce
    .number({ message: 'must be a number of dollars' })
    .refine((n) => Number.isFinite(n) && n >= 0 && n <= 100_000, {
      message: 'must be a number of dollars from 0 to 100000',
    }),
  /** Wall-time cap of every API task (seconds): no new model call starts after it. */
  maxSeconds: positiveNumber('FIXWRIGHT_MAX_SECONDS', 7 * 24 * 3600),
  /** Candidate fixes per attempt an API request may ask for (each is one more model call and test run). */
  maxSamples: positiveInt('FIXWRIGHT_MAX_SAMPLES', SAMPLES_LIMIT),
  /**
   * Model requests a minute this process starts at most, across every task it runs (FIXWRIGHT_MODEL_RPM,
   * the provider's rate limit; bench's --model-rpm); unset means no limit. Each process has its own.
   */
  modelRpm: positiveInt('FIXWRIGHT_MODEL_RPM', MODEL_RPM_LIMIT).optional(),
  /**
   * Where `POST /v1/edit` is answered when this process has no Docker (FIXWRIGHT_EDIT_URL): a
   * worker started with --edit-port, e.g. http://worker:9200 in docker-compose.yml.
   */
  editURL: httpUrl('FIXWRIGHT_EDIT_URL', 'http://worker:9200').optional(),
  /** Models an API request may name; empty means any. */
  allowedModels: listOf(/,/).refine(
    (models) => models.every((m) => /^[A-Za-z0-9._:/@+-]{1,200}$/.test(m)),
    'model names are like gpt-4o-mini or deepseek-coder:6.7b, separated by commas',
  ),
});

/** The smallest prompt worth sending: instructions and feedback (4096), the issue and a little code (2048). */
export const MIN_PROMPT_TOKENS = 6144;

/** The service's caps when the environment names none: every API task is bounded. */
export const SERVICE_LIMIT_DEFAULTS = { maxCostUsd: 5, maxSeconds: 1800, maxSamples: 4 } as const;

/** Where pip may look while an environment image builds (never while a repository's code runs). */
const pipSchema = z.object({
  indexUrl: httpUrl('FIXWRIGHT_PIP_INDEX_URL').optional(),
  /** A directory of wheels on this machine, copied into the build (`--no-index --find-links` without an index). */
  wheelsDir: z
    .string()
    .refine((p) => p.startsWith('/'), 'FIXWRIGHT_PIP_WHEELS must be an absolute path')
    .optional(),
});

/** Quick fixes (POST /v1/edit): the answer cache, an LRU bounded by entries and bytes, and how long Redis keeps a shared answer. */
const quickfixSchema = z.object({
  cacheMaxEntries: positiveInt('FIXWRIGHT_EDIT_CACHE_ENTRIES', 10_000_000),
  cacheMaxBytes: byteSize('FIXWRIGHT_EDIT_CACHE_BYTES').refine(
    (n) => n >= 64 * 1024 && n <= 64 * 1024 ** 3,
    'FIXWRIGHT_EDIT_CACHE_BYTES must be from 64k to 64g',
  ),
  cacheTtlSeconds: positiveInt('FIXWRIGHT_EDIT_CACHE_TTL', 365 * 24 * 3600),
});

/** Localisation: the on-disk index cache under `<dataDir>/indexes`, bounded in MiB with least-recently-used eviction. */
const localisationSchema = z.object({
  indexCacheMb: positiveInt('FIXWRIGHT_INDEX_CACHE_MB', 1_048_576),
});

const settingsSchema = z.object({
  dataDir: z.string().min(1),
  localisation: localisationSchema,
  quickfix: quickfixSchema,
  pip: pipSchema,
  service: serviceSchema,
  github: githubSchema,
  models: modelsSchema,
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  dockerHost: z.string().optional(),
  sandbox: sandboxSchema,
});

/** Sandbox limits and policy, validated. */
export type SandboxSettings = z.output<typeof sandboxSchema>;
/** Model endpoints (the API key is never logged or written to trajectories). */
export type ModelSettings = z.output<typeof modelsSchema>;
/** All of fixwright's settings, validated and frozen. */
export type Settings = Readonly<z.output<typeof settingsSchema>>;

/** The service's settings: queue, access control, limits. */
export type ServiceSettings = z.output<typeof serviceSchema>;

/** Values given on the command line; each wins over its environment variable. */
export interface SettingsOverrides {
  dataDir?: string;
  logLevel?: string;
  sandbox?: Partial<Record<keyof SandboxSettings, string | number | string[] | undefined>>;
}

const SANDBOX_ENV: Record<keyof SandboxSettings, string> = {
  image: 'FIXWRIGHT_SANDBOX_IMAGE',
  concurrency: 'FIXWRIGHT_SANDBOX_CONCURRENCY',
  allow: 'FIXWRIGHT_SANDBOX_ALLOW',
  memoryBytes: 'FIXWRIGHT_SANDBOX_MEMORY',
  cpus: 'FIXWRIGHT_SANDBOX_CPUS',
  pids: 'FIXWRIGHT_SANDBOX_PIDS',
  timeoutSeconds: 'FIXWRIGHT_SANDBOX_TIMEOUT',
  outputCapBytes: 'FIXWRIGHT_SANDBOX_OUTPUT_CAP',
  workdirBytes: 'FIXWRIGHT_SANDBOX_WORKDIR_SIZE',
  leaseGraceSeconds: 'FIXWRIGHT_SANDBOX_LEASE_GRACE',
  warm: 'FIXWRIGHT_SANDBOX_WARM',
  warmMemoryBytes: 'FIXWRIGHT_SANDBOX_WARM_MEMORY',
};

const SANDBOX_DEFAULTS: Record<keyof SandboxSettings, string | number | string[] | undefined> = {
  image: 'fixwright-sandbox:base',
  concurrency: 2,
  allow: [...DEFAULT_ALLOWED_PROGRAMS],
  memoryBytes: '2g',
  cpus: 1,
  pids: 256,
  timeoutSeconds: 300,
  outputCapBytes: '1m',
  workdirBytes: '1g',
  leaseGraceSeconds: 120,
  warm: undefined,
  warmMemoryBytes: '1g',
};

/** The CLI flag of each sandbox setting. */
const SANDBOX_FLAGS: Record<keyof SandboxSettings, string> = {
  image: '--image',
  concurrency: '--concurrency',
  allow: '--allow',
  memoryBytes: '--memory',
  cpus: '--cpus',
  pids: '--pids',
  timeoutSeconds: '--timeout',
  outputCapBytes: '--output-cap',
  workdirBytes: '--workdir-size',
  leaseGraceSeconds: '--lease-grace',
  warm: '--warm',
  warmMemoryBytes: '--warm-memory',
};

/** Where a setting came from, so an error names the flag or variable the user actually set. */
function sourceName(key: keyof SandboxSettings, overrides: SettingsOverrides): string {
  return overrides.sandbox?.[key] !== undefined ? SANDBOX_FLAGS[key] : SANDBOX_ENV[key];
}

/**
 * Builds the settings from environment variables and flag overrides; throws FW_ERR_CONFIG listing
 * every problem as `NAME: message`.
 */
export function loadSettings(env: NodeJS.ProcessEnv = process.env, overrides: SettingsOverrides = {}): Settings {
  const sandbox: Record<string, unknown> = {};
  for (const key of Object.keys(SANDBOX_ENV) as (keyof SandboxSettings)[]) {
    const fromEnv = env[SANDBOX_ENV[key]];
    sandbox[key] =
      overrides.sandbox?.[key] ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : SANDBOX_DEFAULTS[key]);
  }
  const raw = {
    dataDir: resolve(overrides.dataDir ?? env.FIXWRIGHT_DATA_DIR ?? join(homedir(), '.fixwright')),
    logLevel: overrides.logLevel ?? env.FIXWRIGHT_LOG_LEVEL ?? 'info',
    dockerHost: env.DOCKER_HOST || undefined,
    pip: {
      indexUrl: env.FIXWRIGHT_PIP_INDEX_URL || undefined,
      wheelsDir: env.FIXWRIGHT_PIP_WHEELS ? resolve(env.FIXWRIGHT_PIP_WHEELS) : undefined,
    },
    github: { apiURL: env.FIXWRIGHT_GITHUB_API || 'https://api.github.com', token: env.GITHUB_TOKEN || undefined },
    localisation: { indexCacheMb: env.FIXWRIGHT_INDEX_CACHE_MB || 2048 },
    quickfix: {
      cacheMaxEntries: env.FIXWRIGHT_EDIT_CACHE_ENTRIES || 1000,
      cacheMaxBytes: env.FIXWRIGHT_EDIT_CACHE_BYTES || '64m',
      cacheTtlSeconds: env.FIXWRIGHT_EDIT_CACHE_TTL || 24 * 3600,
    },
    models: {
      chatModel: env.FIXWRIGHT_MODEL || undefined,
      embeddingsModel: env.FIXWRIGHT_EMBEDDINGS_MODEL || undefined,
      baseURL: env.OPENAI_BASE_URL || undefined,
      apiKey: env.OPENAI_API_KEY || undefined,
      maxTokens: env.FIXWRIGHT_MAX_TOKENS || 4096,
      prices: env.FIXWRIGHT_PRICES || undefined,
      requestTimeoutSeconds: env.FIXWRIGHT_REQUEST_TIMEOUT || 120,
      contextTokens: env.FIXWRIGHT_MODEL_CONTEXT || undefined,
    },
    service: {
      redisURL: env.REDIS_URL || undefined,
      apiKeys: env.FIXWRIGHT_API_KEYS,
      repoRoots: env.FIXWRIGHT_REPO_ROOTS,
      corsOrigins: env.FIXWRIGHT_CORS_ORIGINS,
      rateLimitPerMinute: env.FIXWRIGHT_RATE_LIMIT || 120,
      bodyLimitBytes: env.FIXWRIGHT_BODY_LIMIT || '1m',
      workers: env.FIXWRIGHT_WORKERS || 1,
      shutdownGraceSeconds: env.FIXWRIGHT_SHUTDOWN_GRACE || 30,
      maxCostUsd: env.FIXWRIGHT_MAX_COST_USD || SERVICE_LIMIT_DEFAULTS.maxCostUsd,
      maxSeconds: env.FIXWRIGHT_MAX_SECONDS || SERVICE_LIMIT_DEFAULTS.maxSeconds,
      maxSamples: env.FIXWRIGHT_MAX_SAMPLES || SERVICE_LIMIT_DEFAULTS.maxSamples,
      modelRpm: env.FIXWRIGHT_MODEL_RPM || undefined,
      allowedModels: env.FIXWRIGHT_ALLOWED_MODELS,
      editURL: env.FIXWRIGHT_EDIT_URL || undefined,
      workerBaseURLs: env.FIXWRIGHT_WORKER_BASE_URLS,
    },
    sandbox,
  };
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const [section, key] = issue.path.map(String);
      const name =
        section === 'sandbox' && key
          ? sourceName(key as keyof SandboxSettings, overrides)
          : section === 'models' && key
            ? (
                {
                  prices: 'FIXWRIGHT_PRICES',
                  maxTokens: 'FIXWRIGHT_MAX_TOKENS',
                  requestTimeoutSeconds: 'FIXWRIGHT_REQUEST_TIMEOUT',
                  contextTokens: 'FIXWRIGHT_MODEL_CONTEXT',
                  chatModel: 'FIXWRIGHT_MODEL',
                  embeddingsModel: 'FIXWRIGHT_EMBEDDINGS_MODEL',
                  baseURL: 'OPENAI_BASE_URL',
                  apiKey: 'OPENAI_API_KEY',
                } as Record<string, string>
              )[key]!
            : section === 'service' && key
              ? (
                  {
                    redisURL: 'REDIS_URL',
                    apiKeys: 'FIXWRIGHT_API_KEYS',
                    repoRoots: 'FIXWRIGHT_REPO_ROOTS',
                    corsOrigins: 'FIXWRIGHT_CORS_ORIGINS',
                    rateLimitPerMinute: 'FIXWRIGHT_RATE_LIMIT',
                    bodyLimitBytes: 'FIXWRIGHT_BODY_LIMIT',
                    workers: 'FIXWRIGHT_WORKERS',
                    shutdownGraceSeconds: 'FIXWRIGHT_SHUTDOWN_GRACE',
                    maxCostUsd: 'FIXWRIGHT_MAX_COST_USD',
                    maxSeconds: 'FIXWRIGHT_MAX_SECONDS',
                    maxSamples: 'FIXWRIGHT_MAX_SAMPLES',
                    modelRpm: 'FIXWRIGHT_MODEL_RPM',
                    allowedModels: 'FIXWRIGHT_ALLOWED_MODELS',
                    editURL: 'FIXWRIGHT_EDIT_URL',
                    workerBaseURLs: 'FIXWRIGHT_WORKER_BASE_URLS',
                  } as Record<string, string>
                )[key]!
              : section === 'quickfix' && key
                ? (
                    {
                      cacheMaxEntries: 'FIXWRIGHT_EDIT_CACHE_ENTRIES',
                      cacheMaxBytes: 'FIXWRIGHT_EDIT_CACHE_BYTES',
                      cacheTtlSeconds: 'FIXWRIGHT_EDIT_CACHE_TTL',
                    } as Record<string, string>
                  )[key]!
                : section === 'localisation' && key
                  ? ({ indexCacheMb: 'FIXWRIGHT_INDEX_CACHE_MB' } as Record<string, string>)[key]!
                  : section === 'pip' && key
                    ? (
                        { indexUrl: 'FIXWRIGHT_PIP_INDEX_URL', wheelsDir: 'FIXWRIGHT_PIP_WHEELS' } as Record<
                          string,
                          string
                        >
                      )[key]!
                    : section === 'github'
                      ? 'FIXWRIGHT_GITHUB_API'
                      : section === 'logLevel'
                        ? 'FIXWRIGHT_LOG_LEVEL'
                        : String(section);
      // Always NAME: message, with the name said once when the message starts with it too.
      return `${name}: ${issue.message.startsWith(`${name} `) ? issue.message.slice(name.length + 1) : issue.message}`;
    });
    throw new FixwrightError('FW_ERR_CONFIG', `invalid settings: ${problems.join('; ')}`);
  }
  const { contextTokens, maxTokens } = parsed.data.models;
  if (contextTokens !== undefined && contextTokens < maxTokens + MIN_PROMPT_TOKENS) {
    throw new FixwrightError(
      'FW_ERR_CONFIG',
      `invalid settings: FIXWRIGHT_MODEL_CONTEXT ` +
        `(${contextTokens}) leaves no room for a prompt after the answer's FIXWRIGHT_MAX_TOKENS ` +
        `(${maxTokens}): it must be at least ${maxTokens + MIN_PROMPT_TOKENS}, or lower FIXWRIGHT_MAX_TOKENS`,
    );
  }
  return Object.freeze({
    ...parsed.data,
    sandbox: Object.freeze(parsed.data.sandbox),
    service: Object.freeze(parsed.data.service),
    quickfix: Object.freeze(parsed.data.quickfix),
    localisation: Object.freeze(parsed.data.localisation),
  });
}
