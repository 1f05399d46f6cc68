import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { contextBudgetChars } from '../../agent/context-budget.js';
import { loadSettings } from '../../core/config.js';
import { runCli } from '../helpers/cli.js';

// The deployment files, checked statically: Docker Compose cannot run here (no registry to pull
// from), so these tests hold the compose file and the Dockerfile to what the code actually accepts.
const ROOT = join(import.meta.dirname, '..', '..');
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

interface Healthcheck {
  test: string[];
}
interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition?: string }>;
  profiles?: string[];
  healthcheck?: Healthcheck;
  deploy?: {
    resources?: {
      reservations?: { devices?: Array<{ driver?: string; count?: number | string; capabilities?: string[] }> };
    };
  };
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

// Compose resolves `<<` merge keys (YAML 1.1); the yaml package does so only when asked.
const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
const service = (name: string): Service => {
  const s = compose.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};

/**
 * Compose's variable interpolation, for the forms this file may use: `${NAME:-default}` and
 * `${NAME}` (any other `$` use fails the test rather than being misread).
 */
function interpolate(value: string, shell: Record<string, string> = {}): string {
  const out = value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (_, name: string, fallback?: string) => shell[name] || (fallback ?? ''),
  );
  if (out.includes('$')) throw new Error(`unsupported interpolation in ${JSON.stringify(value)}`);
  return out;
}

/** A service's environment as its process sees it, with nothing set in the shell (every default). */
function environmentOf(name: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service(name).environment ?? {}).map(([k, v]) => [k, interpolate(String(v ?? ''))]),
  );
}

/** `SOURCE:TARGET[:MODE]` volume entries, interpolated. */
function mountsOf(name: string): Array<{ source: string; target: string; mode?: string }> {
  return (service(name).volumes ?? []).map((entry) => {
    const [source, target, mode] = interpolate(entry).split(':') as [string, string, string | undefined];
    return { source, target, mode };
  });
}

/** The flags a command passes (`--flag`, or `--flag=value`). */
const flagsOf = (command: string[]) => command.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0]!);
const valueOf = (command: string[], flag: string) => command[command.indexOf(flag) + 1];

/** The Dockerfile's instructions: continuation lines joined, comments dropped. */
function dockerfileInstructions(): Array<{ op: string; args: string }> {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  return lines.map((line) => {
    const [op, ...rest] = line.split(/\s+/);
    return { op: op!.toUpperCase(), args: rest.join(' ') };
  });
}

const CLI = join(ROOT, 'dist', 'cli', 'main.js');

