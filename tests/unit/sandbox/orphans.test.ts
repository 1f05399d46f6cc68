import { describe, expect, it } from 'vitest';
import { LABELS } from '../../../sandbox/container-spec.js';
import { isOrphan } from '../../../sandbox/orphans.js';

const labels = (pid: number, host: string, leaseUntil: number) => ({
  [LABELS.sandbox]: '1',
  [LABELS.ownerPid]: String(pid),
  [LABELS.ownerHost]: host,
  [LABELS.leaseUntil]: String(leaseUntil),
});

describe('isOrphan', () => {
  const scope = { host: 'me', pid: 10, now: 5_000, isAlive: (pid: number) => pid === 11 };
  it('keeps our own and live processes’ containers', () => {
    expect(isOrphan(labels(10, 'me', 9_000), scope)).toBe(false);
    expect(isOrphan(labels(11, 'me', 9_000), scope)).toBe(false);
  });
  it('removes containers of dead processes on this host', () => {
    expect(isOrphan(labels(12, 'me', 9_000), scope)).toBe(true);
  });
  it('leaves other hosts’ containers alone until their lease expires', () => {
    expect(isOrphan(labels(12, 'other', 9_000), scope)).toBe(false);
    expect(isOrphan(labels(12, 'other', 4_000), scope)).toBe(true);
  });
  it('removes expired leases even of live owners, and unlabelled leases', () => {
    expect(isOrphan(labels(11, 'me', 4_000), scope)).toBe(true);
    expect(isOrphan({ [LABELS.sandbox]: '1' }, scope)).toBe(true);
  });
});
