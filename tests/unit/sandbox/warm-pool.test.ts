import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SandboxSession } from '../../../sandbox/index.js';
import { WarmPool, type WarmSpec } from '../../../sandbox/warm-pool.js';

/** A stand-in container: what the pool calls on a session, recorded. */
class FakeSession {
  static opened: FakeSession[] = [];
  readonly id: string;
  leases: number[] = [];
  copies: string[] = [];
  closed = false;
  constructor(
    readonly lease: number,
    readonly bound: number,
  ) {
    this.id = `c${FakeSession.opened.length}`;
    FakeSession.opened.push(this);
  }
  async renewLease(seconds: number) {
    this.leases.push(seconds);
  }
  async copyRepo(copy: { key: string }) {
    this.copies.push(copy.key);
    // A copy into a container that is removed ends at once, as the exec into it does.
    if (FakeSession.copyDelayMs)
      await Promise.race([new Promise((r) => setTimeout(r, FakeSession.copyDelayMs)), this.removed]);
    if (this.closed) throw new Error('the container was removed while copying');
  }
  private remove!: () => void;
  private readonly removed = new Promise<void>((r) => (this.remove = r));
  static copyDelayMs = 0;
  async close() {
    this.closed = true;
    this.remove();
  }
}

const spec = (repo = 'r1', bytes = 10): WarmSpec => ({
  image: 'img',
  limits: { memoryBytes: 1, cpus: 1, pids: 1, workdirBytes: 1 },
  outputCapBytes: 1,
  copy: { key: repo, bytes: Buffer.alloc(bytes) },
});

const pools: WarmPool[] = [];
let openCalls = 0;
function pool(options: Partial<ConstructorParameters<typeof WarmPool>[0]> = {}, failOpen = false) {
  const p = new WarmPool({
    size: 2,
    memoryBytes: 1024 ** 3,
    idleSeconds: 60,
    leaseBoundSeconds: 3600,
    open: async (_s, lease, bound) => {
      openCalls += 1;
      if (failOpen) throw new Error('no image');
      return new FakeSession(lease, bound) as unknown as SandboxSession;
    },
    ...options,
  });
  pools.push(p);
  return p;
}
const filled = async (p: WarmPool, n: number) => {
  for (let i = 0; i < 100 && p.warm < n; i++) await new Promise((r) => setTimeout(r, 5));
  return p.warm;
};

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.drain()));
  FakeSession.opened = [];
  FakeSession.copyDelayMs = 0;
  openCalls = 0;
  vi.useRealTimers();
});

