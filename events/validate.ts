import { Compile } from 'typebox/compile';
import type { AgentEvent, CurrentEvent } from './envelope.js';
import { AgentEventSchema, EventRecordSchema } from './envelope.js';

const recordCheck = Compile(EventRecordSchema);
const currentCheck = Compile(AgentEventSchema);

/** Why a value is not an event: the JSON path of the first bad part (empty for the whole) and what is wrong. */
export interface EventProblem {
  path: string;
  message: string;
}

/**
 * For readers of untrusted records (a trajectory file, a stored log): is this an event of the log?
 * Checks the envelope (task_id, seq, ts, a known type, an object `data`), not the payload's fields,
 * so records of older versions still read; readers check the fields they use.
 */
export function isEventRecord(value: unknown): value is AgentEvent {
  return recordCheck.Check(value);
}

/** The first reason `value` is not an event record, or undefined when it is one. */
export function eventRecordProblem(value: unknown): EventProblem | undefined {
  if (recordCheck.Check(value)) return undefined;
  const [first] = recordCheck.Errors(value);
  return first ? { path: first.instancePath, message: first.message } : { path: '', message: 'not an event' };
}

/** Is this an event exactly as this fixwright writes it (envelope and every payload field of its type)? */
export function isCurrentEvent(value: unknown): value is CurrentEvent {
  return currentCheck.Check(value);
}
