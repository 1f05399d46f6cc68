import type { FastifyPluginAsync } from 'fastify';
import { FixwrightError } from '../../core/index.js';
import type { AppDeps } from '../app.js';
import { serviceMetrics } from '../metrics.js';
import { AfterQuery, TaskIdParams, type AfterQueryType, type TaskIdParamsType } from '../schemas/task.js';
import { isFinalEvent, TERMINAL_STATUSES } from '../task.js';

/** A client this far behind (bytes queued) is cut off rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 32 << 20;

/**
 * `WS /ws/:id?after=SEQ`: replays the task's events after SEQ, streams live ones, and closes
 * (1000) after `done` or `error`. An unknown task is a plain 404 before the upgrade.
 */
export const liveRoutes =
  (deps: AppDeps): FastifyPluginAsync =>
  async (app) => {
    app.get<{ Params: TaskIdParamsType; Querystring: AfterQueryType }>(
      '/ws/:id',
      {
        websocket: true,
        schema: {
          summary: 'Live events (WebSocket): replay after ?after=SEQ, then live, closed after done/error',
          tags: ['tasks'],
          params: TaskIdParams,
          querystring: AfterQuery,
        },
        preValidation: async (request) => {
          const { id } = request.params as TaskIdParamsType;
          if (!(await deps.store.get(id)))
            throw new FixwrightError('FW_ERR_NOT_FOUND', `no task ${id}`, { field: 'id' });
        },
      },
      async (socket, request) => {
        serviceMetrics.wsClients.inc();
        let stop: (() => void) | undefined;
        let closed = false;
        const heartbeat = setInterval(() => socket.ping(), 30_000).unref();
        socket.on('close', () => {
          closed = true;
          clearInterval(heartbeat);
          stop?.();
          serviceMetrics.wsClients.dec();
        });
        try {
          const unsubscribe = await deps.store.follow(request.params.id, request.query.after ?? 0, (event) => {
            if (closed) return;
            if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
              socket.close(1013, 'too far behind; reconnect with ?after=');
              return;
            }
            socket.send(JSON.stringify(event));
            if (isFinalEvent(event)) socket.close(1000, 'done');
          });
          if (closed) unsubscribe();
          else stop = unsubscribe;
          // An ended task with nothing after `after`: no final event will come, so close now.
          const task = await deps.store.get(request.params.id);
          if (
            !closed &&
            task &&
            TERMINAL_STATUSES.includes(task.status) &&
            (request.query.after ?? 0) >= (await deps.store.lastSeq(task.task_id))
          )
            socket.close(1000, 'done');
        } catch (err) {
          request.log.error({ err }, 'could not follow a task');
          socket.close(1011, 'could not read the task');
        }
      },
    );
  };
