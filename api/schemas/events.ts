import { EVENT_TYPES, EventPayloads, EventRecordSchema, type EventType } from '../../events/index.js';

// The event log in the OpenAPI document: one component per event type and its payload, and the
// answers that carry events (GET /api/task/:id/events, the messages of WS /ws/:id) pointing at
// them. Documentation only: the routes send events as stored, so no serializer may reorder or drop
// their fields.

type Json = Record<string, unknown>;

const isNull = (schema: unknown) => (schema as Json | undefined)?.type === 'null';

/**
 * A TypeBox schema as OpenAPI 3.0 reads it: `const` as a one-value enum, a string-keyed record as
 * additionalProperties, and `X or null` as X with `nullable` (3.0 has no null type).
 */
function toOpenApi(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toOpenApi);
  if (!schema || typeof schema !== 'object') return schema;
  const { anyOf, ...rest } = schema as Json;
  if (Array.isArray(anyOf) && anyOf.some(isNull)) {
    const others = anyOf.filter((s) => !isNull(s));
    const base = others.length === 1 ? (others[0] as Json) : { anyOf: others };
    return toOpenApi({ ...rest, ...base, nullable: true });
  }
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'const') out.enum = [value];
    else if (key === 'patternProperties') {
      const any = (value as Json)['^.*$'] as Json | undefined;
      out.additionalProperties = any && Object.keys(any).length > 0 ? toOpenApi(any) : true;
    } else out[key] = toOpenApi(value);
  }
  return out;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const eventName = (type: EventType) => `Event_${type}`;
const dataName = (type: EventType) => `EventData_${type}`;

/** `components.schemas` entries: `AgentEvent` (any event), `Event_<type>` and `EventData_<type>` for each type. */
export const EVENT_COMPONENTS: Record<string, unknown> = Object.fromEntries([
  [
    'AgentEvent',
    {
      description:
        'One event of the log: one line of a trajectory, one WebSocket message. `seq` counts from 1 per task ' +
        'with no gaps, also across retries; `type` says which payload `data` is. Records stored by an older ' +
        'fixwright may lack fields added since.',
      oneOf: EVENT_TYPES.map((t) => ref(eventName(t))),
      discriminator: {
        propertyName: 'type',
        mapping: Object.fromEntries(EVENT_TYPES.map((t) => [t, `#/components/schemas/${eventName(t)}`])),
      },
    },
  ],
  ...EVENT_TYPES.flatMap((type) => [
    [
      eventName(type),
      {
        type: 'object',
        required: ['task_id', 'seq', 'ts', 'type', 'data'],
        properties: {
          ...(toOpenApi(EventRecordSchema.properties) as Json),
          type: { type: 'string', enum: [type] },
          data: ref(dataName(type)),
        },
      },
    ],
    [dataName(type), toOpenApi(EventPayloads[type])],
  ]),
]);

/** The 200 answer of `GET /api/task/:id/events`. */
const EVENTS_PAGE_DOC = {
  description: 'Up to 1000 events after `after`, in seq order',
  content: {
    'application/json': {
      schema: {
        type: 'object',
        required: ['events'],
        properties: { events: { type: 'array', items: ref('AgentEvent') } },
      },
    },
  },
};

/** `WS /ws/:id`, which @fastify/websocket leaves out of the generated document. */
const LIVE_FEED_DOC = {
  get: {
    tags: ['tasks'],
    summary: 'Live events (WebSocket upgrade)',
    description:
      "Replays the task's events with seq > after, then streams live ones, then closes (1000) after a `done` or " +
      '`error` event. Each message is one event {task_id, seq, ts, type, data} (components.schemas.AgentEvent, ' +
      'one schema per type). Browsers pass the API key as ?api_key=.',
    parameters: [
      { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
      { name: 'after', in: 'query', required: false, schema: { type: 'integer', minimum: 0, default: 0 } },
      { name: 'api_key', in: 'query', required: false, schema: { type: 'string' } },
    ],
    responses: {
      '101': {
        description: 'Switching to the WebSocket protocol; every message is one AgentEvent as JSON',
        content: { 'application/json': { schema: ref('AgentEvent') } },
      },
      '404': { description: 'No such task' },
    },
  },
};

/** Adds the event schemas to a generated OpenAPI document: the components, the events page and the live feed. */
export function documentEvents(spec: Json): Json {
  const paths = { ...(spec.paths as Record<string, Json> | undefined) };
  const events = paths['/api/task/{id}/events'] as { get?: { responses?: Json } } | undefined;
  if (events?.get)
    paths['/api/task/{id}/events'] = {
      ...events,
      get: { ...events.get, responses: { ...events.get.responses, '200': EVENTS_PAGE_DOC } },
    };
  paths['/ws/{id}'] = LIVE_FEED_DOC;
  const components = (spec.components ?? {}) as Json;
  return {
    ...spec,
    paths,
    components: { ...components, schemas: { ...(components.schemas as Json | undefined), ...EVENT_COMPONENTS } },
  };
}
