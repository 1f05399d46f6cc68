/**
 * Per-repository test-log parsers, ported from the official SWE-bench harness
 * (swebench/harness/log_parsers/python.py at v4.1.0) so verdicts match it, quirks included: a
 * test id is the second whitespace-separated token of a status line, so a parametrised id with a
 * space is cut there (the dataset's ids are cut the same way), and later lines win.
 */

/** Statuses the official parsers record. */
export type LogStatus = 'PASSED' | 'FAILED' | 'SKIPPED' | 'ERROR' | 'XFAIL';

/** Which parser a repository uses. */
export type LogParserName = 'pytest' | 'pytest_options' | 'seaborn';

const STATUSES: readonly LogStatus[] = ['FAILED', 'PASSED', 'SKIPPED', 'ERROR', 'XFAIL'];

/** `parse_log_pytest`: every line starting with a status word. */
export function parsePytestLog(log: string): Record<string, LogStatus> {
  const map: Record<string, LogStatus> = {};
  for (const raw of log.split('\n')) {
    let line = raw;
    const status = STATUSES.find((s) => line.startsWith(s));
    if (!status) continue;
    if (line.startsWith('FAILED')) line = line.replace(' - ', ' ');
    const tokens = line.split(/\s+/).filter(Boolean);
    if (tokens.length <= 1) continue;
    map[tokens[1]!] = tokens[0] as LogStatus;
  }
  return map;
}

/** `parse_log_pytest_options`: as above, with absolute paths inside brackets cut to their last part. */
export function parsePytestOptionsLog(log: string): Record<string, LogStatus> {
  const map: Record<string, LogStatus> = {};
  for (const [id, status] of Object.entries(parsePytestLog(log))) {
    const m = /^(.*?)\[(.*)\]$/s.exec(id);
    let key = id;
    if (m) {
      const [, name, option] = m as unknown as [string, string, string];
      const cut = option.startsWith('/') && !option.startsWith('//') && !option.includes('*') ? `/${option.split('/').at(-1)}` : option;
      key = `${name}[${cut}]`;
    }
    map[key] = status;
  }
  return map;
}

/** `parse_log_seaborn`: FAILED and PASSED only (a missing test counts as failed anyway). */
export function parseSeabornLog(log: string): Record<string, LogStatus> {
  const map: Record<string, LogStatus> = {};
  for (const line of log.split('\n')) {
    if (line.startsWith('FAILED')) {
      const id = line.split(/\s+/)[1];
      if (id) map[id] = 'FAILED';
    } else if (line.includes(' PASSED ')) {
      const parts = line.split(/\s+/);
      if (parts[1] === 'PASSED' && parts[0]) map[parts[0]] = 'PASSED';
    } else if (line.startsWith('PASSED')) {
      const id = line.split(/\s+/)[1];
      if (id) map[id] = 'PASSED';
    }
  }
  return map;
}

/** The parser by name. */
export function parseTestLog(log: string, parser: LogParserName): Record<string, LogStatus> {
  return parser === 'seaborn' ? parseSeabornLog(log) : parser === 'pytest_options' ? parsePytestOptionsLog(log) : parsePytestLog(log);
}
