import { createServer } from 'node:http';
import type { Command } from 'commander';
import { checkModel, prepareDemoService } from '../../agent/index.js';
import { startService, startEditServer, type EditServer, startWorker } from '../../api/index.js';
import { loadSettings, type Settings, FixwrightError } from '../../core/index.js';
import { createLogger } from '../../core/logger.js';
import { metricsRegistry } from '../../core/metrics.js';
import { reposDirFlag, wholeNumber } from '../flags.js';
import { onShutdown } from '../shutdown.js';

/**
 * Checks the configured model endpoint in the background (one short GET {baseURL}/models): a wrong
 * key or an endpoint that does not answer is reported at start, not first in a task. Only a warning:
 * the provider may come up later, and each task's failure carries the reason too.
 */
function warnIfModelUnreachable(settings: Settings, who: string): void {
  const model = settings.models.chatModel;
  if (!model) return;
  void checkModel({ model, baseURL: settings.models.baseURL }, settings, { timeoutMs: 3000 }).catch((err: unknown) =>
    process.stderr.write(`fixwright ${who}: warning: ${(err as Error).message}\n`),
  );
}

/**
 * A listen failure the user can fix (a busy port, an address not on this machine, a privileged
 * port) as one line naming the flag; anything else is passed on as it is.
 */
