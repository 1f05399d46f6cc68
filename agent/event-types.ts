// Types only, with no imports: the web UI shares them with the server.

/** The event types of the one event log (ARCHITECTURE.md). */
export type EventType =
  | 'status'
  | 'node_start'
  | 'node_end'
  | 'log'
  | 'localised_files'
  | 'context'
  | 'model_call'
  | 'patch'
  | 'apply_result'
  | 'test_result'
  | 'reflection'
  | 'done'
  | 'error';

/** One line of a trajectory and one WebSocket message. */
export interface AgentEvent {
  task_id: string;
  seq: number;
  ts: string;
  type: EventType;
  data: Record<string, unknown>;
}
