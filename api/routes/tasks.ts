import type { FastifyPluginAsync } from 'fastify';
import { FixwrightError } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { endTask } from '../run-task.js';
import { decodeCursor } from '../store/task-store.js';
import { issueTitle } from '../../localisation/index.js';
import {
  AfterQuery,
  ErrorBody,
  ListQuery,
  TaskIdParams,
  type AfterQueryType,
  type ListQueryType,
  type TaskIdParamsType,
} from '../schemas/task.js';
import { TERMINAL_STATUSES, type TaskRecord } from '../task.js';

/** A cancelled task was stopped, not judged; tasks stored before the summary knew that say `failed`. */
const verdictOf = (task: TaskRecord) => (task.status === 'cancelled' ? null : task.summary.verdict);

/** The full task as `GET /api/task/:id` shows it. */
export function taskView(task: TaskRecord) {
  const { summary, ...rest } = task;
  const end = task.finished_at ? Date.parse(task.finished_at) : Date.now();
  return {
    ...rest,
    verdict: verdictOf(task),
    stopped_by: summary.stopped_by,
    stop_message: summary.stop_message,
    environment: summary.environment,
    baseline: summary.baseline,
    duration_ms: task.started_at ? end - Date.parse(task.started_at) : null,
    localised_files: summary.localised_files,
    set_size: summary.set_size,
    coverage: summary.coverage,
    attempts: summary.attempts,
    final_patch: summary.final_patch,
    tokens: summary.tokens,
    cost_usd: summary.cost_usd,
    // cost_usd counts priced calls only; these calls' cost is unknown (shown as "unpriced", not $0).
    unpriced_calls: summary.unpriced_calls ?? 0,
    last_seq: summary.last_seq,
  };
}

/** One line of `GET /api/tasks`: enough to list, not the attempts. */
export function taskListItem(task: TaskRecord) {
  const issue = task.request.issue_text ?? task.request.issue_url ?? '';
  return {
    task_id: task.task_id,
    status: task.status,
    verdict: verdictOf(task),
    created_at: task.created_at,
    finished_at: task.finished_at,
    repo: task.request.repo_url ?? task.request.repo_path,
    issue_title: issueTitle(issue).slice(0, 200),
    attempts: task.summary.attempts.length,
    tokens: task.summary.tokens,
    cost_usd: task.summary.cost_usd,
    unpriced_calls: task.summary.unpriced_calls ?? 0,
  };
}

async function mustGet(deps: AppDeps, id: string): Promise<TaskRecord> {
  const task = await deps.store.get(id);
  if (!task) throw new FixwrightError('FW_ERR_NOT_FOUND', `no task ${id}`, { field: 'id' });
  return task;
}

const TaskView = {
  type: 'object',
  additionalProperties: true,
  description:
    "status, timestamps, localised files with the conformal set, attempts (the chosen candidate's " +
    'diff, apply, tests, failure: null when it passed, score; reflection; candidates with their ' +
    'ratings, diffs and tests; selection: winner, reason, judge tests), final patch, tokens, cost (priced calls) and unpriced_calls',
} as const;

/** Reading, listing and cancelling tasks; the patch and the trajectory as downloads. */
export const taskRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app) => {
    app.get<{ Params: TaskIdParamsType }>(
      '/api/task/:id',
      {
        schema: {
          summary: 'A task: status, files, attempts, patch, cost',
          tags: ['tasks'],
          params: TaskIdParams,
          response: { 200: TaskView, '4xx': ErrorBody },
        },
      },
      async (request) => taskView(await mustGet(deps, request.params.id)),
    );

    app.get<{ Querystring: ListQueryType }>(
      '/api/tasks',
      {
        schema: {
          summary: 'Tasks, newest first, a page at a time',
          tags: ['tasks'],
          querystring: ListQuery,
          response: { '4xx': ErrorBody },
        },
      },
      async (request) => {
        const { status, cursor, limit = 50 } = request.query;
        if (cursor !== undefined && !decodeCursor(cursor))
          throw new FixwrightError('FW_ERR_BAD_INPUT', 'cursor is not one this server gave out', { field: 'cursor' });
        const page = await deps.store.list({ status, cursor, limit });
        return { tasks: page.tasks.map(taskListItem), next_cursor: page.next_cursor };
      },
    );

    app.post<{ Params: TaskIdParamsType }>(
      '/api/task/:id/cancel',
      {
        schema: {
          summary: 'Cancel a queued or running task',
          tags: ['tasks'],
          params: TaskIdParams,
          response: { '4xx': ErrorBody },
        },
      },
      async (request, reply) => {
        const task = await mustGet(deps, request.params.id);
        if (TERMINAL_STATUSES.includes(task.status))
          throw new FixwrightError('FW_ERR_CONFLICT', `task ${task.task_id} already ended (${task.status})`, {
            field: 'id',
          });
        await deps.store.change(task.task_id, { from: ['queued', 'running'], set: { cancel_requested: true } });
        const outcome = await deps.queue.cancel(task.task_id);
        // A task taken off the queue has no run to record its end, so the API does.
        if (outcome === 'removed') await endTask(deps.store, task.task_id, 'cancelled', 'cancelled before it started');
        const now = await mustGet(deps, task.task_id);
        return reply.status(202).send({
          task_id: now.task_id,
          status: now.status,
          cancel: outcome === 'removed' ? 'cancelled' : 'requested',
        });
      },
    );

    app.get<{ Params: TaskIdParamsType }>(
      '/api/task/:id/patch',
      { schema: { summary: 'The final patch as a file', tags: ['tasks'], params: TaskIdParams } },
      async (request, reply) => {
        const task = await mustGet(deps, request.params.id);
        return reply
          .header('content-type', 'text/x-diff; charset=utf-8')
          .header('content-disposition', `attachment; filename="${task.task_id}.diff"`)
          .send(task.summary.final_patch);
      },
    );

    app.get<{ Params: TaskIdParamsType }>(
      '/api/task/:id/trajectory',
      { schema: { summary: 'The whole event log as JSON lines', tags: ['tasks'], params: TaskIdParams } },
      async (request, reply) => {
        const task = await mustGet(deps, request.params.id);
        const events = await deps.store.events(task.task_id, 0);
        return reply
          .header('content-type', 'application/x-ndjson; charset=utf-8')
          .header('content-disposition', `attachment; filename="${task.task_id}.trajectory.jsonl"`)
          .send(events.map((e) => JSON.stringify(e)).join('\n') + (events.length ? '\n' : ''));
      },
    );

    app.get<{ Params: TaskIdParamsType; Querystring: AfterQueryType }>(
      '/api/task/:id/events',
      {
        schema: {
          summary: 'Events after a seq (for polling instead of the WebSocket)',
          tags: ['tasks'],
          params: TaskIdParams,
          querystring: AfterQuery,
        },
      },
      async (request) => {
        const task = await mustGet(deps, request.params.id);
        return { events: await deps.store.events(task.task_id, request.query.after ?? 0, 1000) };
      },
    );
  };