function explainListenError(err: unknown, flag: string, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${host}:${port}`;
  if (code === 'EADDRINUSE')
    return new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `${flag} ${port}: ${where} is already in use (another fixwright process?): stop what holds it or pass another ${flag}`,
      { field: flag },
    );
  if (code === 'EADDRNOTAVAIL')
    return new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `${where}: ${host} is not an address of this machine: pass another host (127.0.0.1, or 0.0.0.0 for every address)`,
      { field: flag },
    );
  if (code === 'EACCES')
    return new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `${flag} ${port}: not permitted to listen on ${where} (ports below 1024 need privileges): pass a port from 1024 up`,
      { field: flag },
    );
  return err;
}

/** Runs until a signal: the shutdown handler exits the process once work is drained. */
const untilShutdown = () => new Promise<never>(() => undefined);

/** `fixwright worker`'s flags as commander hands them over (strings until checked). */
interface WorkerFlags {
  concurrency: string;
  lockDuration: string;
  stalledInterval: string;
  metricsPort?: string;
  metricsHost: string;
  editPort?: string;
  editHost: string;
  repos?: string;
}

/** `fixwright serve`: the API (and, with `--demo`, the bundled demo), until a signal closes it. */
async function serve(flags: { host: string; port: string; demo?: boolean }, version: string): Promise<void> {
  const loaded = loadSettings(process.env);
  const port = wholeNumber(flags.port, '--port', 0, 65535);
  const logger = createLogger(loaded.logLevel);
  if (flags.demo && loaded.service.redisURL) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      '--demo runs the demo tasks in this process, next to its scripted model: unset REDIS_URL',
      { field: '--demo' },
    );
  }
  const demo = flags.demo ? await prepareDemoService(loaded) : undefined;
  const settings = demo?.settings ?? loaded;
  const service = await startService(settings, { host: flags.host, port, version, demo: demo?.task }, logger).catch(
    async (err: unknown) => {
      await demo?.close();
      throw explainListenError(err, '--port', flags.host, port);
    },
  );
  if (demo)
    process.stderr.write(
      `fixwright serve: demo mode: tasks use the bundled scripted model; press "Run the demo" at ${service.url}/ (repository ${demo.task.repo_path})\n`,
    );
  const queue =
    service.mode === 'redis'
      ? 'BullMQ on Redis: start `fixwright worker` to run tasks'
      : 'in-process (single machine; set REDIS_URL for workers)';
  process.stderr.write(`fixwright serve: ${service.url} (docs ${service.url}/docs), queue ${queue}\n`);
  warnIfModelUnreachable(settings, 'serve');
  onShutdown(async () => {
    await service.close();
    await demo?.close();
  });
  await untilShutdown();
}

/** Serves the process's Prometheus metrics on host:port/metrics; a port it cannot listen on is one clear error. */
async function startMetricsServer(host: string, port: number): Promise<ReturnType<typeof createServer>> {
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') return void response.writeHead(404).end();
    void metricsRegistry
      .metrics()
      .then((text) => response.writeHead(200, { 'content-type': metricsRegistry.contentType }).end(text));
  });
  await new Promise<void>((listening, failed) => server.once('error', failed).listen(port, host, listening)).catch(
    (err: unknown) => {
      throw explainListenError(err, '--metrics-port', host, port);
    },
  );
  return server;
}

/** `fixwright worker`: takes tasks and bench/eval instances from the queue (and, with `--edit-port`, quick fixes) until a signal. */
async function work(flags: WorkerFlags): Promise<void> {
  const settings = loadSettings(process.env);
  if (!settings.service.redisURL)
    throw new FixwrightError(
      'FW_ERR_CONFIG',
      'fixwright worker needs REDIS_URL (the queue it takes tasks from); without Redis, `fixwright serve` runs tasks itself',
    );
  const options = {
    concurrency: wholeNumber(flags.concurrency, '--concurrency', 1, 64),
    lockDurationMs: wholeNumber(flags.lockDuration, '--lock-duration', 1000, 3_600_000),
    stalledIntervalMs: wholeNumber(flags.stalledInterval, '--stalled-interval', 500, 3_600_000),
    reposDir: flags.repos === undefined ? undefined : reposDirFlag(flags.repos),
  };
  const metricsPort =
    flags.metricsPort === undefined ? undefined : wholeNumber(flags.metricsPort, '--metrics-port', 0, 65535);
  const editPort = flags.editPort === undefined ? undefined : wholeNumber(flags.editPort, '--edit-port', 0, 65535);
  const logger = createLogger(settings.logLevel);
  // The ports first: a worker that cannot listen must fail before it takes a job, not abandon one.
  const metrics = metricsPort === undefined ? undefined : await startMetricsServer(flags.metricsHost, metricsPort);
  let edits: EditServer | undefined;
  if (editPort !== undefined) {
    edits = await startEditServer(settings, { host: flags.editHost, port: editPort }, logger).catch((err: unknown) => {
      metrics?.close();
      throw explainListenError(err, '--edit-port', flags.editHost, editPort);
    });
  }
  const worker = await startWorker(settings, options, logger).catch(async (err: unknown) => {
    metrics?.close();
    await edits?.close();
    throw err;
  });
  process.stderr.write(
    `fixwright worker: taking tasks and bench/eval instances ` +
      `(concurrency ${options.concurrency} each)${edits ? `; quick fixes on ${edits.url}/v1/edit` : ''}\n`,
  );
  warnIfModelUnreachable(settings, 'worker');
  onShutdown(async () => {
    metrics?.close();
    await edits?.close();
    await worker.close(settings.service.shutdownGraceSeconds * 1000);
  });
  await untilShutdown();
}

/** `fixwright serve` (the API, and the in-process queue without Redis) and `fixwright worker` (BullMQ). */
export function registerServeCommands(program: Command, version: string): void {
  program
    .command('serve')
    .description(
      'run the REST + WebSocket API (OpenAPI docs at /docs); without REDIS_URL it also runs the tasks, in this process',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '8080')
    .option(
      '--demo',
      'demo mode: the bundled repository and scripted model (offline, no key), and a "Run the demo" button in the UI',
    )
    .action((flags: { host: string; port: string; demo?: boolean }) => serve(flags, version));

  program
    .command('worker')
    .description(
      'take tasks from the BullMQ queue (REDIS_URL) and run the agent on them, and the instances of ' +
        '`solve-dataset --queue` and `eval --queue`; start as many as you like, on any machine with Docker',
    )
    .option('--concurrency <n>', 'tasks this worker runs at once', '1')
    .option(
      '--lock-duration <ms>',
      "job lock lifetime: a killed worker's task is retried after about this long",
      '30000',
    )
    .option('--stalled-interval <ms>', 'how often to look for tasks whose worker was lost', '30000')
    .option('--metrics-port <port>', "serve this worker's Prometheus metrics on --metrics-host:PORT/metrics")
    .option('--metrics-host <host>', 'address for --metrics-port', '127.0.0.1')
    .option(
      '--edit-port <port>',
      'also answer quick fixes (POST /v1/edit) on --edit-host:PORT, for an API without Docker (its FIXWRIGHT_EDIT_URL)',
    )
    .option('--edit-host <host>', 'address for --edit-port', '127.0.0.1')
    .option(
      '--repos <dir>',
      'repositories as DIR/<owner>/<name> for `solve-dataset --queue` and `eval --queue` instances (default: cloned from GitHub into FIXWRIGHT_DATA_DIR/repos)',
    )
    .action(work);
}
