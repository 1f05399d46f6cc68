import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type Docker from 'dockerode';

/** What the engine's events stream said about one container. */
interface ContainerOoms {
  /** `oom` events so far. */
  ooms: number;
  /** For each exec whose `exec_die` arrived: the `oom` events counted by then. */
  exits: Map<string, number>;
}

interface EngineEvent {
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/**
 * Counts the engine's `oom` events per sandbox container from one events stream, so the OOM check
 * after a failed command needs no exec into the container (each costs ~50 ms of engine CPU). The
 * engine sends a container's events in order, and the OOM kill of any process an exec started
 * (not only the container's main process, which `State.OOMKilled` alone reflects) comes before
 * that exec's `exec_die`; so once that `exec_die` has arrived, every OOM kill it caused is counted.
 * Where the stream cannot tell (it ended, or the `exec_die` is late), the caller asks the cgroup.
 */
export class OomEvents {
  private readonly containers = new Map<string, ContainerOoms>();
  private readonly waiters = new Map<string, () => void>();
  private alive = true;
  private buffered = '';
  /** A chunk may end inside a multi-byte character (a label's value). */
  private readonly decoder = new StringDecoder('utf8');

  private constructor(private readonly stream: Readable) {
    stream.on('data', (chunk: Buffer) => this.take(this.decoder.write(chunk)));
    const end = () => {
      this.alive = false;
      for (const wake of this.waiters.values()) wake();
    };
    stream.once('end', end);
    stream.once('close', end);
    stream.once('error', end);
  }

  /**
   * Subscribes to `oom` and `exec_die` events of containers that carry every one of `labels`
   * ("key=value"); resolves once the engine has accepted the subscription, so a container created
   * afterwards loses none of its events. Undefined when the engine refuses.
   */
  static async start(docker: Docker, labels: readonly string[]): Promise<OomEvents | undefined> {
    try {
      const stream = (await docker.getEvents({
        filters: { type: ['container'], event: ['oom', 'exec_die'], label: [...labels] },
      })) as unknown as Readable & { socket?: { unref(): void } };
      // The subscription must not keep the process alive.
      stream.socket?.unref();
      return new OomEvents(stream);
    } catch {
      return undefined;
    }
  }

  /**
   * The container's `oom` events up to the end of exec `execId`, or undefined when the stream
   * cannot tell: it has ended, or that exec's `exec_die` did not arrive within `waitMs`.
   */
  async countAtExit(containerId: string, execId: string, waitMs = 2000): Promise<number | undefined> {
    const known = () => this.containers.get(containerId)?.exits.get(execId);
    if (known() === undefined && this.alive) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(wake, waitMs);
        function wake(): void {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.set(execId, wake);
      });
      this.waiters.delete(execId);
    }
    const count = known();
    this.containers.get(containerId)?.exits.delete(execId);
    return count;
  }

  /** Starts counting for a container (before its first exec); events of others are ignored. */
  track(containerId: string): void {
    if (!this.containers.has(containerId)) this.containers.set(containerId, { ooms: 0, exits: new Map() });
  }

  /** Drops what was recorded for a container that is gone; its late events are ignored. */
  forget(containerId: string): void {
    this.containers.delete(containerId);
  }

  close(): void {
    this.stream.destroy();
  }

  private take(text: string): void {
    this.buffered += text;
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline).trim();
      this.buffered = this.buffered.slice(newline + 1);
      if (!line) continue;
      let event: EngineEvent;
      try {
        event = JSON.parse(line) as EngineEvent;
      } catch {
        continue;
      }
      const id = event.Actor?.ID;
      if (!id) continue;
      const entry = this.containers.get(id);
      if (!entry) continue;
      if (event.Action === 'oom') entry.ooms += 1;
      else if (event.Action === 'exec_die') {
        const execId = event.Actor?.Attributes?.execID;
        if (!execId) continue;
        entry.exits.set(execId, entry.ooms);
        this.waiters.get(execId)?.();
      }
    }
  }
}
