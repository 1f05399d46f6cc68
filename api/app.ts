import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { DemoTask } from '../agent/index.js';
import { type Settings, FixwrightError, type Logger } from '../core/index.js';
import { createQuickFixService, type QuickFixService } from '../quickfix/index.js';
import { RemoteEditService } from './edit-remote.js';
import { createJsonServer } from './json-server.js';
import { serviceMetrics, watchService } from './metrics.js';
import type { TaskQueue } from './queue/task-queue.js';
import { editRoutes } from './routes/edit.js';
import { healthRoutes } from './routes/health.js';
import { liveRoutes } from './routes/live.js';
import { solveRoutes } from './routes/solve.js';
import { taskRoutes } from './routes/tasks.js';
import { uiRoutes } from './routes/ui.js';
import { documentEvents } from './schemas/events.js';
import type { TaskStore } from './store/task-store.js';

/** What the routes use; wired by `fixwright serve` (or a test). */
export interface AppDeps {
  settings: Settings;
  store: TaskStore;
  queue: TaskQueue;
  logger: Logger;
  version: string;
  /**
   * Throws when this process cannot run a task now (the in-process mode without Docker), so a
   * submission is refused with the reason instead of accepted and ended in error later.
   */
  canRunTasks?: () => Promise<void>;
  /** Demo mode (`serve --demo`): the task the UI offers to submit. */
  demo?: DemoTask;
  /** Extra readiness checks (Docker, in the in-process mode). */
  checks?: Record<string, () => Promise<boolean>>;
  /** Workers connected to the queue (the Redis mode). */
  workers?: () => Promise<number>;
  /** Shares rate-limit counters across API processes. */
  redis?: Redis;
  /** Quick fixes (POST /v1/edit); built from the settings, and closed with the app, when not given. */
  quickfix?: QuickFixService;
}

const digest = (key: string) => createHash('sha256').update(key).digest();

/** Paths anyone may call: probes, docs, Prometheus. */
const PUBLIC = /^\/(healthz|readyz|metrics|docs)(\/|$|\?)/;

/** The key a request presents: `authorization: Bearer KEY`, `x-api-key`, or `?api_key=` on /ws. */
function presentedKey(headers: Record<string, string | string[] | undefined>, url: string): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  if (typeof headers['x-api-key'] === 'string') return headers['x-api-key'];
  if (url.startsWith('/ws/')) return new URL(url, 'http://x').searchParams.get('api_key') ?? undefined;
  return undefined;
}

/**
 * Builds the service (never listens: `api/server.ts` does). JSON schemas validate every body
 * strictly (no coercion, no unknown fields); one error handler answers `{code, message, field?}`.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { service } = deps.settings;
  const app = createJsonServer({ logger: deps.logger, bodyLimitBytes: service.bodyLimitBytes });

  app.addHook('onResponse', async (request, reply) => {
    serviceMetrics.httpSeconds.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  const keys = service.apiKeys.map(digest);
  const validKey = (key: string | undefined) => key !== undefined && keys.some((k) => timingSafeEqual(k, digest(key)));
  await app.register(cors, {
    origin: service.corsOrigins.length > 0 ? service.corsOrigins : false,
    methods: ['GET', 'POST'],
  });
  await app.register(rateLimit, {
    max: service.rateLimitPerMinute,
    timeWindow: 60_000,
    ...(deps.redis ? { redis: deps.redis, nameSpace: 'fixwright:ratelimit:' } : {}),
    // A valid key gets its own bucket; anything else (no key, a made-up key) counts against the IP,
    // so neither inventing keys nor guessing them escapes the limit. The limiter runs before auth.
    keyGenerator: (request) => {
      const key = presentedKey(request.headers, request.url);
      return validKey(key) ? `key:${digest(key!).toString('hex').slice(0, 16)}` : `ip:${request.ip}`;
    },
    errorResponseBuilder: (_request, context) =>
      new FixwrightError(
        'FW_ERR_RATE_LIMITED',
        `rate limit: at most ${context.max} requests a minute; try again in ${context.after}`,
      ),
  });
  if (service.apiKeys.length > 0) {
    // preParsing: after the rate limiter (a route-level onRequest hook), before the body is read.
    app.addHook('preParsing', async (request, _reply, payload) => {
      // The UI's own files are public (it asks for the key); everything under /api, /ws and /v1 is not.
      if (PUBLIC.test(request.url) || !/^\/(api|ws|v1)\//.test(request.url)) return payload;
      const presented = presentedKey(request.headers, request.url);
      if (!presented)
        throw new FixwrightError(
          'FW_ERR_UNAUTHORIZED',
          'this server needs an API key: send "authorization: Bearer KEY" (or x-api-key)',
        );
      if (!validKey(presented))
        throw new FixwrightError('FW_ERR_UNAUTHORIZED', 'the API key is not one this server accepts');
      return payload;
    });
  }

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'fixwright',
        version: deps.version,
        description: 'Submit an issue, watch the agent fix it, download the patch. Errors are {code, message, field?}.',
      },
      components: service.apiKeys.length ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } : {},
      ...(service.apiKeys.length ? { security: [{ bearer: [] }] } : {}),
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // @fastify/websocket hides its routes from the spec, and event answers are sent as stored (no
    // serializer): the live feed and the event schemas are added to the document here.
    transformSpecification: (spec) => documentEvents(spec),
  });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });

  watchService({ queue: () => deps.queue.counts(), tasks: () => deps.store.countByStatus() });
  await app.register(healthRoutes(deps));
  await app.register(solveRoutes(deps));
  await app.register(taskRoutes(deps));
  await app.register(liveRoutes(deps));
  await app.register(uiRoutes(deps));
  if (service.editURL && !deps.quickfix) {
    // This process has no Docker (the compose API): a worker's --edit-port answers the quick fixes.
    await app.register(
      editRoutes(new RemoteEditService(service.editURL, (2 * deps.settings.models.requestTimeoutSeconds + 30) * 1000)),
    );
    return app;
  }
  // Demo mode: the scripted model knows only the demo's solve script, so quick fixes use the rule tier alone.
  const quickfix =
    deps.quickfix ??
    createQuickFixService(deps.settings, {
      logger: deps.logger,
      ...(deps.redis ? { redis: deps.redis } : {}),
      ...(deps.demo ? { tiers: ['rule'] as const } : {}),
    });
  // preClose, not onClose: onClose runs after the server has stopped, and a connection that never
  // ends (a client that keeps its socket) holds that forever, with the analysis container still up.
  if (!deps.quickfix) app.addHook('preClose', () => quickfix.close());
  await app.register(editRoutes(quickfix));
  return app;
}
