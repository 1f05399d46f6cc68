import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../core/index.js';
import { quickfixMetrics } from './metrics.js';
import type { EditResponse } from './types.js';

/** What the cache keeps: the answer without its timings (a hit has its own). */
export type CachedAnswer = Omit<EditResponse, 'timings_ms' | 'tier' | 'cached_tier'> & { tier: 'rule' | 'model' };

/** How big the cache may grow, and where it is shared. */
export interface EditCacheOptions {
  maxEntries?: number;
  maxBytes?: number;
  /** Shares answers between API processes (REDIS_URL); the in-process LRU stays in front of it. */
  redis?: Redis;
  ttlSeconds?: number;
  logger?: Logger;
}

/** The cache key: sha256 over everything that shapes an answer (code, diagnostics, instruction, model, region, limits). */
export function cacheKey(parts: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

const REDIS_PREFIX = 'fixwright:edit-cache:';
/** A cache must never make a request slow: Redis gets this long before the lookup counts as a miss. */
const REDIS_TIMEOUT_MS = 250;

function withTimeout<T>(promise: Promise<T>): Promise<T | undefined> {
  return Promise.race([
    promise,
    new Promise<undefined>((r) => setTimeout(() => r(undefined), REDIS_TIMEOUT_MS).unref()),
  ]);
}

/** An LRU of quick-fix answers bounded by entries and bytes, optionally backed by Redis; hits and misses go to /metrics. */
export class EditCache {
  private readonly entries = new Map<string, { value: CachedAnswer; bytes: number }>();
  private bytes = 0;
  private readonly options: Required<Omit<EditCacheOptions, 'redis' | 'logger'>> &
    Pick<EditCacheOptions, 'redis' | 'logger'>;

  constructor(options: EditCacheOptions = {}) {
    this.options = { maxEntries: 1000, maxBytes: 64 * 1024 * 1024, ttlSeconds: 24 * 3600, ...options };
  }

  /** Entries held in this process. */
  get size(): number {
    return this.entries.size;
  }

  /** The answer stored under `key`, from this process or from Redis; counts a hit or a miss. */
  async get(key: string): Promise<CachedAnswer | undefined> {
    const local = this.entries.get(key);
    if (local) {
      // Most recently used goes to the back; eviction takes from the front.
      this.entries.delete(key);
      this.entries.set(key, local);
      quickfixMetrics.cacheLookups.inc({ result: 'hit' });
      return local.value;
    }
    const { redis } = this.options;
    if (redis) {
      try {
        const text = await withTimeout(redis.get(REDIS_PREFIX + key));
        if (text) {
          const value = JSON.parse(text) as CachedAnswer;
          this.remember(key, value, text.length);
          quickfixMetrics.cacheLookups.inc({ result: 'hit' });
          return value;
        }
      } catch (err) {
        this.options.logger?.warn({ err }, 'the quick-fix cache could not read from Redis; treating it as a miss');
      }
    }
    quickfixMetrics.cacheLookups.inc({ result: 'miss' });
    return undefined;
  }

  /** Stores an answer here and in Redis (when shared). */
  async set(key: string, value: CachedAnswer): Promise<void> {
    const text = JSON.stringify(value);
    this.remember(key, value, text.length);
    if (this.options.redis) {
      await withTimeout(this.options.redis.set(REDIS_PREFIX + key, text, 'EX', this.options.ttlSeconds)).catch(
        (err: unknown) => {
          this.options.logger?.warn({ err }, 'the quick-fix cache could not write to Redis');
        },
      );
    }
  }

  private remember(key: string, value: CachedAnswer, bytes: number): void {
    if (bytes > this.options.maxBytes / 4) return; // one giant answer must not flush everything else
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= old.bytes;
      this.entries.delete(key);
    }
    this.entries.set(key, { value, bytes });
    this.bytes += bytes;
    for (const [k, entry] of this.entries) {
      if (this.entries.size <= this.options.maxEntries && this.bytes <= this.options.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= entry.bytes;
    }
  }
}
