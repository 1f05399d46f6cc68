import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { DEFAULT_SAMPLES } from '../../agent/index.js';
import { assetPath } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { ErrorBody } from '../schemas/task.js';

/** Where `npm run build` puts the bundled web UI. */
export const WEB_DIR = assetPath('dist/web');

/** The web UI at `/` (bundled, no internet needed) and what it needs to know of the server. */
export const uiRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app) => {
    app.get(
      '/api/config',
      {
        schema: {
          summary:
            'What this server allows: default model, repository roots, attempts, candidates per ' +
            'attempt, cost and time caps, models; the demo task in demo mode',
          tags: ['service'],
          response: { '4xx': ErrorBody },
        },
      },
      async () => ({
        version: deps.version,
        default_model: deps.settings.models.chatModel ?? null,
        repo_path_allowed: deps.settings.service.repoRoots.length > 0,
        repo_roots: deps.settings.service.repoRoots,
        max_attempts: { min: 1, max: 10, default: 3 },
        // Candidate fixes per attempt a request may ask for (`samples`): at most FIXWRIGHT_MAX_SAMPLES.
        samples: { min: 1, max: deps.settings.service.maxSamples, default: DEFAULT_SAMPLES },
        // Every task is bounded by these; a request may ask for less (max_cost_usd, max_seconds).
        limits: {
          max_cost_usd: deps.settings.service.maxCostUsd,
          max_seconds: deps.settings.service.maxSeconds,
          allowed_models: deps.settings.service.allowedModels,
        },
        queue: deps.queue.kind,
        // Demo mode: what the UI's "Run the demo" button submits (the bundled repository, issue and scripted model).
        demo: deps.demo ?? null,
      }),
    );

    if (existsSync(`${WEB_DIR}/index.html`)) {
      await app.register(fastifyStatic, {
        root: WEB_DIR,
        prefix: '/',
        index: ['index.html'],
        wildcard: false,
        cacheControl: true,
        maxAge: 0,
      });
    } else {
      app.get('/', { schema: { hide: true } }, async (_request, reply) =>
        reply
          .type('text/plain; charset=utf-8')
          .send('The web UI is not built: run `npm run build`. The API is up; its docs are at /docs.\n'),
      );
    }
  };
