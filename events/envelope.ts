import { Type, type Static } from 'typebox';
import { EVENT_TYPES, type EventType } from './event-types.js';
import { EventPayloads } from './payloads.js';

/** The payload of one event type, as this fixwright writes it: what `EventLog.emit` checks. */
export type EventData<K extends EventType> = Static<(typeof EventPayloads)[K]>;

/**
 * A payload as a reader meets it. A stored log or a trajectory may come from an older fixwright,
 * which wrote fewer fields (no `candidate` before sampling, `inSet` before the rename): every
 * field may be missing, and those it has are typed as this version writes them.
 */
export type RecordedData<K extends EventType> = Partial<EventData<K>> & { [field: string]: unknown };

/** One line of a trajectory and one WebSocket message, discriminated by `type`. */
export type AgentEvent<K extends EventType = EventType> = K extends EventType
  ? { task_id: string; seq: number; ts: string; type: K; data: RecordedData<K> }
  : never;

/**
 * What `EventLog.emit` takes for a type: its payload, every required field present and each field
 * with its type (a field the schema does not name is refused, but `log`'s step-specific ones). Only
 * the schema's optional fields may be left out, as a cancelled run's `done` leaves out its attempts.
 */
export type EmitData<K extends EventType> = EventData<K>;

/** An event exactly as this fixwright writes it: every field its type requires is there. */
export type CurrentEvent<K extends EventType = EventType> = K extends EventType
  ? { task_id: string; seq: number; ts: string; type: K; data: EventData<K> }
  : never;

/** The event types, as a schema. */
export const EventTypeSchema = Type.Union(
  EVENT_TYPES.map((t) => Type.Literal(t)),
  { description: 'the event type; `data` is its payload' },
);

const envelope = {
  task_id: Type.String({ minLength: 1 }),
  seq: Type.Integer({ minimum: 1, description: 'per task from 1, never repeating or skipping, also across retries' }),
  ts: Type.String({ description: 'ISO 8601 time of recording' }),
};

/** Any event of any fixwright version: the envelope, with `data` an object. */
export const EventRecordSchema = Type.Object({
  ...envelope,
  type: EventTypeSchema,
  data: Type.Record(Type.String(), Type.Unknown()),
});

/** The event of one type as this fixwright writes it. */
export const eventSchemaOf = <K extends EventType>(type: K) =>
  Type.Object({ ...envelope, type: Type.Literal(type), data: EventPayloads[type] });

/** Every event as this fixwright writes it: one branch per type. */
export const AgentEventSchema = Type.Union(
  EVENT_TYPES.map((t) => eventSchemaOf(t)),
  { description: 'one event of the log {task_id, seq, ts, type, data}; `data` is the payload of its type' },
);

/** The static type of the envelope schema (data unchecked). */
export type EventRecord = Static<typeof EventRecordSchema>;
