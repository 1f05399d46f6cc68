/**
 * Every expected failure in fixwright is a FixwrightError with a stable code, so the CLI can print
 * one clean line and the API can answer `{code, message}` without leaking internals.
 */

/** Stable error codes with the HTTP status they map to when they cross the API boundary. */
export const ERROR_CODES = {
  FW_ERR_CONFIG: 500,
  FW_ERR_BAD_INPUT: 400,
  FW_ERR_REPO_NOT_FOUND: 400,
  FW_ERR_DOCKER_UNREACHABLE: 503,
  FW_ERR_IMAGE_NOT_FOUND: 400,
  FW_ERR_IMAGE_BUILD: 500,
  FW_ERR_COMMAND_NOT_ALLOWED: 400,
  FW_ERR_SANDBOX: 500,
  FW_ERR_SANDBOX_CLOSED: 500,
  FW_ERR_PATCH_REJECTED: 422,
  FW_ERR_PATCH_DOES_NOT_APPLY: 422,
  FW_ERR_MODEL: 502,
  FW_ERR_CANCELLED: 499,
  FW_ERR_UNAUTHORIZED: 401,
  FW_ERR_FORBIDDEN: 403,
  FW_ERR_NOT_FOUND: 404,
  FW_ERR_CONFLICT: 409,
  FW_ERR_BODY_TOO_LARGE: 413,
  FW_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  FW_ERR_RATE_LIMITED: 429,
  FW_ERR_INTERNAL: 500,
  FW_ERR_UNAVAILABLE: 503,
} as const;

/** One of the stable `FW_ERR_…` codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** An error a user can act on: its message says what went wrong and what to do. */
export class FixwrightError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** JSON path or flag name of the bad input, when one input is to blame. */
  readonly field?: string;

  constructor(code: ErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FixwrightError';
    this.code = code;
    this.status = ERROR_CODES[code];
    if (options.field !== undefined) this.field = options.field;
  }
}

/** True for errors fixwright raised on purpose (as opposed to bugs). */
export function isFixwrightError(err: unknown): err is FixwrightError {
  return err instanceof FixwrightError;
}
