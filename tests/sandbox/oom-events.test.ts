import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OomEvents } from '../../sandbox/oom-events.js';
import { type SandboxRuntime } from '../../sandbox/index.js';
import { testRuntime } from '../helpers/docker.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

const fakeDocker = (stream: PassThrough) => ({ getEvents: async () => stream }) as unknown as Docker;
const line = (action: string, container: string, execID?: string) =>
  `${JSON.stringify({ Action: action, Actor: { ID: container, Attributes: execID ? { execID } : {} } })}\n`;

describe('OomEvents', () => {
  it('counts the oom events of a container up to an exec’s exec_die, also when it arrived first', async () => {
    const stream = new PassThrough();
    const events = (await OomEvents.start(fakeDocker(stream), []))!;
    events.track('c1');
    stream.write(line('exec_die', 'c1', 'e1') + line('oom', 'c1') + line('oom', 'c2'));
    // A line split across chunks still counts.
    const split = line('exec_die', 'c1', 'e2');
    stream.write(split.slice(0, 10));
    const pending = events.countAtExit('c1', 'e2');
    stream.write(split.slice(10));
    expect(await events.countAtExit('c1', 'e1')).toBe(0);
    expect(await pending).toBe(1);
    stream.write(line('oom', 'c1') + line('exec_die', 'c1', 'e3'));
    expect(await events.countAtExit('c1', 'e3')).toBe(2);
    // A container not tracked, or forgotten, records nothing.
    expect(await events.countAtExit('c2', 'e9', 20)).toBeUndefined();
    events.forget('c1');
    stream.write(line('oom', 'c1') + line('exec_die', 'c1', 'e4'));
    expect(await events.countAtExit('c1', 'e4', 20)).toBeUndefined();
    events.close();
  });

  it('cannot tell when the exec_die is late or the stream has ended', async () => {
    const stream = new PassThrough();
    const events = (await OomEvents.start(fakeDocker(stream), []))!;
    expect(await events.countAtExit('c1', 'never', 20)).toBeUndefined();
    const waiting = events.countAtExit('c1', 'e1', 60_000);
    stream.end();
    expect(await waiting).toBeUndefined();
  });

  it('is undefined when the engine refuses the subscription', async () => {
    const docker = { getEvents: async () => Promise.reject(new Error('no')) } as unknown as Docker;
    expect(await OomEvents.start(docker, [])).toBeUndefined();
  });
});

describe('the OOM check of a failed command, from the engine’s events', () => {
  let runtime: SandboxRuntime;
  let repo: string;
  beforeAll(async () => {
    runtime = await testRuntime({ memoryBytes: '128m' });
    repo = makeRepo({ 'x.py': '' });
  });
  afterAll(async () => {
    await runtime?.close();
    removeRepos();
  });

  it('sees a child of the command killed for memory, with no exec of its own, and only once', async () => {
    const [hog, plain, calls] = await runtime.withSandbox({ repo: { kind: 'dir', path: repo } }, async (s) => {
      const spy = vi.spyOn(s, 'execTrusted');
      const hogRun = await s.execTrusted(
        ['sh', '-c', `python3 -c "a = bytearray(1024 ** 3); a[::4096] = b'x' * len(a[::4096])"; exit 3`],
        { timeoutSeconds: 30 },
      );
      const plainRun = await s.execTrusted(['sh', '-c', 'exit 1'], { timeoutSeconds: 30 });
      return [hogRun, plainRun, spy.mock.calls.length] as const;
    });
    expect(hog.exitCode).toBe(3);
    expect(hog.oomKilled).toBe(true);
    expect(plain.oomKilled).toBe(false);
    expect(calls).toBe(2);
  });
});
