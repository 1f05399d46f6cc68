import { redisURLForDisplay, redisURLProblem, FixwrightError } from '../core/index.js';

/** `--queue`'s help: where the instances go, and what REDIS_URL does. */
export const QUEUE_HELP =
  "run every instance on `fixwright worker` processes (any machines with Docker) through this Redis: one BullMQ job per instance; without a URL, REDIS_URL's";

/**
 * The Redis URL of `--queue [url]` (none: a local run). REDIS_URL alone does not send a run to the
 * queue: it is also the service's setting, and a run must not leave this machine unasked; a line
 * says how to. `warn` gets that line.
 */
export function queueFlag(
  flag: string | boolean | undefined,
  redisURL: string | undefined,
  warn: (line: string) => void,
): string | undefined {
  if (flag === undefined || flag === false) {
    if (redisURL)
      warn(
        `fixwright: REDIS_URL is set, but this run is local; pass --queue to run its instances on the workers of ${redisURLForDisplay(redisURL)}\n`,
      );
    return undefined;
  }
  const url = flag === true ? redisURL : flag;
  if (!url)
    throw new FixwrightError('FW_ERR_BAD_INPUT', '--queue needs a Redis URL (--queue redis://host:6379) or REDIS_URL', {
      field: '--queue',
    });
  const problem = redisURLProblem(url);
  if (problem)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `--queue ${redisURLForDisplay(url)}: not a Redis URL (redis://host:6379 or rediss://…): ${problem}`,
      { field: '--queue' },
    );
  return url;
}
