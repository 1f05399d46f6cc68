import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { isIssueUrl, readGithubIssue } from '../agent/github.js';
import { type Settings, FixwrightError } from '../core/index.js';

/** The largest `--issue @FILE` read: room for a long issue with its logs, not for a dump. */
export const MAX_ISSUE_FILE_BYTES = 4 * 1024 * 1024;

/**
 * Reads `--issue`: the text itself, `@FILE`, or a GitHub issue URL (through the REST API). Empty
 * text and unreadable files are refused with what to pass instead.
 */
export async function readIssueArg(value: string | undefined, settings: Settings): Promise<string> {
  if (value === undefined)
    throw new FixwrightError('FW_ERR_BAD_INPUT', 'pass --issue TEXT or --issue @FILE', { field: '--issue' });
  if (/^https?:\/\//.test(value.trim())) {
    if (!isIssueUrl(value))
      throw new FixwrightError(
        'FW_ERR_BAD_INPUT',
        `not a GitHub issue URL: ${value} (expected https://github.com/OWNER/NAME/issues/N)`,
        { field: '--issue' },
      );
    return readGithubIssue(value, settings.github);
  }
  let text = value;
  if (value.startsWith('@')) text = readIssueFile(value.slice(1));
  if (!text.trim())
    throw new FixwrightError('FW_ERR_BAD_INPUT', 'the issue text is empty: pass --issue TEXT or --issue @FILE', {
      field: '--issue',
    });
  return text;
}

/**
 * An `@FILE` issue: a file, a pipe (`@-` or `@/dev/stdin` for standard input, `@<(cmd)`) or a device, read up to
 * MAX_ISSUE_FILE_BYTES; past that it is refused (a dump, or `/dev/zero`, is never read whole). A
 * directory is refused by its name.
 */
function readIssueFile(file: string): string {
  const bad = (why: string) =>
    new FixwrightError('FW_ERR_BAD_INPUT', `cannot read the issue file ${file}: ${why}`, { field: '--issue' });
  // Standard input is read from its descriptor: opening /dev/stdin fails when it is a socket.
  const stdin = file === '-' || file === '/dev/stdin';
  let fd: number;
  try {
    if (stdin) fd = 0;
    else {
      if (statSync(file).isDirectory()) throw new Error('it is a directory');
      fd = openSync(file, 'r');
    }
  } catch (err) {
    throw bad((err as Error).message);
  }
  try {
    const buffer = Buffer.alloc(MAX_ISSUE_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length > MAX_ISSUE_FILE_BYTES) {
        throw new FixwrightError(
          'FW_ERR_BAD_INPUT',
          `the issue file ${file} is over ${MAX_ISSUE_FILE_BYTES} bytes; an issue file may be at most ${MAX_ISSUE_FILE_BYTES} bytes`,
          { field: '--issue' },
        );
      }
    }
    return buffer.subarray(0, length).toString('utf8');
  } catch (err) {
    if (err instanceof FixwrightError) throw err;
    throw bad((err as Error).message);
  } finally {
    if (!stdin) closeSync(fd);
  }
}
