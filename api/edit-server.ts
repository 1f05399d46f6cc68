import type { Settings } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { createQuickFixService } from '../quickfix/index.js';
import { createJsonServer } from './json-server.js';
import { editRoutes } from './routes/edit.js';

/** A worker's quick-fix port: `POST /v1/edit` and `GET /healthz`, for an API that has no Docker. */
export interface EditServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves quick fixes where Docker is (a worker), for APIs that forward `/v1/edit` to it
 * (FIXWRIGHT_EDIT_URL). It listens on the compose network only: it has no keys of its own, the
 * API in front of it checks them.
 */
export async function startEditServer(settings: Settings, listen: { host: string; port: number }, logger: Logger): Promise<EditServer> {
  const quickfix = createQuickFixService(settings, { logger });
  const app = createJsonServer({ logger, bodyLimitBytes: settings.service.bodyLimitBytes });
  app.get('/healthz', async () => ({ status: 'ok' }));
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
