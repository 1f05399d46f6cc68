import type { Settings, Logger } from '../core/index.js';
import { createQuickFixService } from '../quickfix/index.js';
import { createDockerClient, ensureDockerReachable } from '../sandbox/index.js';
import { createJsonServer } from './json-server.js';
import { editRoutes } from './routes/edit.js';

/** A worker's quick-fix port: `POST /v1/edit` and `GET /healthz` (503 without Docker), for an API that has no Docker. */
export interface EditServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves quick fixes where Docker is (a worker), for APIs that forward `/v1/edit` to it
 * (FIXWRIGHT_EDIT_URL). It listens on the compose network only: it has no keys of its own, the
 * API in front of it checks them.
 */
export async function startEditServer(
  settings: Settings,
  listen: { host: string; port: number },
  logger: Logger,
): Promise<EditServer> {
  const quickfix = createQuickFixService(settings, { logger });
  const app = createJsonServer({ logger, bodyLimitBytes: settings.service.bodyLimitBytes });
  // Ready means able to verify: without Docker the analysis container cannot run.
  const docker = createDockerClient(settings.dockerHost);
  app.get('/healthz', async (_request, reply) => {
    const ok = await ensureDockerReachable(docker, settings.dockerHost).then(
      () => true,
      () => false,
    );
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'no docker' });
  });
  await app.register(editRoutes(quickfix));
  app.addHook('preClose', () => quickfix.close());
  try {
    await app.listen({ host: listen.host, port: listen.port });
  } catch (err) {
    await quickfix.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : listen.port;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return { url: `http://${host}:${port}`, close: () => app.close() };
}
