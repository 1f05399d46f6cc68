import { InstanceQueueClient } from '../benchmarks/queue/index.js';
import { redisURLForDisplay } from '../core/index.js';

/**
 * Connects `eval --queue` or `solve-dataset --queue` to the instance queue and says, in one line,
 * what goes to its workers and how many wait there (none: how to start one). Apart from
 * queue-flag.ts so that reading the flag loads no BullMQ.
 */
export async function connectQueue(queueURL: string, what: string): Promise<InstanceQueueClient> {
  const shown = redisURLForDisplay(queueURL);
  const queue = await InstanceQueueClient.connect(
    queueURL,
    (err) => process.stderr.write(`fixwright: the queue's Redis is unreachable (${err.message}); retrying\n`),
    'fixwright',
    5000,
    { line: (text) => process.stderr.write(text) },
  );
  const connected = await queue.workers();
  const hint = connected === 0 ? `: start \`fixwright worker\` with REDIS_URL=${shown} on machines with Docker` : '';
  process.stderr.write(`fixwright: queue ${shown}: ${what} go to the workers (${connected} connected now${hint})\n`);
  return queue;
}