describe('warm pool', () => {
  it('warms a spec once it is asked for, with the repository copied in, up to its size', async () => {
    const p = pool();
    expect(p.take(spec(), 100)).toEqual({ miss: 'empty' });
    expect(await filled(p, 2)).toBe(2);
    expect(FakeSession.opened.map((s) => s.copies)).toEqual([['r1'], ['r1']]);
    // Started with a short idle lease, renewable up to the bound.
    expect(FakeSession.opened.every((s) => s.lease < 3600 && s.bound === 3600)).toBe(true);
  });

  it('hands each container out once, and never again', async () => {
    const p = pool();
    p.take(spec(), 100);
    await filled(p, 2);
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const taken = p.take(spec(), 300 + i);
      if ('session' in taken) {
        expect(seen.has(taken.session.id)).toBe(false);
        seen.add(taken.session.id);
        taken.lease.done();
      }
      await filled(p, 2);
    }
    expect(seen.size).toBe(10);
    // A caller done within the idle lease needs no lease of its own written.
    expect(FakeSession.opened.every((s) => s.leases.length === 0)).toBe(true);
  });

  it('writes the caller lease only when the caller outlives the idle lease, 30 s before it ends', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    const p = pool({ idleSeconds: 60 }); // idle lease: 60 + 120 s
    p.take(spec(), 100);
    for (let i = 0; i < 50 && p.warm < 2; i++) await vi.advanceTimersByTimeAsync(1);
    expect(p.warm).toBe(2);
    const long = p.take(spec(), 1000);
    const short = p.take(spec(), 100);
    if (!('session' in long) || !('session' in short)) throw new Error('expected two warm containers');
    // A lease within the idle one is never written.
    await short.lease.renewed;
    await vi.advanceTimersByTimeAsync(149_000);
    expect((long.session as unknown as FakeSession).leases).toEqual([]);
    await vi.advanceTimersByTimeAsync(2_000);
    await long.lease.renewed;
    // Counted from when it was taken: 1000 s less the ~150 s gone.
    const [written] = (long.session as unknown as FakeSession).leases;
    expect(written).toBeGreaterThan(840);
    expect(written).toBeLessThanOrEqual(851);
    expect((short.session as unknown as FakeSession).leases).toEqual([]);
    long.lease.done();
  });

  it('never gives a container of one repository to a caller of another', async () => {
    const p = pool({ size: 4 });
    p.take(spec('a'), 100);
    p.take(spec('b'), 100);
    await filled(p, 4);
    const taken = p.take(spec('b'), 100);
    expect('session' in taken && (taken.session as unknown as FakeSession).copies).toEqual(['b']);
  });

  it('holds no more than its size and its memory allow', async () => {
    const bySize = pool({ size: 3 });
    bySize.take(spec('a'), 100);
    bySize.take(spec('b'), 100);
    await filled(bySize, 3);
    await new Promise((r) => setTimeout(r, 30));
    expect(bySize.warm).toBe(3);
    // Each container counts 8 MiB plus its copy: 17 MiB of room holds one with a 1 MiB copy, not two.
    const byMemory = pool({ size: 4, memoryBytes: 17 * 1024 ** 2 });
    byMemory.take(spec('m', 1024 ** 2), 100);
    await filled(byMemory, 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(byMemory.warm).toBe(1);
  });

  it('makes room for a newly asked repository: a full pool gives up containers of one above its share', async () => {
    const p = pool({ size: 2 });
    p.take(spec('old'), 100);
    await filled(p, 2);
    p.take(spec('new'), 100);
    for (let i = 0; i < 100 && !FakeSession.opened.some((s) => s.copies[0] === 'new'); i++)
      await new Promise((r) => setTimeout(r, 5));
    await filled(p, 2);
    const taken = p.take(spec('new'), 100);
    expect('session' in taken && (taken.session as unknown as FakeSession).copies).toEqual(['new']);
    expect(FakeSession.opened.filter((s) => s.copies[0] === 'old' && s.closed)).toHaveLength(1);
  });

  it('on a machine without spare processors, primes a spec at once but refills only once the callers are done', async () => {
    const p = pool({ cores: 2 });
    p.begin();
    expect(p.take(spec(), 100)).toEqual({ miss: 'empty' });
    // Its first containers start beside the first caller: the next sandbox of a run comes soon.
    expect(await filled(p, 2)).toBe(2);
    p.begin();
    const taken = p.take(spec(), 100);
    expect('session' in taken).toBe(true);
    await new Promise((r) => setTimeout(r, 30));
    expect(openCalls).toBe(2); // no refill while the callers' tests have the processors
    p.end();
    await new Promise((r) => setTimeout(r, 30));
    expect(openCalls).toBe(2); // one caller still runs
    p.end();
    expect(await filled(p, 2)).toBe(2);
    expect(openCalls).toBe(3);
    // With processors to spare, it refills beside a running caller.
    const wide = pool({ cores: 16 });
    wide.begin();
    wide.take(spec('w'), 100);
    await filled(wide, 2);
    wide.take(spec('w'), 100);
    expect(await filled(wide, 2)).toBe(2);
    wide.end();
  });

  it('starts a lease past its bound cold, and keeps nothing for a caller that expects no repeat', async () => {
    const p = pool();
    expect(p.take(spec(), 7200)).toEqual({ miss: 'lease' });
    await new Promise((r) => setTimeout(r, 30));
    expect(openCalls).toBe(0); // nothing started for a lease no warm container can take
    const once = pool();
    expect(once.take(spec('x'), 100, { refill: false })).toEqual({ miss: 'empty' });
    await new Promise((r) => setTimeout(r, 30));
    expect(once.warm).toBe(0);
    expect(pool({ size: 0 }).take(spec(), 100)).toEqual({ miss: 'off' });
  });

  it('lets a spec go when no one asked for it within the idle time, removing its containers', async () => {
    const p = pool({ idleSeconds: 0.05 });
    p.take(spec(), 100);
    await filled(p, 2);
    await new Promise((r) => setTimeout(r, 80));
    expect(p.take(spec('other'), 100, { refill: false })).toEqual({ miss: 'empty' });
    expect(p.warm).toBe(0);
    expect(FakeSession.opened.filter((s) => s.copies[0] === 'r1').every((s) => s.closed)).toBe(true);
  });

  it('drains: removes what is warm and what was starting, and starts nothing more', async () => {
    const p = pool();
    p.take(spec(), 100);
    await p.drain();
    expect(FakeSession.opened.every((s) => s.closed)).toBe(true);
    expect(p.take(spec(), 100)).toEqual({ miss: 'off' });
    await new Promise((r) => setTimeout(r, 20));
    expect(FakeSession.opened.every((s) => s.closed)).toBe(true);
  });

  it('does not retry a spec that cannot start in a loop', async () => {
    const p = pool({}, true);
    p.take(spec(), 100);
    await new Promise((r) => setTimeout(r, 30));
    expect(p.warm).toBe(0);
    // One try per fill slot, then it waits for the next request.
    expect(openCalls).toBeLessThanOrEqual(2);
    expect(openCalls).toBeGreaterThan(0);
  });

  it('removes containers still being filled when it drains, without waiting for their copy', async () => {
    FakeSession.copyDelayMs = 5000;
    const p = pool();
    p.take(spec(), 100);
    // Both are copying their repository when the drain comes.
    for (let i = 0; i < 100 && FakeSession.opened.filter((s) => s.copies.length > 0).length < 2; i++)
      await new Promise((r) => setTimeout(r, 5));
    expect(FakeSession.opened.filter((s) => s.copies.length > 0)).toHaveLength(2);
    const started = Date.now();
    await p.drain();
    expect(FakeSession.opened.length).toBeGreaterThan(0);
    expect(FakeSession.opened.every((s) => s.closed)).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('hands out no container whose idle lease is nearly over, nor one whose label would end before the caller lease', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const p = pool({ idleSeconds: 600, leaseBoundSeconds: 1000 });
    p.take(spec(), 100);
    await filled(p, 2);
    // 500 s later: 500 s of the bound are left, so a lease of 900 s cannot be given; 400 s can.
    vi.setSystemTime(Date.now() + 500_000);
    expect(p.take(spec(), 900)).toEqual({ miss: 'lease' });
    expect('session' in p.take(spec(), 400)).toBe(true);
    // Past the idle lease (600 + 120 s) less a minute: dropped, not handed out.
    vi.setSystemTime(Date.now() + 200_000);
    expect(p.take(spec(), 10)).toEqual({ miss: 'empty' });
    expect(FakeSession.opened.filter((s) => s.closed).length).toBeGreaterThanOrEqual(1);
  });
});
