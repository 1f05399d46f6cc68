import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { environmentBuildContext, environmentDockerfile } from '../../sandbox/images/env-image.js';
import {
  BASE_IMAGE,
  buildBaseImage,
  ensureEnvironmentImage,
  parseEnvironmentSpec,
  type SandboxRuntime,
} from '../../sandbox/index.js';
import { testRuntime } from '../helpers/docker.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

describe('environment specs', () => {
  it('accepts packages, pins and setup commands', () => {
    const spec = parseEnvironmentSpec({
      apt: ['python3-numpy', 'libfoo=1.2-3'],
      pip: ['requests==2.31.0', 'attrs[tests]>=22,<24'],
      setup: ['echo hi'],
    });
    const dockerfile = environmentDockerfile(spec);
    expect(dockerfile).toMatch(/^FROM fixwright-sandbox:base$/m);
    expect(dockerfile).toContain('apt-get install -y -q --no-install-recommends python3-numpy libfoo=1.2-3');
    // pip's list travels in the build context, never in a RUN line; with no index or wheel directory configured pip does not run.
    expect(dockerfile).toMatch(/^RUN .*FIXWRIGHT_PIP_SOURCE=0 sh \/tmp\/fixwright-build\/pip-install\.sh /m);
    expect(environmentBuildContext(spec)['fixwright/pip-only.txt']!.toString()).toBe(
      'requests==2.31.0\nattrs[tests]>=22,<24\n',
    );
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
  });

  it('refuses names that could smuggle shell, listing each problem', () => {
    expect(() => parseEnvironmentSpec({ apt: ['curl; rm -rf /'], pip: ['x && y'], extra: 1 })).toThrow(
      /apt\.0: not a Debian package name[\s\S]*pip\.0: not a pip requirement[\s\S]*Unrecognized key/,
    );
  });
});

describe('sandbox images (real Docker)', () => {
  let runtime: SandboxRuntime;
  const built: string[] = [];
  beforeAll(async () => {
    runtime = await testRuntime();
  });
  afterAll(async () => {
    for (const tag of built)
      await runtime.docker
        .getImage(tag)
        .remove({ force: true })
        .catch(() => undefined);
    await runtime?.close();
    removeRepos();
  });

  it('does not rebuild a base image whose recipe is unchanged', async () => {
    const started = Date.now();
    const result = await buildBaseImage(runtime.docker, { tag: BASE_IMAGE, hasDebootstrap: true });
    expect(result.method).toBe('cached');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('builds an environment image once, with network only during the build', async () => {
    const marker = randomUUID();
    const spec = { apt: ['python3-tabulate'], env: { FW_TEST_MARKER: marker } };
    const first = await ensureEnvironmentImage(runtime.docker, spec);
    built.push(first.tag);
    expect(first).toMatchObject({ built: true });
    expect(first.tag).toMatch(/^fixwright-env:[0-9a-f]{16}$/);
    expect(await ensureEnvironmentImage(runtime.docker, spec)).toEqual({ tag: first.tag, built: false });

    const repo = makeRepo({ 'x.py': '' });
    const r = await runtime.runCommand({
      repo: { kind: 'dir', path: repo },
      image: first.tag,
      argv: [
        'python3',
        '-c',
        "import os, socket, tabulate; print(tabulate.tabulate([[1]]).strip(), os.environ['FW_TEST_MARKER'], [n for _, n in socket.if_nameindex()])",
      ],
    });
    expect(r.stdout.text.trim()).toBe(`-\n1\n- ${marker} ['lo']`);
  });

  it('names the missing base image', async () => {
    await expect(ensureEnvironmentImage(runtime.docker, { base: 'fixwright-no-such:image' })).rejects.toThrow(
      /base image 'fixwright-no-such:image' not found; build it with 'fixwright sandbox build'/,
    );
  });
});
