import { readFileSync, statSync } from 'node:fs';
import { isIssueUrl, readGithubIssue } from '../agent/github.js';
import type { Settings } from '../core/config.js';
import { FixwrightError } from '../core/errors.js';

/** The largest `--issue @FILE` read: room for a long issue with its logs, not for a dump. */
export const MAX_ISSUE_FILE_BYTES = 4 * 1024 * 1024;

/**
 * Reads `--issue`: the text itself, `@FILE`, or a GitHub issue URL (through the REST API). Empty
 * text and unreadable files are refused with what to pass instead.
 */
export async function readIssueArg(value: string | undefined, settings: Settings): Promise<string> {
  if (value === undefined) throw new FixwrightError('FW_ERR_BAD_INPUT', 'pass --issue TEXT or --issue @FILE', { field: '--issue' });
  if (/^https?:\/\//.test(value.trim())) {
    if (!isIssueUrl(value)) throw new FixwrightError('FW_ERR_BAD_INPUT', `not a GitHub issue URL: ${value} (expected https://github.com/OWNER/NAME/issues/N)`, { field: '--issue' });
    return readGithubIssue(value, settings.github);
  }
  let text = value;
  if (value.startsWith('@')) {
    const file = value.slice(1);
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a regular file');
      size = st.size;
    } catch (err) {
      throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read the issue file ${file}: ${(err as Error).message}`, { field: '--issue' });
    }
    // An issue is text a person wrote (GitHub caps a body at 65,536 characters); a device or a dump is refused before it is read.
    if (size > MAX_ISSUE_FILE_BYTES) throw new FixwrightError('FW_ERR_BAD_INPUT', `the issue file ${file} is ${size} bytes; an issue file may be at most ${MAX_ISSUE_FILE_BYTES} bytes`, { field: '--issue' });
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read the issue file ${file}: ${(err as Error).message}`, { field: '--issue' });
    }
  }
  if (!text.trim()) throw new FixwrightError('FW_ERR_BAD_INPUT', 'the issue text is empty: pass --issue TEXT or --issue @FILE', { field: '--issue' });
  return text;
}
