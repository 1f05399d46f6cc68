import { hostname } from 'node:os';
import Docker from 'dockerode';
import { loadSettings, type Settings } from '../../core/config.js';
import { LABELS } from '../../sandbox/container-spec.js';
import { createSandboxRuntime, type SandboxRuntime } from '../../sandbox/index.js';

/** Settings for tests: the defaults, with test-sized limits unless a test asks otherwise. */
export function testSettings(sandbox: Record<string, string | number> = {}): Settings {
  return loadSettings(
    { ...process.env, FIXWRIGHT_LOG_LEVEL: 'silent' },
    { sandbox: { timeoutSeconds: 60, memoryBytes: '512m', ...sandbox } },
  );
}

/** A runtime against the real Docker engine; fails loudly when none is running. */
export function testRuntime(sandbox: Record<string, string | number> = {}): Promise<SandboxRuntime> {
  return createSandboxRuntime(testSettings(sandbox));
}

/** Sandbox containers owned by this test process (running or not). */
export async function ownContainers(): Promise<string[]> {
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const list = await docker.listContainers({
    all: true,
    filters: {
      label: [`${LABELS.sandbox}=1`, `${LABELS.ownerPid}=${process.pid}`, `${LABELS.ownerHost}=${hostname()}`],
    },
  });
  return list.map((c) => c.Id);
}
