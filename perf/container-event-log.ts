/**
 * `perf:agent`'s view of the sandbox from outside: Docker's container event stream, kept per
 * owning process (the `fixwright.owner.pid` label every sandbox container carries), so the bench
 * can tell how long a run's test execs took whatever build made them and whoever else is using
 * the same Docker engine at the time.
 */
import type Docker from 'dockerode';
import { type ContainerEvent, execsOf, parseContainerEvent } from './agent-loop-timing.js';

/**
 * The label that names the process owning a sandbox container. Spelt out here rather than taken
 * from sandbox/: the bench reads what the builds it measures wrote, not what this build would.
 */
export const OWNER_PID_LABEL = 'fixwright.owner.pid';

/** A subscription to Docker's container events; `close()` ends it. */
export interface ContainerEventLog {
  /** The events of the containers a process owns, in order of arrival. */
  eventsOf(pid: number): ContainerEvent[];
  /**
   * Resolves once every exec the process started has ended (or `timeoutMs` passed), a moment after
   * its exit: Docker may deliver the last events just after the process exits. Containers it leaves
   * behind (a warm pool's, ending at their lease) are not waited for.
   */
  settled(pid: number, timeoutMs: number): Promise<boolean>;
  close(): void;
}

/** Every exec that started has ended (by exec_die, or by its container's death). */
function isSettled(events: readonly ContainerEvent[]): boolean {
  return execsOf(events).every((x) => x.start === undefined || x.end !== undefined);
}

/** Events Docker stamped before a process exited may reach the stream a little after it. */
const DELIVERY_GRACE_MS = 150;

/** Subscribes to the engine's container events from now on. */
export async function watchContainerEvents(docker: Docker): Promise<ContainerEventLog> {
  const byPid = new Map<number, ContainerEvent[]>();
  const stream = (await docker.getEvents({ filters: { type: ['container'] } })) as NodeJS.ReadableStream & {
    destroy?: () => void;
  };
  let pending = '';
  stream.on('data', (chunk: Buffer | string) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const event = line.trim() === '' ? undefined : parseContainerEvent(line);
      if (!event) continue;
      const pid = Number(event.attributes[OWNER_PID_LABEL]);
      // Containers without the label are not a sandbox's (or come from a build that labels nothing).
      if (!Number.isInteger(pid)) continue;
      const list = byPid.get(pid) ?? [];
      list.push(event);
      byPid.set(pid, list);
    }
  });
  // The stream's end or error is the engine going away: the runs' own failures will say so.
  stream.on('error', () => undefined);
  return {
    eventsOf: (pid) => byPid.get(pid) ?? [],
    async settled(pid, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      await new Promise((r) => setTimeout(r, DELIVERY_GRACE_MS));
      while (!isSettled(byPid.get(pid) ?? [])) {
        if (Date.now() > deadline) return false;
        await new Promise((r) => setTimeout(r, 25));
      }
      return true;
    },
    close() {
      stream.removeAllListeners('data');
      stream.destroy?.();
    },
  };
}
