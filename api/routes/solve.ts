import { randomUUID } from 'node:crypto';
import type { FastifyError, FastifyPluginAsync } from 'fastify';
import { DEFAULT_SAMPLES, isCloneableRepoUrl, isIssueUrl } from '../../agent/index.js';
import { SAMPLES_LIMIT, FixwrightError } from '../../core/index.js';
import { replyWithError } from '../http-errors.js';
import { parseUserSpec } from '../../sandbox/index.js';
import type { AppDeps } from '../app.js';
import { serviceMetrics } from '../metrics.js';
import { checkCommit, checkRepoPath } from '../repo-roots.js';
import { Accepted, ErrorBody, SolveBody, type SolveBodyType } from '../schemas/task.js';
import { newTask, type TaskRequest } from '../task.js';

/**
 * A request for more samples than the server allows: names the server's cap (FIXWRIGHT_MAX_SAMPLES)
 * first, then the most any server allows, whichever of the two refused it.
 */
function samplesOverCap(maxSamples: number, got: unknown): FixwrightError {
  return new FixwrightError(
    'FW_ERR_BAD_INPUT',
    `samples may be at most ${maxSamples} on this server (got ${String(got)}); FIXWRIGHT_MAX_SAMPLES sets it, up to ${SAMPLES_LIMIT}`,
    { field: 'samples' },
  );
}

/** Checks what the schema cannot: one source of each kind, allowed hosts and roots, the model allow-list and the server's caps (cost, time, samples). */
function checkRequest(body: SolveBodyType, deps: AppDeps): TaskRequest {
  const { settings } = deps;
  if ((body.repo_url === undefined) === (body.repo_path === undefined)) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      'give exactly one of repo_url (https://github.com/OWNER/NAME) and repo_path (a checkout on the server)',
      { field: body.repo_url === undefined ? 'repo_url' : 'repo_path' },
    );
  }
  if ((body.issue_text === undefined) === (body.issue_url === undefined)) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      'give exactly one of issue_text and issue_url (https://github.com/OWNER/NAME/issues/N)',
      { field: body.issue_text === undefined ? 'issue_text' : 'issue_url' },
    );
  }
  if (body.repo_url !== undefined && !isCloneableRepoUrl(body.repo_url)) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `repo_url must be https://github.com/OWNER/NAME (got ${JSON.stringify(body.repo_url.slice(0, 100))}); file://, local and other hosts are refused`,
      { field: 'repo_url' },
    );
  }
  if (body.repo_path !== undefined) checkRepoPath(body.repo_path, settings.service.repoRoots);
  if (body.issue_url !== undefined && !isIssueUrl(body.issue_url)) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', 'issue_url must be https://github.com/OWNER/NAME/issues/N', {
      field: 'issue_url',
    });
  }
  if (body.issue_text !== undefined && !body.issue_text.trim())
    throw new FixwrightError('FW_ERR_BAD_INPUT', 'issue_text is blank', { field: 'issue_text' });
  if (!body.model && !settings.models.chatModel) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      'no model: pass "model", or start the server with FIXWRIGHT_MODEL set',
      { field: 'model' },
    );
  }
  const { allowedModels, maxCostUsd, maxSamples, maxSeconds } = settings.service;
  const model = body.model ?? settings.models.chatModel!;
  if (allowedModels.length > 0 && !allowedModels.includes(model)) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `model ${JSON.stringify(model)} is not allowed on this server; allowed: ${allowedModels.join(', ')}`,
      { field: 'model' },
    );
  }
  // Caps: a request may ask for less than the server allows, never more (refused, not clamped, so the caller knows).
  if (body.max_cost_usd !== undefined && body.max_cost_usd > maxCostUsd) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `max_cost_usd may be at most ${maxCostUsd} on this server (got ${body.max_cost_usd})`,
      { field: 'max_cost_usd' },
    );
  }
  if (body.max_seconds !== undefined && body.max_seconds > maxSeconds) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `max_seconds may be at most ${maxSeconds} on this server (got ${body.max_seconds})`,
      { field: 'max_seconds' },
    );
  }
  if (body.samples !== undefined && body.samples > maxSamples) {
    throw samplesOverCap(maxSamples, body.samples);
  }
  // Validated now (a bad spec is a 400 naming its fields), and again where the task runs.
  const environment =
    body.environment === undefined ? undefined : parseUserSpec(body.environment, 'environment', 'untrusted');
  return {
    ...(environment !== undefined ? { environment } : {}),
    ...(body.repo_url !== undefined ? { repo_url: body.repo_url.trim() } : { repo_path: body.repo_path! }),
    ...(body.commit !== undefined ? { commit: body.commit } : {}),
    ...(body.issue_text !== undefined ? { issue_text: body.issue_text } : { issue_url: body.issue_url!.trim() }),
    ...(body.model !== undefined ? { model: body.model } : {}),
    max_attempts: body.max_attempts ?? 3,
    samples: body.samples ?? DEFAULT_SAMPLES,
    max_cost_usd: body.max_cost_usd ?? maxCostUsd,
    max_seconds: body.max_seconds ?? maxSeconds,
  };
}

/** `POST /api/solve`: validate, store the task, queue it, answer 202 with its id. */
export const solveRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app) => {
    app.post<{ Body: SolveBodyType }>(
      '/api/solve',
      {
        schema: {
          summary: 'Submit an issue to fix',
          description: 'Stores a task and queues it. Poll GET /api/task/:id or follow WS /ws/:id.',
          tags: ['tasks'],
          body: SolveBody,
          response: { 202: Accepted, '4xx': ErrorBody },
        },
        // Above the schema's limit (MAX_SAMPLES) the schema refuses `samples` before the caps are
        // checked: say this server's cap too, as for a request between the two.
        errorHandler: (err: FastifyError, request, reply) => {
          const first = err.validation?.[0];
          const sent = (request.body as { samples?: unknown } | undefined)?.samples;
          if (first?.keyword === 'maximum' && first.instancePath === '/samples')
            return replyWithError(
              samplesOverCap(deps.settings.service.maxSamples, sent) as unknown as FastifyError,
              request,
              reply,
            );
          return replyWithError(err, request, reply);
        },
      },
      async (request, reply) => {
        const checked = checkRequest(request.body, deps);
        // A commit a local checkout lacks is refused now; one in a repo_url is checked after the clone, in the worker.
        if (checked.repo_path !== undefined && checked.commit !== undefined)
          await checkCommit(checked.repo_path, checked.commit);
        await deps.canRunTasks?.();
        const task = newTask(randomUUID(), checked);
        await deps.store.create(task);
        await deps.queue.enqueue(task.task_id);
        serviceMetrics.tasksSubmitted.inc();
        request.log.info({ task_id: task.task_id }, 'task queued');
        const id = task.task_id;
        return reply
          .status(202)
          .header('location', `/api/task/${id}`)
          .send({
            task_id: id,
            status: task.status,
            links: {
              self: `/api/task/${id}`,
              events: `/ws/${id}`,
              cancel: `/api/task/${id}/cancel`,
              patch: `/api/task/${id}/patch`,
              trajectory: `/api/task/${id}/trajectory`,
            },
          });
      },
    );
  };