describe('docker-compose.yml', () => {
  it('has redis, api and worker; redis is healthchecked and api and worker wait for it', () => {
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(['redis', 'api', 'worker']));
    expect(service('redis').image).toMatch(/^redis:7/);
    expect(service('redis').healthcheck?.test.join(' ')).toContain('redis-cli ping');
    for (const name of ['api', 'worker']) {
      expect(service(name).depends_on?.redis?.condition, name).toBe('service_healthy');
      expect(service(name).build, `${name} builds the repository's Dockerfile`).toBe('.');
    }
    expect(service('worker').image).toBe(service('api').image);
  });

  it('gives the worker the Docker socket and the API none', () => {
    const socket = (m: { source: string; target: string }) =>
      m.source.includes('docker.sock') || m.target.includes('docker.sock');
    expect(mountsOf('api').filter(socket)).toEqual([]);
    expect(JSON.stringify(service('api'))).not.toContain('docker.sock');
    expect(mountsOf('worker').filter(socket)).toEqual([
      { source: '/var/run/docker.sock', target: '/var/run/docker.sock', mode: undefined },
    ]);
    // DOCKER_HOST, where set, names the socket that is mounted.
    expect(environmentOf('worker').DOCKER_HOST ?? 'unix:///var/run/docker.sock').toBe('unix:///var/run/docker.sock');
    expect(environmentOf('api').DOCKER_HOST).toBeUndefined();
  });

  it('points api and worker at the redis service', () => {
    for (const name of ['api', 'worker']) {
      const url = new URL(environmentOf(name).REDIS_URL ?? '');
      expect(url.protocol, name).toBe('redis:');
      expect(url.hostname, name).toBe('redis');
      expect(url.port || '6379', name).toBe('6379');
    }
  });

  it(
    "REDIS_PASSWORD is Redis's --requirepass and goes into the REDIS_URL of api and worker; Redis " +
      'publishes no port unless docker-compose.queue.yml asks, with a password',
    () => {
      const redis = service('redis') as {
        command?: string[];
        environment?: Record<string, string>;
        ports?: string[];
        healthcheck?: { test: string[] };
      };
      expect(redis.command?.join(' ')).toMatch(
        /redis-server .*\$\$\{REDIS_PASSWORD:\+--requirepass "\$\$REDIS_PASSWORD"\}/,
      );
      expect(redis.healthcheck?.test.join(' ')).toContain('REDISCLI_AUTH="$$REDIS_PASSWORD"');
      expect(interpolate(redis.environment?.REDIS_PASSWORD ?? '', { REDIS_PASSWORD: 's3cret' })).toBe('s3cret');
      expect(redis.ports).toBeUndefined();
      for (const name of ['api', 'worker']) {
        expect(interpolate(String(service(name).environment?.REDIS_URL), { REDIS_PASSWORD: 's3cret' }), name).toBe(
          'redis://:s3cret@redis:6379',
        );
      }
      const published = parse(read('docker-compose.queue.yml')) as {
        services: { redis: { ports: string[]; environment: Record<string, string> } };
      };
      expect(published.services.redis.ports).toEqual(['${REDIS_PUBLISH:-0.0.0.0:6379}:6379']);
      expect(published.services.redis.environment.REDIS_PASSWORD).toMatch(/^\$\{REDIS_PASSWORD:\?/);
    },
  );

  it('passes only variables that core/config.ts reads, and its defaults are valid settings', () => {
    const configSource = read('core/config.ts');
    for (const name of ['api', 'worker']) {
      const env = environmentOf(name);
      for (const key of Object.keys(env))
        expect(configSource, `${name}: ${key} is not read by core/config.ts`).toMatch(new RegExp(`\\b${key}\\b`));
      const settings = loadSettings(env);
      // No REDIS_PASSWORD: an empty password, which ioredis does not send.
      expect(settings.service.redisURL).toBe('redis://:@redis:6379');
      expect(settings.dataDir).toBe('/data');
    }
  });

  it('shares the data volume, and mounts the repository roots in both api and worker', () => {
    for (const name of ['api', 'worker']) {
      const env = environmentOf(name);
      const mounts = mountsOf(name);
      const data = mounts.find((m) => m.target === env.FIXWRIGHT_DATA_DIR);
      expect(data, `${name} mounts its data dir`).toBeDefined();
      expect(Object.keys(compose.volumes ?? {}), `${data!.source} is a named volume`).toContain(data!.source);
      const roots = loadSettings(env).service.repoRoots;
      expect(roots.length, name).toBeGreaterThan(0);
      // The API checks that a repo_path exists; the worker reads it: both need every root mounted.
      for (const root of roots)
        expect(
          mounts.some((m) => root === m.target || root.startsWith(`${m.target}/`)),
          `${name} mounts ${root}`,
        ).toBe(true);
    }
    expect(mountsOf('api').find((m) => m.target === '/data')?.source).toBe(
      mountsOf('worker').find((m) => m.target === '/data')?.source,
    );
  });

  it('publishes the API on loopback at the port serve listens on, and checks the worker where it serves metrics', () => {
    const api = service('api').command!;
    expect(service('api').ports).toEqual([`127.0.0.1:${valueOf(api, '--port')}:${valueOf(api, '--port')}`]);
    expect(valueOf(api, '--host')).toBe('0.0.0.0');
    const worker = service('worker').command!;
    expect(service('worker').ports ?? []).toEqual([]);
    expect(service('worker').healthcheck?.test.join(' ')).toContain(
      `127.0.0.1:${valueOf(worker, '--metrics-port')}/metrics`,
    );
    expect(['0.0.0.0', '127.0.0.1']).toContain(valueOf(worker, '--metrics-host'));
  });

  it("hands quick fixes from the api (no Docker) to a worker's --edit-port on the compose network", () => {
    const worker = service('worker').command!;
    const url = new URL(environmentOf('api').FIXWRIGHT_EDIT_URL ?? '');
    expect(url.hostname).toBe('worker');
    expect(url.port).toBe(valueOf(worker, '--edit-port'));
    expect(valueOf(worker, '--edit-host')).toBe('0.0.0.0');
    expect(JSON.stringify(service('worker').ports ?? [])).not.toContain(url.port); // never published
    expect(loadSettings(environmentOf('api')).service.editURL).toBe('http://worker:9200');
  });

  it("its start command names the Docker socket's group, which the worker joins", () => {
    const start = read('docker-compose.yml')
      .split('\n')
      .find((l) => /^#\s.*docker compose up -d --build/.test(l));
    expect(start).toMatch(/DOCKER_GID=\$\(stat -c %g \/var\/run\/docker\.sock\) docker compose up/);
    expect(JSON.stringify((service('worker') as { group_add?: string[] }).group_add)).toContain('${DOCKER_GID');
  });

  it("tells fixwright the local model's context window, and prompt plus answer fit in it", () => {
    const window = Number(valueOf(service('vllm').command!, '--max-model-len'));
    expect(read('docker-compose.yml')).toContain(`FIXWRIGHT_MODEL_CONTEXT=${window}`);
    const settings = loadSettings({ ...environmentOf('api'), FIXWRIGHT_MODEL_CONTEXT: String(window) });
    const issue = 'x'.repeat(6000);
    // Code at the budget's cautious 3 characters a token, the issue, 4096 for instructions and feedback, the answer.
    const promptTokens = contextBudgetChars(settings.models, issue) / 3 + issue.length / 3 + 4096;
    expect(promptTokens + settings.models.maxTokens).toBeLessThanOrEqual(window);
    expect(contextBudgetChars(settings.models, issue)).toBeGreaterThan(10_000);
  });

  it('runs vllm only in the gpu profile, with an NVIDIA GPU reserved', () => {
    const vllm = service('vllm');
    expect(vllm.profiles).toEqual(['gpu']);
    expect(vllm.image).toMatch(/^vllm\/vllm-openai(:|$)/);
    expect(vllm.command).toEqual(expect.arrayContaining(['--model', 'deepseek-ai/deepseek-coder-6.7b-instruct']));
    expect(valueOf(vllm.command!, '--port')).toBe('8000');
    expect(vllm.deploy?.resources?.reservations?.devices).toEqual([
      { driver: 'nvidia', count: 1, capabilities: ['gpu'] },
    ]);
    // Every other service runs without the profile, so none may depend on it.
    for (const [name, s] of Object.entries(compose.services)) {
      if (name === 'vllm') continue;
      expect(s.profiles, name).toBeUndefined();
      expect(Object.keys(s.depends_on ?? {}), name).not.toContain('vllm');
    }
    // The comment tells how to point api and worker at it.
    expect(read('docker-compose.yml')).toContain('OPENAI_BASE_URL=http://vllm:8000/v1');
  });
});

describe('the commands compose and the Dockerfile run exist in the built CLI', () => {
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${relative(ROOT, CLI)} is missing: run npm run build first`);
  });

  const dockerCmd = () =>
    JSON.parse(
      dockerfileInstructions()
        .filter((i) => i.op === 'CMD')
        .at(-1)!.args,
    ) as string[];
  const commands: Array<[string, () => string[]]> = [
    ['api', () => service('api').command!],
    ['worker', () => service('worker').command!],
    ['the Dockerfile CMD', dockerCmd],
  ];

  it.each(commands)('%s names a real subcommand and only flags it accepts', async (_, command) => {
    const args = command();
    expect(Array.isArray(args), 'command is an exec-form list').toBe(true);
    const [subcommand] = args;
    expect(subcommand).toMatch(/^[a-z]+$/);
    const help = await runCli([subcommand!, '--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain(`Usage: fixwright ${subcommand}`);
    for (const flag of flagsOf(args))
      expect(help.stdout, `${subcommand} --help lists ${flag}`).toMatch(new RegExp(`(^|[\\s,])${flag}[\\s=<]`, 'm'));
  });

  it('the sandbox build the compose file tells operators to run exists too', async () => {
    const help = await runCli(['sandbox', 'build', '--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain('--method');
    expect(read('docker-compose.yml')).toContain('worker sandbox build --method dockerfile');
  });
});

describe('Dockerfile', () => {
  const instructions = dockerfileInstructions();
  const stages = instructions.filter((i) => i.op === 'FROM');
  const lastFrom = instructions.lastIndexOf(stages.at(-1)!);
  const runtime = instructions.slice(lastFrom);

  it('builds in stages from node:20-bookworm-slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const arg = instructions.find((i) => i.op === 'ARG' && i.args.startsWith('NODE_IMAGE='));
    for (const from of stages)
      expect(from.args.split(/\s+/)[0]!.replace('${NODE_IMAGE}', arg?.args.split('=')[1] ?? '')).toBe(
        'node:20-bookworm-slim',
      );
    const build = instructions
      .slice(0, lastFrom)
      .map((i) => i.args)
      .join('\n');
    expect(build).toContain('scripts/build-faiss-node.sh');
    expect(build).toContain('npm run build');
    expect(build).toMatch(/npm prune --omit=dev/);
  });

  it('documents a docker run line that gives the single-process API the Docker socket and its group', () => {
    // Comment lines joined across the shell's line continuations.
    const text = read('Dockerfile')
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .map((l) => l.replace(/^#\s?/, ''))
      .join('\n')
      .replace(/\\\n\s*/g, ' ');
    const run = text.split('\n').find((l) => /^\s*docker run /.test(l));
    expect(run).toBeDefined();
    expect(run).toContain('-v /var/run/docker.sock:/var/run/docker.sock');
    expect(run).toMatch(/--group-add "\$\(stat -c %g \/var\/run\/docker\.sock\)"/);
    expect(run).toMatch(/-p 127\.0\.0\.1:8080:8080/);
  });

  it('runs dist/cli/main.js as a non-root user, with a /healthz healthcheck', () => {
    const user = runtime.filter((i) => i.op === 'USER').at(-1)?.args;
    expect(user, 'the final stage sets USER').toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
    const entrypoint = runtime.find((i) => i.op === 'ENTRYPOINT');
    expect(JSON.parse(entrypoint!.args)).toEqual(['node', 'dist/cli/main.js']);
    const healthcheck = runtime.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
    expect(healthcheck).toContain('/healthz');
    // The image has no curl: the check must use node.
    expect(healthcheck).toMatch(/CMD \["node"/);
    const cmd = JSON.parse(runtime.filter((i) => i.op === 'CMD').at(-1)!.args) as string[];
    expect(healthcheck).toContain(`127.0.0.1:${valueOf(cmd, '--port')}/healthz`);
  });

  it('copies every file fixwright reads at run time into the final stage', () => {
    // assetPath('...') literals anywhere in the shipped sources.
    const walk = (dir: string): string[] =>
      readdirSync(join(ROOT, dir)).flatMap((entry) => {
        const path = join(dir, entry);
        return statSync(join(ROOT, path)).isDirectory() ? walk(path) : path.endsWith('.ts') ? [path] : [];
      });
    const sources = ['agent', 'api', 'benchmarks', 'cli', 'core', 'localisation', 'sandbox', 'uncertainty'].flatMap(
      walk,
    );
    const assets = new Set(
      sources.flatMap((file) => [...read(file).matchAll(/assetPath\('([^']+)'\)/g)].map((m) => m[1]!)),
    );
    expect(assets.size).toBeGreaterThan(0);
    const copied = runtime
      .filter((i) => i.op === 'COPY')
      .map((i) => i.args.split(/\s+/).at(-1)!.replace(/^\.\//, '').replace(/\/$/, ''));
    for (const asset of assets) {
      expect(existsSync(join(ROOT, asset)), `${asset} exists in the repository`).toBe(true);
      expect(
        copied.some((dest) => asset === dest || asset.startsWith(`${dest}/`)),
        `${asset} is copied into the runtime stage`,
      ).toBe(true);
    }
    expect(copied).toEqual(expect.arrayContaining(['dist', 'node_modules', 'package.json']));
  });

  it('.dockerignore keeps host builds and data out, but not what the build copies', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git', 'fixwright-out']));
    for (const needed of ['package.json', 'package-lock.json', 'scripts', 'tsconfig.json', 'sandbox', 'uncertainty'])
      expect(ignored, needed).not.toContain(needed);
  });
});
