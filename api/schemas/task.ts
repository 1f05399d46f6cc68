import { Type, type Static } from 'typebox';
import { SAMPLES_LIMIT } from '../../core/index.js';
import { TASK_STATUSES, type TaskStatus } from '../task.js';

/** The error body of every 4xx and 5xx answer. */
export const ErrorBody = Type.Object(
  {
    code: Type.String({ description: 'stable error code, FW_ERR_…' }),
    message: Type.String({ description: 'what went wrong and what to do' }),
    field: Type.Optional(Type.String({ description: 'JSON path of the bad input' })),
  },
  { $id: 'ErrorBody' },
);

/** `POST /api/solve`'s body: one repository source and one issue source. */
export const SolveBody = Type.Object(
  {
    repo_url: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 500,
        description: 'https://github.com/OWNER/NAME (cloned by the worker)',
      }),
    ),
    repo_path: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4096,
        description: 'a checkout on the server, under FIXWRIGHT_REPO_ROOTS',
      }),
    ),
    commit: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9._/][A-Za-z0-9._/~^-]{0,199}$',
        description: 'work on this commit (read from git objects)',
      }),
    ),
    issue_text: Type.Optional(Type.String({ minLength: 1, maxLength: 200_000 })),
    issue_url: Type.Optional(
      Type.String({ minLength: 1, maxLength: 500, description: 'https://github.com/OWNER/NAME/issues/N' }),
    ),
    model: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9._:/@+-]{1,200}$', description: 'chat model (default: FIXWRIGHT_MODEL)' }),
    ),
    max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10, default: 3 })),
    samples: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: SAMPLES_LIMIT,
        default: 1,
        description:
          "candidate fixes per attempt, each one more model call; the reproduction tests pick one. At most the server's FIXWRIGHT_MAX_SAMPLES (default 4)",
      }),
    ),
    max_cost_usd: Type.Optional(
      Type.Number({
        minimum: 0,
        description:
          "spending cap in USD (priced models); at most the server's FIXWRIGHT_MAX_COST_USD, which is also the default",
      }),
    ),
    environment: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description:
          "the project's environment spec (python, packages, apt, pip, pythonpath, test_command, " +
          'test_env, parser, imports; no base image or build commands over the API); default: ' +
          '.fixwright/environment.yml in the repository, else inferred from its files',
      }),
    ),
    max_seconds: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        description:
          "wall-time cap in seconds (no new model call after it); at most the server's FIXWRIGHT_MAX_SECONDS, which is also the default",
      }),
    ),
  },
  { additionalProperties: false },
);
export type SolveBodyType = Static<typeof SolveBody>;

export const TaskIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
export type TaskIdParamsType = Static<typeof TaskIdParams>;

/** A task status; an `enum` (not a union of constants) so a bad value's error can list the valid ones. */
export const StatusEnum = Type.Unsafe<TaskStatus>({ type: 'string', enum: [...TASK_STATUSES] });

export const ListQuery = Type.Object(
  {
    status: Type.Optional(StatusEnum),
    cursor: Type.Optional(Type.String({ maxLength: 400 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  },
  { additionalProperties: false },
);
export type ListQueryType = Static<typeof ListQuery>;

export const AfterQuery = Type.Object(
  {
    after: Type.Optional(Type.Integer({ minimum: 0, default: 0, description: 'only events with a greater seq' })),
    api_key: Type.Optional(Type.String({ description: 'for browsers, which cannot set headers on a WebSocket' })),
  },
  { additionalProperties: false },
);
export type AfterQueryType = Static<typeof AfterQuery>;

export const Accepted = Type.Object({
  task_id: Type.String(),
  status: StatusEnum,
  links: Type.Record(Type.String(), Type.String()),
});
