import { describe, expect, it } from 'vitest';
import { buildContainerSpec, LABELS, LEASE_DIR, LEASE_FILE } from '../../../sandbox/container-spec.js';

describe('buildContainerSpec', () => {
  const spec = buildContainerSpec({
    image: 'img',
    limits: { memoryBytes: 256 * 1024 ** 2, cpus: 0.5, pids: 64, workdirBytes: 128 * 1024 ** 2 },
    leaseSeconds: 90,
    ownerHost: 'h',
    ownerPid: 42,
    now: 1_000,
  });
  const host = spec.HostConfig!;

  it('locks the container down', () => {
    expect(host.NetworkMode).toBe('none');
    expect(spec.NetworkDisabled).toBe(true);
    expect(host.ReadonlyRootfs).toBe(true);
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.SecurityOpt).toContain('no-new-privileges');
    expect(host.Privileged).toBe(false);
    expect(spec.User).toBe('0:0'); // the keeper only; every exec runs as 65532
    expect(host.Binds ?? []).toEqual([]);
    expect(host.Mounts ?? []).toEqual([]);
  });

  it('applies the limits, with no swap', () => {
    expect(host.Memory).toBe(256 * 1024 ** 2);
    expect(host.MemorySwap).toBe(host.Memory);
    expect(host.NanoCpus).toBe(5e8);
    expect(host.PidsLimit).toBe(64);
    expect(host.Tmpfs!['/work']).toContain(`size=${128 * 1024 ** 2}`);
  });

  it('ends itself at the lease and labels its owner', () => {
    expect(spec.Entrypoint!.slice(0, 2)).toEqual(['sh', '-c']);
    expect(spec.Cmd).toEqual(['90']);
    expect(host.AutoRemove).toBe(true);
    expect(spec.Labels![LABELS.ownerPid]).toBe('42');
    expect(spec.Labels![LABELS.leaseUntil]).toBe(String(1_000 + 90_000));
  });

  it('reads a renewed lease from a root-only tmpfs, and labels the bound for clean-up elsewhere', () => {
    expect(host.Tmpfs![LEASE_DIR]).toMatch(/mode=0755/);
    expect(host.Tmpfs![LEASE_DIR]).toMatch(/noexec/);
    expect(spec.Entrypoint![2]).toContain(LEASE_FILE);
    const warm = buildContainerSpec({
      image: 'img',
      limits: { memoryBytes: 1, cpus: 1, pids: 1, workdirBytes: 1 },
      leaseSeconds: 60,
      leaseBoundSeconds: 3600,
      ownerHost: 'h',
      ownerPid: 1,
      now: 0,
    });
    expect(warm.Cmd).toEqual(['60']);
    expect(warm.Labels![LABELS.leaseUntil]).toBe(String(3_600_000));
  });
});
