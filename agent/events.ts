import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

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

/** Keys that must never reach a trajectory. */
const SECRET = /sk-[A-Za-z0-9_-]{8,}|Bearer\s+\S+/g;

/**
 * Numbers events per task (from 1, no gaps), writes each to the trajectory file as it happens and
 * hands it to listeners (the CLI timeline, the WebSocket). Secrets are scrubbed before anything
 * is written, and the configured API key is scrubbed wherever it appears.
 */
export class EventLog {
  private seq = 0;
  private readonly listeners: Array<(event: AgentEvent) => void> = [];
  readonly events: AgentEvent[] = [];

  constructor(
    readonly taskId: string,
    private readonly trajectoryPath?: string,
    private readonly secrets: readonly string[] = [],
  ) {
    if (trajectoryPath) mkdirSync(dirname(trajectoryPath), { recursive: true });
  }

  /** Calls `listener` with every event from now on. */
  subscribe(listener: (event: AgentEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Records an event. */
  emit(type: EventType, data: Record<string, unknown> = {}): AgentEvent {
    let text = JSON.stringify(data).replace(SECRET, '[redacted]');
    for (const secret of this.secrets) if (secret.length >= 4) text = text.split(secret).join('[redacted]');
    const event: AgentEvent = { task_id: this.taskId, seq: ++this.seq, ts: new Date().toISOString(), type, data: JSON.parse(text) as Record<string, unknown> };
    this.events.push(event);
    if (this.trajectoryPath) appendFileSync(this.trajectoryPath, `${JSON.stringify(event)}\n`);
    for (const listener of this.listeners) listener(event);
    return event;
  }
}
