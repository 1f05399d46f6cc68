import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ANY_KEY_SHAPE } from '../core/index.js';
import type { AgentEvent, EmitData, EventType } from '../events/index.js';

export type { AgentEvent, EmitData, EventType };

/**
 * Replaces secrets in every string inside a value (walking objects and arrays, so no record's shape
 * changes): the configured secrets exactly, and anything shaped like an API key.
 */
export function redact<T>(value: T, secrets: readonly string[]): T {
  if (typeof value === 'string') {
    let text = value.replace(ANY_KEY_SHAPE, '[redacted]');
    for (const secret of secrets) if (secret.length >= 4) text = text.split(secret).join('[redacted]');
    return text as T;
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, secrets)) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, secrets)])) as T;
  return value;
}

/**
 * Numbers events per task (from 1, no gaps), writes each to the trajectory file as it happens and
 * hands it to listeners (the CLI timeline, the WebSocket). Secrets are scrubbed before anything
 * is written, and the configured API key is scrubbed wherever it appears.
 */
export class EventLog {
  private seq = 0;
  /** Set by `done` or `error`: those end the log, and clients stop reading at them. */
  private ended = false;
  private readonly listeners: Array<(event: AgentEvent) => void> = [];
  readonly events: AgentEvent[] = [];

  constructor(
    readonly taskId: string,
    private readonly trajectoryPath?: string,
    readonly secrets: readonly string[] = [],
    /** The last seq already recorded for this task: a retried run continues the numbering. */
    afterSeq = 0,
  ) {
    this.seq = afterSeq;
    if (trajectoryPath) mkdirSync(dirname(trajectoryPath), { recursive: true });
  }

  /** Calls `listener` with every event from now on. */
  subscribe(listener: (event: AgentEvent) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Records an event. After the run's `done` or `error` nothing more is recorded: a cancelled run
   * ends its log at once while its last step is still unwinding, and that step's events would
   * otherwise land after the end, where no client reads them.
   */
  emit<K extends EventType>(type: K, data: EmitData<K>): AgentEvent<K> | undefined {
    if (this.ended) return undefined;
    if (type === 'done' || type === 'error') this.ended = true;
    const event = {
      task_id: this.taskId,
      seq: ++this.seq,
      ts: new Date().toISOString(),
      type,
      data: redact(data, this.secrets),
    } as unknown as AgentEvent<K>;
    this.events.push(event);
    if (this.trajectoryPath) appendFileSync(this.trajectoryPath, `${JSON.stringify(event)}\n`);
    for (const listener of this.listeners) listener(event);
    return event;
  }
}
