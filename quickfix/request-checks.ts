import { FixwrightError } from '../core/index.js';
import { splitLines } from './python/text.js';
import type { EditRequest } from './types.js';

/** Code larger than this is refused (413) even when the body limit allows it: a quick fix is not a whole-repository job. */
export const MAX_CODE_BYTES = 1024 * 1024;
/** Default and ceiling of `max_edits`. */
export const DEFAULT_MAX_EDITS = 5;

/** A request after checks: the region within the code, limits filled in. */
export interface CheckedRequest extends EditRequest {
  max_edits: number;
  lineCount: number;
}

/**
 * Checks what a schema cannot: a language fixwright has an adapter for, non-blank code of a
 * sensible size, and a region inside the code. Each failure names the field to fix.
 */
export function checkEditRequest(request: EditRequest, languages: readonly string[]): CheckedRequest {
  if (!languages.includes(request.language)) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `unknown language ${JSON.stringify(request.language.slice(0, 40))}: quick fixes support ${languages.join(', ')}`,
      { field: 'language' },
    );
  }
  if (!request.code.trim())
    throw new FixwrightError('FW_ERR_BAD_INPUT', 'code is empty: send the file (or snippet) the edits are for', {
      field: 'code',
    });
  const bytes = Buffer.byteLength(request.code);
  if (bytes > MAX_CODE_BYTES)
    throw new FixwrightError(
      'FW_ERR_BODY_TOO_LARGE',
      `code is ${bytes} bytes; quick fixes take at most ${MAX_CODE_BYTES} bytes (send the file, not a bundle)`,
      { field: 'code' },
    );
  const lineCount = splitLines(request.code).length;
  if (request.start_line > lineCount)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `start_line ${request.start_line} is past the end of the code (${lineCount} lines)`,
      { field: 'start_line' },
    );
  if (request.end_line < request.start_line)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `end_line ${request.end_line} is before start_line ${request.start_line}`,
      { field: 'end_line' },
    );
  if (request.end_line > lineCount)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `end_line ${request.end_line} is past the end of the code (${lineCount} lines)`,
      { field: 'end_line' },
    );
  request.diagnostics.forEach((d, i) => {
    // A line the client states is a claim about this code: past its end it is wrong, not a hint.
    if (typeof d !== 'string' && d.line !== undefined && d.line > lineCount) {
      throw new FixwrightError(
        'FW_ERR_BAD_INPUT',
        `diagnostics[${i}].line ${d.line} is past the end of the code (${lineCount} lines)`,
        { field: `diagnostics.${i}.line` },
      );
    }
  });
  return { ...request, max_edits: request.max_edits ?? DEFAULT_MAX_EDITS, lineCount };
}
