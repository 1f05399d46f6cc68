import { ERROR_CODES, FixwrightError, type ErrorCode } from '../core/index.js';
import type { EditRequest, EditResponse } from '../quickfix/index.js';

/** What `POST /v1/edit` needs of a quick-fix service. */
export interface EditAnswerer {
  edit(request: EditRequest): Promise<EditResponse>;
}

const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && code in ERROR_CODES;

/**
 * Quick fixes answered by another process: the API container holds no Docker socket, so it hands
 * `/v1/edit` to a worker started with `--edit-port` (FIXWRIGHT_EDIT_URL), where the analysis
 * container can run. The worker validates again and answers with the same body and status.
 */
export class RemoteEditService implements EditAnswerer {
  private readonly url: string;

  constructor(
    baseURL: string,
    private readonly timeoutMs: number,
  ) {
    this.url = new URL('/v1/edit', baseURL).toString();
  }

  async edit(request: EditRequest): Promise<EditResponse> {
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const why =
        (err as Error).name === 'TimeoutError'
          ? `no answer within ${Math.round(this.timeoutMs / 1000)} s`
          : ((err as { cause?: Error }).cause?.message ?? (err as Error).message);
      throw new FixwrightError(
        'FW_ERR_UNAVAILABLE',
        `quick fixes are answered by the worker at ${this.url} (FIXWRIGHT_EDIT_URL), which cannot be reached: ${why}; start a worker with --edit-port`,
      );
    }
    const body = (await response.json().catch(() => undefined)) as
      { code?: unknown; message?: unknown; field?: unknown } | undefined;
    if (response.ok && body) return body as unknown as EditResponse;
    // The worker's own 4xx (a diagnostic past the end of the code…) reach the caller unchanged.
    if (body && isErrorCode(body.code) && typeof body.message === 'string') {
      throw new FixwrightError(body.code, body.message, typeof body.field === 'string' ? { field: body.field } : {});
    }
    throw new FixwrightError(
      'FW_ERR_UNAVAILABLE',
      `the quick-fix worker at ${this.url} answered HTTP ${response.status} without a fixwright error body`,
    );
  }
}
