import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricsRegistry } from '../../core/metrics.js';
import type { SandboxRuntime } from '../../sandbox/index.js';
import { ownContainers, testRuntime } from '../helpers/docker.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

/** Waits until the pool holds `n` warm containers (it refills in the background). */
async function warmed(runtime: SandboxRuntime, n: number): Promise<void> {
  for (let i = 0; i < 200 && runtime.warm.warm < n; i++) await new Promise((r) => setTimeout(r, 50));
  expect(runtime.warm.warm).toBeGreaterThanOrEqual(n);
}

const hits = async () =>
  Number(
    (await metricsRegistry.metrics()).match(/^fixwright_sandbox_warm_takes_total\{result="hit"\} (\d+)/m)?.[1] ?? 0,
  );

// What the code in each run sees: the container's own name for itself, and whether anything an
// earlier run wrote is there. Then it leaves its own marks for a later run to find.
const PROBE = `
import os, socket
seen = [p for p in ('/work/marker', '/tmp/marker') if os.path.exists(p)]
print(socket.gethostname(), 'seen:' + ','.join(seen), open('/work/version.txt').read().strip())
open('/work/marker', 'w').write('x'); open('/tmp/marker', 'w').write('x')`;

describe('warm sandboxes', () => {
  let runtime: SandboxRuntime;
  let repo: string;

  beforeAll(async () => {
    runtime = await testRuntime({ concurrency: 2, warm: 2 });
    repo = makeRepo({ 'version.txt': 'one\n' });
  });
  afterAll(async () => {
    await runtime?.close();
    removeRepos();
  });

  const probe = () =>
    runtime.runCommand({ repo: { kind: 'dir', path: repo }, argv: ['python3', '-c', PROBE], timeoutSeconds: 30 });

  it('never runs untrusted code in a container that ran any before', async () => {
    const before = await hits();
    const outputs: string[] = [];
    outputs.push((await probe()).stdout.text.trim()); // the first asks for the spec: the pool warms it from here
    for (let i = 0; i < 4; i++) {
      await warmed(runtime, 1);
      outputs.push((await probe()).stdout.text.trim());
    }
    // Concurrent callers take the warm ones and start the rest cold.
    await warmed(runtime, 2);
    outputs.push(...(await Promise.all(Array.from({ length: 4 }, probe))).map((r) => r.stdout.text.trim()));
    expect(outputs).toHaveLength(9);
    expect(outputs.every((o) => / seen: one$/.test(o))).toBe(true);
    const names = outputs.map((o) => o.split(' ')[0]);
    expect(new Set(names).size).toBe(9);
    // Most of them came warm: the test proves reuse does not happen on the warm path itself.
    expect((await hits()) - before).toBeGreaterThanOrEqual(5);
  });

  it('copies the tree as it is now: a file changed since the last run is not served stale', async () => {
    await warmed(runtime, 1); // holds the old copy
    writeFileSync(join(repo, 'version.txt'), 'two\n');
    const r = await probe();
    expect(r.stdout.text.trim()).toMatch(/ seen: two$/);
  });

  it('renews a lease through the keeper: longer or shorter, written as root', async () => {
    const { SandboxSession } = await import('../../sandbox/index.js');
    const running = async (s: { id: string }) => {
      try {
        return (await runtime.docker.getContainer(s.id).inspect()).State.Running;
      } catch {
        return false;
      }
    };
    const open = (leaseSeconds: number) =>
      SandboxSession.open({
        docker: runtime.docker,
        image: runtime.settings.image,
        limits: runtime.settings,
        policy: runtime.policy,
        outputCapBytes: 4096,
        leaseSeconds,
        leaseBoundSeconds: 60,
      });
    const [longer, shorter] = await Promise.all([open(2), open(60)]);
    try {
      await Promise.all([longer.renewLease(5), shorter.renewLease(2)]);
      await new Promise((r) => setTimeout(r, 3500));
      expect(await running(longer)).toBe(true); // past its first lease of 2 s
      expect(await running(shorter)).toBe(false); // long before its first lease of 60 s
      await expect(longer.renewLease(61)).rejects.toThrow(/past this sandbox's bound of 60s/);
      for (let i = 0; i < 60 && (await running(longer)); i++) await new Promise((r) => setTimeout(r, 100));
      expect(await running(longer)).toBe(false);
    } finally {
      await Promise.all([longer.close(), shorter.close()]);
    }
  });

  it('runs in a fresh container when a warm one died before it was handed out (nothing ran in it)', async () => {
    await probe();
    await warmed(runtime, 2);
    // Stand-in for an engine restart or the host's OOM killer: the warm containers die in the pool.
    const docker = new Docker({ socketPath: '/var/run/docker.sock' });
    await Promise.all(
      (await ownContainers()).map((id) =>
        docker
          .getContainer(id)
          .kill()
          .catch(() => undefined),
      ),
    );
    const before = await hits();
    const r = await probe();
    expect((await hits()) - before).toBe(1); // a dead one was taken…
    expect(r.exitCode).toBe(0); // …and the run went on in a fresh container
    expect(r.stdout.text.trim()).toMatch(/ seen: (one|two)$/);
  });

  it('removes every container, warm ones included, when the runtime closes', async () => {
    await warmed(runtime, 1);
    await runtime.close();
    expect(runtime.warm.warm).toBe(0);
    expect(await ownContainers()).toEqual([]);
  });
});
