import type { IncomingMessage, ServerResponse } from 'node:http';
import { Ajv } from 'ajv';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
} from 'fastify';
import type { Logger } from '../core/index.js';
import { bodyTooLargeMessage, replyWithError } from './http-errors.js';

/**
 * A Fastify instance that speaks fixwright's JSON: bodies validated as sent (no coercion), every
 * error as `{code, message, field?}`, unknown routes as FW_ERR_NOT_FOUND. The API and a worker's
 * quick-fix port are both built on it, so a caller sees one error shape from either.
 */
export function createJsonServer(options: { logger: Logger; bodyLimitBytes: number }): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimitBytes,
    trustProxy: false,
    // Requests are counted in fixwright_http_request_duration_seconds; logging each one would drown the log.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: 200 },
    // Errors fastify raises before a route runs (an over-long id, a bad content-length) keep the one error shape.
    frameworkErrors: (error, request, reply) => {
      const status = (error as FastifyError).statusCode ?? 400;
      // A refused WebSocket upgrade owns its socket outright (Node's HTTP server let go of it and no
      // route hook of @fastify/websocket runs here), so nothing closes it unless this does.
      if (request.headers.upgrade) {
        const socket = request.raw.socket;
        void (reply as FastifyReply).header('connection', 'close');
        (reply as FastifyReply).raw.once('finish', () => socket.destroySoon());
      }
      void (reply as FastifyReply).status(status).send({
        code: 'FW_ERR_BAD_INPUT',
        message: `${error.message} (${request.method} ${request.url.slice(0, 120)})`,
      });
    },
  });
  // A client that asks before sending a body (`Expect: 100-continue`, as curl does above 1 MB) and
  // declares more than the limit gets its 413 before it sends a byte. Answering once the body has
  // started would close a socket with unread data in it, and the reset can reach the client before
  // the 413 does: curl then reports only the 100.
  app.server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    if (Number(request.headers['content-length']) > options.bodyLimitBytes) {
      response.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
      response.end(
        JSON.stringify({ code: 'FW_ERR_BODY_TOO_LARGE', message: bodyTooLargeMessage(options.bodyLimitBytes) }),
      );
      return;
    }
    response.writeContinue();
    app.server.emit('request', request, response);
  });
  // Bodies are checked as sent; query strings and params are text, so those are coerced.
  const strict = new Ajv({
    allErrors: false,
    coerceTypes: false,
    useDefaults: true,
    removeAdditional: false,
    strict: false,
  });
  const coercing = new Ajv({
    allErrors: false,
    coerceTypes: true,
    useDefaults: true,
    removeAdditional: false,
    strict: false,
  });
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema));
  // JSON only: a text body is refused (415) rather than validated as a string.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler((err: FastifyError, request, reply) => replyWithError(err, request, reply));
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ code: 'FW_ERR_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );
  return app;
}
