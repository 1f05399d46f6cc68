import { availableParallelism } from 'node:os';
import type { Logger } from '../core/index.js';
import type { SandboxLimits } from './container-spec.js';
import { sandboxMetrics } from './metrics.js';
import type { RepoCopy } from './repo-copy.js';
import { registerSessionSource, type SandboxSession } from './session.js';

/** What a warm container is made for: callers with the same spec may take it. */
export interface WarmSpec {
  image: string;
  limits: SandboxLimits;
  outputCapBytes: number;
  /** The repository already copied in, if any. */
  copy?: RepoCopy;
}

/** How the pool opens a container (the runtime's locked-down open, with the given idle lease and bound). */
export type OpenWarm = (spec: WarmSpec, leaseSeconds: number, leaseBoundSeconds: number) => Promise<SandboxSession>;

export interface WarmPoolOptions {
  /** Warm containers held at most, over every spec (0: no pool). */
  size: number;
  /** Memory the warm containers may hold, their repository copies counted. */
  memoryBytes: number;
  /** A spec no caller asked for in this long stops being warmed, and its containers are removed. */
  idleSeconds: number;
  /** The longest lease a warm container can be renewed to; a longer one is opened cold. */
  leaseBoundSeconds: number;
  /** Containers started at once while refilling (each start costs CPU the callers want too). */
  fillConcurrency?: number;
  /** Processors of this machine (default: what Node reports); decides whether refills may run beside callers. */
  cores?: number;
  open: OpenWarm;
  logger?: Logger;
}

/** What one warm container is taken to cost, beyond its repository copy (keeper, shim, tmpfs metadata). */
const CONTAINER_BYTES = 8 * 1024 * 1024;
/** A warm container with less than this left of its idle lease is not handed out. */
const MIN_LEASE_LEFT_MS = 60_000;
/** A caller still running this long before the idle lease ends gets its own lease written then. */
const RENEW_AHEAD_MS = 30_000;

/** The lease of a container handed out: renewed only if its caller outlives the idle lease. */
export interface LeaseRenewal {
  /** Settles when the renewal (if one was due) is written; rejects if it failed (the container is then removed). */
  readonly renewed: Promise<void>;
  /** The caller is done: a renewal not yet due is never written. */
  done(): void;
}

interface Ready {
  session: SandboxSession;
  /** When its idle lease ends. */
  leaseEnds: number;
  /** When it was opened: its label tells clean-up elsewhere to leave it alone until then plus the bound. */
  openedAt: number;
}

interface SpecState {
  spec: WarmSpec;
  ready: Ready[];
  filling: number;
  lastAsked: number;
  /** Warm containers of this spec handed out so far: until the first, it is being primed. */
  taken: number;
}

/** Why a caller did not get a warm container. */
export type WarmMiss = 'empty' | 'lease' | 'off';

/**
 * Containers started ahead of need, each one handed out once and never again: the caller's
 * untrusted code runs in a container no one used before, exactly as with a cold start, only the
 * start (and the repository copy) happened earlier, off the caller's path. A spec is warmed once a
 * caller asked for it, for `idleSeconds` after its last request; the pool refills in the
 * background, bounded by count and memory, and is drained on shutdown.
 */
