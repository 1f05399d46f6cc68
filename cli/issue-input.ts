import { readFileSync } from 'node:fs';
import { isIssueUrl, readGithubIssue } from '../agent/github.js';
import type { Settings } from '../core/config.js';
import { FixwrightError } from '../core/errors.js';

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
    try {
      text = readFileSync(value.slice(1), 'utf8');
    } catch (err) {
      throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read the issue file ${value.slice(1)}: ${(err as Error).message}`, { field: '--issue' });
    }
  }
  if (!text.trim()) throw new FixwrightError('FW_ERR_BAD_INPUT', 'the issue text is empty: pass --issue TEXT or --issue @FILE', { field: '--issue' });
  return text;
}
