import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExitHooks } from '../../core/exit-hooks.js';
import type { SandboxRuntime } from '../../sandbox/index.js';
import { ownContainers, testRuntime } from '../helpers/docker.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

// The process-exit path (its own file: it leaves this test process unable to start sandboxes).
describe('sandboxes at process exit', () => {
  let runtime: SandboxRuntime;
  let repo: string;
  beforeAll(async () => {
    runtime = await testRuntime({ concurrency: 2, warm: 2 });
    repo = makeRepo({ 'a.py': '' });
  });
  afterAll(() => removeRepos());

  it('removes warm containers and refuses new ones, also from a runtime made after the exit began', async () => {
    await runtime.runCommand({ repo: { kind: 'dir', path: repo }, argv: ['python3', '-c', 'pass'] });
    for (let i = 0; i < 100 && runtime.warm.warm < 1; i++) await new Promise((r) => setTimeout(r, 50));
    expect(runtime.warm.warm).toBeGreaterThan(0);
    await runExitHooks();
    expect(await ownContainers()).toEqual([]);
    // A command still starting up when the signal came: its runtime starts nothing.
    const late = await testRuntime({ concurrency: 2, warm: 2 });
    await expect(
      late.runCommand({ repo: { kind: 'dir', path: repo }, argv: ['python3', '-c', 'pass'] }),
    ).rejects.toMatchObject({ code: 'FW_ERR_SANDBOX_CLOSED' });
    await new Promise((r) => setTimeout(r, 300));
    expect(late.warm.warm).toBe(0);
    expect(await ownContainers()).toEqual([]);
  });
});
