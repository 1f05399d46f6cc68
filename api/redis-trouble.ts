import type { Logger } from '../core/index.js';

/** Logs an unreachable Redis once per outage (ioredis retries on its own), not a stack per retry. */
export function redisTrouble(logger: Logger): (err: Error) => void {
  let last = 0;
  return (err) => {
    if (Date.now() - last < 30_000) return;
    last = Date.now();
    logger.error({ err: err.message }, 'Redis is unreachable (REDIS_URL); retrying');
  };
}
