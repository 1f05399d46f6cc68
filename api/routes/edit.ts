import type { FastifyPluginAsync } from 'fastify';
import type { EditAnswerer } from '../edit-remote.js';
import { EditAnswer, EditBody, type EditBodyType } from '../schemas/edit.js';
import { ErrorBody } from '../schemas/task.js';

/** `POST /v1/edit`: verified, minimal edits for an editor's snippet and diagnostics (rule tier, then model tier). */
export const editRoutes =
  (quickfix: EditAnswerer): FastifyPluginAsync =>
  async (app) => {
    app.post<{ Body: EditBodyType }>(
      '/v1/edit',
      {
        schema: {
          summary: 'Quick fix: verified line edits for a snippet',
          description:
            'Answers from the cache, else the model-free rule tier, else the model tier (line-range ' +
            'DSL, one repair round). Every edit is verified before it is returned: it applies, parses (tree-sitter) and pyflakes reports nothing new.',
          tags: ['edit'],
          body: EditBody,
          response: { 200: EditAnswer, '4xx': ErrorBody },
        },
      },
      async (request) => quickfix.edit({ ...request.body, diagnostics: request.body.diagnostics ?? [] }),
    );
  };
