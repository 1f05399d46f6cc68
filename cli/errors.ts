import { isFixwrightError, OS_REASONS } from '../core/index.js';

/** Exit code for fixwright's own failures (as `docker run` uses 125 for its own). */
export const EXIT_FIXWRIGHT_ERROR = 125;
/** Exit code when the command policy refuses a program (as a shell's "cannot execute"). */
export const EXIT_NOT_ALLOWED = 126;
/** Exit code for bad flags and arguments. */
export const EXIT_USAGE = 2;

/**
 * One line for an OS error (errno code, syscall and path or address), or undefined for anything
 * else. ENOENT is left out on purpose: a missing file fixwright itself ships is a bug, and the
 * user's missing paths are checked where they are given.
 */
function osErrorLine(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (!(err instanceof Error) || typeof e.code !== 'string' || typeof e.syscall !== 'string') return undefined;
  const why = OS_REASONS[e.code];
  if (!why) return undefined;
  const what = e.path ?? (e.address ? `${e.address}${e.port === undefined ? '' : `:${e.port}`}` : undefined);
  return `cannot ${e.syscall}${what ? ` ${what}` : ''}: ${why} (${e.code})`;
}

/**
 * Prints an error the way a user needs it: one clean line for expected errors, the stack and a
 * request to report it for bugs. Returns the exit code.
 */
export function reportError(err: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  if (isFixwrightError(err)) {
    stderr.write(`fixwright: ${err.message}\n`);
    if (err.code === 'FW_ERR_COMMAND_NOT_ALLOWED') return EXIT_NOT_ALLOWED;
    if (err.code === 'FW_ERR_BAD_INPUT' || err.code === 'FW_ERR_CONFIG' || err.code === 'FW_ERR_REPO_NOT_FOUND')
      return EXIT_USAGE;
    return EXIT_FIXWRIGHT_ERROR;
  }
  const os = osErrorLine(err);
  if (os) {
    stderr.write(`fixwright: ${os}\n`);
    return EXIT_FIXWRIGHT_ERROR;
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  stderr.write(`fixwright: internal error (please report it with the command you ran):\n${detail}\n`);
  return EXIT_FIXWRIGHT_ERROR;
}
