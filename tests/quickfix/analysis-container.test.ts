import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalRedis } from '../../core/local-redis.js';
import { Redis } from 'ioredis';
import { AnalysisContainer, EditCache } from '../../quickfix/index.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const analyser = new AnalysisContainer({ docker, image: 'fixwright-sandbox:base' });
afterAll(() => analyser.close());

/** This process's analysis containers, found by their labels. */
async function ours(): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({
    filters: { label: ['fixwright.role=quickfix-analysis', `fixwright.owner.pid=${process.pid}`] },
  });
}

describe('the analysis container', () => {
  it('runs pyflakes under the sandbox lock-down and never executes the snippet', async () => {
    const result = await analyser.check(
      'import os\nopen("/tmp/fixwright-pwned", "w").write("x")\nprint(undefined_thing)\n',
    );
    expect(result.available).toBe(true);
    if (!result.available) return;
    expect(result.diagnostics.map((d) => d.message)).toEqual([
      "'os' imported but unused",
      "undefined name 'undefined_thing'",
    ]);
    const [info] = await ours();
    const inspect = await docker.getContainer(info!.Id).inspect();
    expect(inspect.HostConfig).toMatchObject({
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
    });
    expect(inspect.HostConfig.Memory).toBeGreaterThan(0);
    expect(inspect.HostConfig.PidsLimit).toBeGreaterThan(0);
    const probe = await docker.getContainer(info!.Id).exec({ Cmd: ['ls', '/tmp'], AttachStdout: true });
    const stream = await probe.start({});
    const out = await new Promise<string>((resolve) => {
      let text = '';
      stream.on('data', (c: Buffer) => (text += c.toString()));
      stream.on('end', () => resolve(text));
    });
    expect(out).not.toContain('fixwright-pwned');
  });

  it('is one long-lived container: checks cost milliseconds', async () => {
    await analyser.check('x = 1\n');
    const started = performance.now();
    for (let i = 0; i < 20; i++) await analyser.check(`x${i} = ${i}\n`);
    expect((performance.now() - started) / 20).toBeLessThan(50);
    expect(await ours()).toHaveLength(1);
  });

  it('answers syntax errors as the parser reports them', async () => {
    const result = await analyser.check('def f(x)\n    return x\n');
    expect(result).toMatchObject({ available: true, diagnostics: [{ kind: 'syntax', line: 1, source: 'parser' }] });
  });

  it('is restarted when it dies', async () => {
    const [before] = await ours();
    await docker.getContainer(before!.Id).kill();
    const result = await analyser.check('import sys\n');
    expect(result).toMatchObject({ available: true, diagnostics: [{ message: "'sys' imported but unused" }] });
    const [after] = await ours();
    expect(after!.Id).not.toBe(before!.Id);
  });

  it('says why when the image is missing, instead of failing', async () => {
    const missing = new AnalysisContainer({ docker, image: 'fixwright-sandbox:not-built-here' });
    const result = await missing.check('x = 1\n');
    expect(result).toMatchObject({ available: false });
    if (!result.available)
      expect(result.reason).toMatch(/not-built-here is missing; build it with 'fixwright sandbox build'/);
    await missing.close();
  });
});

describe('the cache shared through Redis', () => {
  it('an answer stored by one API process is a hit in another', async () => {
    const redis = await startLocalRedis();
    const a = new Redis(redis.url);
    const b = new Redis(redis.url);
    try {
      const key = `test-${process.pid}-${Date.now()}`;
      const answer = {
        edits: [],
        raw_patch_dsl: '',
        status: 'no_edits' as const,
        tier: 'rule' as const,
        verification: {} as never,
        model_version: null,
        model_rounds: 0,
      };
      await new EditCache({ redis: a }).set(key, answer);
      expect(await new EditCache({ redis: b }).get(key)).toEqual(answer);
      expect(await new EditCache({ redis: b }).get(`${key}-other`)).toBeUndefined();
    } finally {
      a.disconnect();
      b.disconnect();
      await redis.stop();
    }
  });
});
