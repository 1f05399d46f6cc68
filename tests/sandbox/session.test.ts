import { execFileSync, spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildContainerSpec } from '../../sandbox/container-spec.js';
import { type SandboxRuntime, settleRemovals } from '../../sandbox/index.js';
import { removeOrphans } from '../../sandbox/orphans.js';
import { ownContainers, testRuntime } from '../helpers/docker.js';
import { headCommit, makeRepo, removeRepos } from '../helpers/fixture-repo.js';

describe('sandbox sessions', () => {
  let runtime: SandboxRuntime;
  let repo: string;

  beforeAll(async () => {
    runtime = await testRuntime({ concurrency: 2 });
    repo = makeRepo({ 'pkg/__init__.py': '', 'pkg/calc.py': 'def add(a, b):\n    return a + b\n' }, { git: true });
  });
  afterAll(async () => {
    await runtime?.close();
    removeRepos();
  });

  it('copies a directory without its .git and keeps stdout, stderr and the exit code apart', async () => {
    const r = await runtime.runCommand({
      repo: { kind: 'dir', path: repo },
      argv: [
        'python3',
        '-c',
        "import os, sys, pkg.calc; print(sorted(os.listdir('.')), pkg.calc.add(2, 3)); print('oops', file=sys.stderr); sys.exit(3)",
      ],
    });
    expect(r.stdout.text.trim()).toBe("['pkg'] 5");
    expect(r.stderr.text.trim()).toBe('oops');
    expect(r.exitCode).toBe(3);
    expect(r.timedOut).toBe(false);
    expect(r.oomKilled).toBe(false);
  });

  it('copies a commit straight from git objects, with no checkout', async () => {
    const first = headCommit(repo);
    execFileSync(
      'sh',
      [
        '-c',
        'echo "VERSION = 2" > pkg/version.py && git add -A && git -c user.name=t -c user.email=t@t commit -qm two',
      ],
      { cwd: repo },
    );
    const old = await runtime.runCommand({
      repo: { kind: 'git', gitDir: `${repo}/.git`, commit: first },
      argv: ['python3', '-c', "import os; print(sorted(os.listdir('pkg')))"],
    });
    expect(old.stdout.text.trim()).toBe("['__init__.py', 'calc.py']");
    const now = await runtime.runCommand({
      repo: { kind: 'git', gitDir: `${repo}/.git`, commit: 'HEAD' },
      argv: ['python3', '-c', "print(open('pkg/version.py').read())"],
    });
    expect(now.stdout.text.trim()).toBe('VERSION = 2');
  });

  it('refuses a missing directory and a missing commit with a clear error', async () => {
    await expect(
      runtime.runCommand({ repo: { kind: 'dir', path: '/nonexistent/repo' }, argv: ['python3', '-V'] }),
    ).rejects.toThrow(/repository directory not found: \/nonexistent\/repo/);
    await expect(
      runtime.runCommand({
        repo: { kind: 'git', gitDir: `${repo}/.git`, commit: 'deadbeef' },
        argv: ['python3', '-V'],
      }),
    ).rejects.toThrow(/commit deadbeef not found/);
  });

  it('refuses a program outside the allowlist before starting a container', async () => {
    await expect(
      runtime.runCommand({ repo: { kind: 'dir', path: repo }, argv: ['sh', '-c', 'id'] }),
    ).rejects.toMatchObject({ code: 'FW_ERR_COMMAND_NOT_ALLOWED' });
  });

  it('runs several commands in one session, with helper files in and out', async () => {
    const out = await runtime.withSandbox({ repo: { kind: 'dir', path: repo } }, async (s) => {
      await s.putFiles('/tmp/fixwright/in', { 'a/b.txt': 'hello' });
      await s.run(
        ['python3', '-c', "open('/tmp/out.txt','w').write(open('/tmp/fixwright/in/a/b.txt').read().upper())"],
        { timeoutSeconds: 20 },
      );
      return s.readFile('/tmp/out.txt');
    });
    expect(out).toBe('HELLO');
  });

  it('removes the container when the caller throws', async () => {
    let id = '';
    await expect(
      runtime.withSandbox({ repo: { kind: 'dir', path: repo } }, async (s) => {
        id = s.id;
        throw new Error('caller failed');
      }),
    ).rejects.toThrow('caller failed');
    // Removal runs on after the caller is answered; settleRemovals waits for it (as close() does).
    await settleRemovals();
    expect(id).not.toBe('');
    expect(await ownContainers()).not.toContain(id);
  });

  it('cancels a command through an AbortSignal', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const started = Date.now();
    const r = await runtime.runCommand({
      repo: { kind: 'dir', path: repo },
      argv: ['python3', '-c', 'import time; time.sleep(60)'],
      signal: controller.signal,
    });
    expect(r.exitCode).toBe(137);
    expect(r.timedOut).toBe(false);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('runs at most `concurrency` sandboxes at once and queues the rest', async () => {
    const spans: Array<[number, number]> = [];
    await Promise.all(
      Array.from({ length: 5 }, () =>
        runtime.withSandbox({}, async (s) => {
          const start = Date.now();
          await s.run(['python3', '-c', 'import time; time.sleep(0.7)'], { timeoutSeconds: 20 });
          spans.push([start, Date.now()]);
        }),
      ),
    );
    const peak = Math.max(...spans.map(([start]) => spans.filter(([s, e]) => s <= start && start < e).length));
    expect(peak).toBe(2);
  });

  it('clean-up at start-up removes containers of dead owners and spares live ones', async () => {
    const dead = spawn('true');
    await new Promise((r) => dead.on('close', r));
    const make = (pid: number) =>
      runtime.docker.createContainer(
        buildContainerSpec({
          image: runtime.settings.image,
          limits: { memoryBytes: 64 * 1024 ** 2, cpus: 0.1, pids: 8, workdirBytes: 1024 ** 2 },
          leaseSeconds: 60,
          ownerHost: hostname(),
          ownerPid: pid,
          now: Date.now(),
        }),
      );
    const orphan = await make(dead.pid!);
    const live = await make(process.pid);
    await orphan.start();
    await live.start();
    // Another test process's start-up clean-up may remove the orphan first: only the outcome counts.
    await removeOrphans(runtime.docker, { host: hostname(), pid: 999_999, now: Date.now() });
    await expect(orphan.inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect((await live.inspect()).State.Running).toBe(true);
    await live.remove({ force: true });
  });

  it('ends a container on its own at the end of its lease (a dead-man switch for SIGKILL)', async () => {
    const c = await runtime.docker.createContainer(
      buildContainerSpec({
        image: runtime.settings.image,
        limits: { memoryBytes: 64 * 1024 ** 2, cpus: 0.1, pids: 8, workdirBytes: 1024 ** 2 },
        leaseSeconds: 1,
        ownerHost: hostname(),
        ownerPid: process.pid,
        now: Date.now(),
      }),
    );
    await c.start();
    for (let i = 0; i < 100; i++) {
      try {
        await c.inspect();
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await expect(c.inspect()).rejects.toMatchObject({ statusCode: 404 });
  });
});
