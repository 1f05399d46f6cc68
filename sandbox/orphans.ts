import type Docker from 'dockerode';
import type { Logger } from '../core/index.js';
import { LABELS } from './container-spec.js';
import { hasDockerStatus } from './docker-client.js';

/** Is a process with this id alive on this host? EPERM means it exists under another user. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Who is asking, so clean-up never touches a live worker's containers. */
export interface OrphanScope {
  host: string;
  pid: number;
  now: number;
  /** Tells whether a process on this host is alive (injectable for tests of other owners). */
  isAlive?: (pid: number) => boolean;
}

/**
 * Decides whether a sandbox container is an orphan: its lease has expired, or its owner was a
 * process on this host that is gone. Containers of live processes, and of other hosts within their
 * lease, are never touched.
 */
export function isOrphan(labels: Record<string, string>, scope: OrphanScope): boolean {
  const leaseUntil = Number(labels[LABELS.leaseUntil]);
  if (!Number.isFinite(leaseUntil) || leaseUntil < scope.now) return true;
  if (labels[LABELS.ownerHost] !== scope.host) return false;
  const pid = Number(labels[LABELS.ownerPid]);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  if (pid === scope.pid) return false;
  return !(scope.isAlive ?? processAlive)(pid);
}

/** Removes orphaned sandbox containers; returns how many were removed. */
export async function removeOrphans(docker: Docker, scope: OrphanScope, logger?: Logger): Promise<number> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.sandbox}=1`] } });
  let removed = 0;
  for (const info of containers) {
    if (!isOrphan(info.Labels ?? {}, scope)) continue;
    try {
      await docker.getContainer(info.Id).remove({ force: true, v: true });
      removed += 1;
    } catch (err) {
      if (!hasDockerStatus(err, 404, 409))
        logger?.warn({ err, container: info.Id.slice(0, 12) }, 'could not remove orphaned sandbox');
    }
  }
  if (removed > 0) logger?.info({ removed }, 'removed orphaned sandbox containers');
  return removed;
}
