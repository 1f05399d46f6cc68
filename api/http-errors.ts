import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, FixwrightError, type ErrorCode } from '../core/index.js';

/** What fastify's own 4xx errors mean in fixwright's codes. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'FW_ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'FW_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'FW_ERR_BAD_INPUT',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'FW_ERR_BAD_INPUT',
  FST_ERR_CTP_INVALID_JSON_BODY: 'FW_ERR_BAD_INPUT',
};

/** The JSON path of the input a validation error is about (`repo_url`, `max_attempts`, …). */
function validationField(err: FastifyError): string | undefined {
  const first = err.validation?.[0];
  if (!first) return undefined;
  const params = first.params as Record<string, unknown>;
  const base = first.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const child = (params.missingProperty ?? params.additionalProperty) as string | undefined;
  const path = [base, child].filter(Boolean).join('.');
  return path || undefined;
}

/** What a field's pattern allows, in words: a raw regular expression tells a caller little. */
const PATTERN_HINTS: Record<string, string> = {
  commit: 'a commit SHA or a revision such as main or HEAD~1 (letters, digits and . _ / - ~ ^, not starting with -)',
  model: 'a model name such as gpt-4o-mini (letters, digits and . _ : / @ + -)',
};

function validationMessage(err: FastifyError, field: string | undefined): string {
  const first = err.validation?.[0];
  const params = (first?.params ?? {}) as Record<string, unknown>;
  const where = err.validationContext === 'body' ? '' : `${err.validationContext} `;
  if (first?.keyword === 'pattern' && field && PATTERN_HINTS[field])
    return `${where}${field} must be ${PATTERN_HINTS[field]}`;
  if (first?.keyword === 'required') return `${where}${field} is required`;
  if (first?.keyword === 'additionalProperties') return `${where}${field} is not a known field`;
  if (!field && first?.keyword === 'type' && err.validationContext === 'body') return 'the body must be a JSON object';
  if (first?.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    return `${where}${field ?? 'input'} must be one of: ${params.allowedValues.join(', ')}`;
  }
  return `${where}${field ?? 'input'} ${first?.message ?? 'is invalid'}${params.allowedValues ? ` (${(params.allowedValues as unknown[]).join(', ')})` : ''}`;
}

/** What a caller whose body is over the limit reads (the limit is FIXWRIGHT_BODY_LIMIT). */
export function bodyTooLargeMessage(limitBytes: number): string {
  return `the body is larger than this server accepts (${limitBytes} bytes; FIXWRIGHT_BODY_LIMIT)`;
}

/**
 * The one error handler: every error becomes `{code, message, field?}` with its status. Expected
 * errors say what to fix; anything else is a 500 whose message names only the request id (the
 * details go to the log, never to the caller).
 */
export function replyWithError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err.validation) {
    const field = validationField(err);
    return reply
      .status(400)
      .send({ code: 'FW_ERR_BAD_INPUT', message: validationMessage(err, field), ...(field ? { field } : {}) });
  }
  if (err instanceof FixwrightError) {
    if (err.status >= 500) request.log.error({ err }, 'request failed');
    return reply
      .status(err.status)
      .send({ code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) });
  }
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code =
      FASTIFY_CODES[err.code] ??
      (Object.entries(ERROR_CODES).find(([, s]) => s === status)?.[0] as ErrorCode | undefined) ??
      'FW_ERR_BAD_INPUT';
    const message =
      err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError
        ? `the body is not valid JSON: ${err.message}`
        : code === 'FW_ERR_UNSUPPORTED_MEDIA_TYPE'
          ? `send the body as JSON (content-type: application/json); got ${request.headers['content-type'] ?? 'no content-type'}`
          : code === 'FW_ERR_BODY_TOO_LARGE'
            ? bodyTooLargeMessage(request.server.initialConfig.bodyLimit ?? 0)
            : err.message;
    return reply.status(status).send({ code, message });
  }
  // The store (Redis) is down or unreachable: say so, as a 503 the caller may retry.
  if (
    /MaxRetriesPerRequest|ECONNREFUSED|Connection is closed|ETIMEDOUT|EHOSTUNREACH/.test(`${err.name} ${err.message}`)
  ) {
    request.log.error({ err }, 'the store is unreachable');
    return reply
      .status(503)
      .send({ code: 'FW_ERR_UNAVAILABLE', message: 'the task store (Redis) is unreachable; try again shortly' });
  }
  request.log.error({ err }, 'request failed');
  return reply.status(500).send({
    code: 'FW_ERR_INTERNAL',
    message: `internal error (request ${request.id}); the server log has the details`,
  });
}