export class WarmPool {
  private readonly specs = new Map<string, SpecState>();
  private readonly fills = new Set<Promise<void>>();
  /** Containers started and still being filled (their repository copy): drain removes them at once. */
  private readonly starting = new Set<SandboxSession>();
  private draining = false;
  /** Callers running in sandboxes of this runtime now (warm or cold). */
  private busy = 0;
  private readonly unregister: () => void;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly options: WarmPoolOptions) {
    this.unregister = registerSessionSource(this);
  }

  /** The key of a spec: containers are interchangeable only within one. */
  static keyOf(spec: WarmSpec): string {
    const { limits } = spec;
    return [
      spec.image,
      limits.memoryBytes,
      limits.cpus,
      limits.pids,
      limits.workdirBytes,
      spec.outputCapBytes,
      spec.copy?.key ?? '',
    ].join('\u0000');
  }

  /** Warm containers ready now. */
  get warm(): number {
    let n = 0;
    for (const state of this.specs.values()) n += state.ready.length;
    return n;
  }

  /**
   * A ready container for this spec, its lease renewed to `leaseSeconds` (removed from the pool for
   * good), or why there is none. Unless `refill` is false, the spec is now wanted and the pool refills.
   */
  take(
    spec: WarmSpec,
    leaseSeconds: number,
    options: { refill?: boolean } = {},
  ): { session: SandboxSession; lease: LeaseRenewal } | { miss: WarmMiss } {
    if (this.options.size <= 0 || this.draining) return this.missed('off');
    // A lease no warm container can be given: nothing is started for it.
    if (leaseSeconds > this.options.leaseBoundSeconds) return this.missed('lease');
    const key = WarmPool.keyOf(spec);
    let state = this.specs.get(key);
    if (!state && options.refill === false) {
      this.schedule(); // lets idle specs go
      return this.missed('empty');
    }
    if (!state) this.specs.set(key, (state = { spec, ready: [], filling: 0, lastAsked: 0, taken: 0 }));
    if (options.refill !== false) state.lastAsked = Date.now();
    this.schedule();
    const now = Date.now();
    this.dropExpired(state, now);
    // The oldest first; one whose label would run out before this lease does is left for a shorter one.
    const index = state.ready.findIndex(
      (r) => now + leaseSeconds * 1000 <= r.openedAt + this.options.leaseBoundSeconds * 1000,
    );
    if (index < 0) return this.missed(state.ready.length > 0 ? 'lease' : 'empty');
    const [next] = state.ready.splice(index, 1);
    this.count();
    const session = next!.session;
    state.taken += 1;
    sandboxMetrics.warmTakes.inc({ result: 'hit' });
    this.schedule();
    return { session, lease: this.renewal(session, next!.leaseEnds, leaseSeconds) };
  }

  /** A caller starts using a sandbox (before it asks for one): refills wait while callers hold the processors. */
  begin(): void {
    this.busy += 1;
  }

  /** A caller is done with its sandbox: the pool may refill now. */
  end(): void {
    this.busy = Math.max(0, this.busy - 1);
    this.schedule();
  }

  /**
   * Whether refills may start now. Starting a container costs about a quarter of a second of CPU
   * (the engine's, the runtime's, the copy's): on a machine without a spare pair of processors per
   * running caller, a refill beside a caller's tests slows those tests down by what it saves the
   * next caller, so it waits until the callers are done. A spec's first containers do not wait.
   */
  private mayFill(): boolean {
    return this.busy === 0 || (this.options.cores ?? availableParallelism()) - this.busy >= 2 * this.busy;
  }

  /** Stops refilling, removes the ready containers and waits for starts in flight (each is removed too). */
  async drain(): Promise<void> {
    this.draining = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    const closing: Promise<void>[] = [...this.starting].map((session) => session.close());
    for (const state of this.specs.values()) closing.push(...state.ready.splice(0).map((r) => r.session.close()));
    this.specs.clear();
    this.count();
    await Promise.allSettled([...this.fills, ...closing]);
    this.unregister();
  }

  private missed(miss: WarmMiss): { miss: WarmMiss } {
    sandboxMetrics.warmTakes.inc({ result: miss === 'off' ? 'off' : 'miss' });
    return { miss };
  }

  private count(): void {
    sandboxMetrics.warm.set(this.warm);
  }

  private held(): { containers: number; bytes: number } {
    let containers = 0;
    let bytes = 0;
    for (const state of this.specs.values()) {
      const each = CONTAINER_BYTES + (state.spec.copy?.bytes.length ?? 0);
      containers += state.ready.length + state.filling;
      bytes += each * (state.ready.length + state.filling);
    }
    return { containers, bytes };
  }

  /**
   * Writing the caller's lease costs an exec beside the caller's first command (about 50 ms here,
   * the engine serialising a container's execs); most callers are done long before the idle lease
   * (at least a minute) ends, and then the container is removed anyway. So the lease is written
   * only for a caller still running 30 s before the idle lease would end. A warm container thus
   * ends, if fixwright is killed, at the later of its idle lease and its caller's.
   */
  private renewal(session: SandboxSession, leaseEnds: number, leaseSeconds: number): LeaseRenewal {
    const takenAt = Date.now();
    if (takenAt + leaseSeconds * 1000 <= leaseEnds) return { renewed: Promise.resolve(), done: () => undefined };
    let settle!: (error?: unknown) => void;
    const renewed = new Promise<void>(
      (resolve, reject) => (settle = (error) => (error === undefined ? resolve() : reject(error))),
    );
    renewed.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined = setTimeout(
      () => {
        timer = undefined;
        // The caller's lease, counted from when it took the container.
        const left = Math.max(1, Math.ceil((takenAt + leaseSeconds * 1000 - Date.now()) / 1000));
        session.renewLease(left).then(
          () => settle(),
          (err: unknown) => {
            // Nothing may run on with only its idle lease: the container is removed.
            this.options.logger?.warn(
              { err, container: session.id.slice(0, 12) },
              'could not renew a warm sandbox lease; it is removed',
            );
            void session.close();
            settle(err);
          },
        );
      },
      Math.max(0, leaseEnds - RENEW_AHEAD_MS - takenAt),
    );
    timer.unref();
    return {
      renewed,
      done: () => {
        if (!timer) return;
        clearTimeout(timer);
        timer = undefined;
        settle();
      },
    };
  }

  /** Removes ready containers too near the end of their idle lease to be handed out. */
  private dropExpired(state: SpecState, now: number): void {
    const keep = state.ready.filter((r) => r.leaseEnds - now >= MIN_LEASE_LEFT_MS);
    if (keep.length === state.ready.length) return;
    for (const r of state.ready) if (!keep.includes(r)) void r.session.close();
    state.ready = keep;
  }

  /** Forgets specs no one asked for lately (removing their containers), then starts what is missing. */
  private schedule(): void {
    if (this.draining) return;
    const now = Date.now();
    for (const state of this.specs.values()) this.dropExpired(state, now);
    for (const [key, state] of this.specs) {
      if (now - state.lastAsked <= this.options.idleSeconds * 1000) continue;
      for (const r of state.ready.splice(0)) void r.session.close();
      if (state.filling === 0) this.specs.delete(key);
    }
    this.count();
    const limit = this.options.fillConcurrency ?? 2;
    while (this.fills.size < limit) {
      const state = this.neediest(this.mayFill());
      if (!state) break;
      const fill = this.fill(state).finally(() => {
        this.fills.delete(fill);
        this.schedule();
      });
      this.fills.add(fill);
    }
    // While anything is warm or wanted, look again now and then: idle specs must be let go even if no one asks.
    if (this.specs.size > 0 && !this.sweeper) {
      this.sweeper = setInterval(() => this.schedule(), 5000);
      this.sweeper.unref();
    } else if (this.specs.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /**
   * The wanted spec furthest below its share of the pool, if the count and memory bounds allow one
   * more. When they do not, a ready container of a spec above its share (the one asked for least
   * lately) makes room: a run that moved on must not hold the pool from the next one.
   */
  private neediest(processorsFree: boolean): SpecState | undefined {
    const wanted = [...this.specs.values()].filter((s) => Date.now() - s.lastAsked <= this.options.idleSeconds * 1000);
    if (wanted.length === 0) return undefined;
    const share = Math.max(1, Math.floor(this.options.size / wanted.length));
    const have = (state: SpecState) => state.ready.length + state.filling;
    // A spec's first containers start at once, beside its first caller (an agent run's next sandbox
    // comes a moment later); its refills wait for free processors.
    const needy = wanted
      .filter((state) => have(state) < share && (processorsFree || state.taken === 0))
      .sort((a, b) => have(a) - have(b))[0];
    if (!needy) return undefined;
    const cost = CONTAINER_BYTES + (needy.spec.copy?.bytes.length ?? 0);
    for (;;) {
      const held = this.held();
      if (held.containers < this.options.size && held.bytes + cost <= this.options.memoryBytes) return needy;
      const donor = [...this.specs.values()]
        .filter((state) => state !== needy && state.ready.length > 0 && have(state) > share)
        .sort((a, b) => a.lastAsked - b.lastAsked)[0];
      if (!donor) return undefined;
      void donor.ready.shift()!.session.close();
      this.count();
    }
  }

  private async fill(state: SpecState): Promise<void> {
    state.filling += 1;
    const idleLease = this.options.idleSeconds + (2 * MIN_LEASE_LEFT_MS) / 1000;
    let session: SandboxSession | undefined;
    try {
      const openedAt = Date.now();
      session = await this.options.open(state.spec, idleLease, this.options.leaseBoundSeconds);
      this.starting.add(session);
      if (this.draining) throw new Error('the pool is draining');
      if (state.spec.copy) await session.copyRepo(state.spec.copy);
      this.starting.delete(session);
      if (this.draining || this.specs.get(WarmPool.keyOf(state.spec)) !== state) {
        void session.close();
        return;
      }
      state.ready.push({ session, leaseEnds: openedAt + idleLease * 1000, openedAt });
      sandboxMetrics.warmFills.inc({ result: 'ok' });
    } catch (err) {
      if (session) {
        this.starting.delete(session);
        void session.close();
      }
      // Stopped by drain: not a failure.
      if (this.draining) return;
      sandboxMetrics.warmFills.inc({ result: 'error' });
      this.options.logger?.warn({ err }, 'could not start a warm sandbox');
      // A spec that cannot start (a missing image, say) is not retried in a loop: it waits for its next request.
      state.lastAsked = 0;
    } finally {
      state.filling -= 1;
      this.count();
    }
  }
}
