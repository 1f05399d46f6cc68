/** The event types of the one event log (ARCHITECTURE.md, "One event log"), in the order a run meets them. */
export const EVENT_TYPES = [
  'status',
  'node_start',
  'node_end',
  'log',
  'localised_files',
  'context',
  'model_call',
  'patch',
  'apply_result',
  'test_result',
  'reflection',
  'done',
  'error',
] as const;

/** One of the event types. */
export type EventType = (typeof EVENT_TYPES)[number];
