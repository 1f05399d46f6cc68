import { isFixwrightError } from '../core/errors.js';

/** Exit code for fixwright's own failures (as `docker run` uses 125 for its own). */
export const EXIT_FIXWRIGHT_ERROR = 125;
/** Exit code when the command policy refuses a program (as a shell's "cannot execute"). */
export const EXIT_NOT_ALLOWED = 126;
/** Exit code for bad flags and arguments. */
export const EXIT_USAGE = 2;

/**
 * Prints an error the way a user needs it: one clean line for expected errors, the stack and a
 * request to report it for bugs. Returns the exit code.
 */
export function reportError(err: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  if (isFixwrightError(err)) {
    stderr.write(`fixwright: ${err.message}\n`);
    if (err.code === 'FW_ERR_COMMAND_NOT_ALLOWED') return EXIT_NOT_ALLOWED;
    if (err.code === 'FW_ERR_BAD_INPUT' || err.code === 'FW_ERR_CONFIG' || err.code === 'FW_ERR_REPO_NOT_FOUND') return EXIT_USAGE;
    return EXIT_FIXWRIGHT_ERROR;
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  stderr.write(`fixwright: internal error (please report it with the command you ran):\n${detail}\n`);
  return EXIT_FIXWRIGHT_ERROR;
}
