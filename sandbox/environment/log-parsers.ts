/**
 * Per-repository test-log parsers, ported from the official SWE-bench harness
 * (swebench/harness/log_parsers/python.py at v4.1.0) so verdicts match it, quirks included: a
 * test id is the second whitespace-separated token of a status line, so a parametrised id with a
 * space is cut there (the dataset's ids are cut the same way), and later lines win.
 */

/** Statuses the official parsers record. */
export type LogStatus = 'PASSED' | 'FAILED' | 'SKIPPED' | 'ERROR' | 'XFAIL';

/** Which parser a repository uses. */
export type LogParserName = 'pytest' | 'pytest_options' | 'pytest_v2' | 'seaborn' | 'matplotlib' | 'django' | 'sympy';

/** Every parser's name, for the environment table's schema. */
export const LOG_PARSER_NAMES = [
  'pytest',
  'pytest_options',
  'pytest_v2',
  'seaborn',
  'matplotlib',
  'django',
  'sympy',
] as const satisfies readonly LogParserName[];

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
    // Not anchored at the end, as the official re.search: anything after the last ] is dropped.
    const m = /(.*?)\[(.*)\]/s.exec(id);
    let key = id;
    if (m) {
      const [, name, option] = m as unknown as [string, string, string];
      const cut =
        option.startsWith('/') && !option.startsWith('//') && !option.includes('*')
          ? `/${option.split('/').at(-1)}`
          : option;
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
      const id = line.split(/\s+/).filter(Boolean)[1];
      if (id) map[id] = 'FAILED';
    } else if (line.includes(' PASSED ')) {
      const parts = line.split(/\s+/).filter(Boolean);
      if (parts[1] === 'PASSED' && parts[0]) map[parts[0]] = 'PASSED';
    } else if (line.startsWith('PASSED')) {
      const id = line.split(/\s+/).filter(Boolean)[1];
      if (id) map[id] = 'PASSED';
    }
  }
  return map;
}

/**
 * `parse_log_pytest_v2` (astropy, scikit-learn, sphinx): colour codes and control characters
 * removed first; older pytest versions' `test STATUS` lines are read too.
 */
export function parsePytestV2Log(log: string): Record<string, LogStatus> {
  const map: Record<string, LogStatus> = {};
  for (const raw of log.split('\n')) {
    // eslint-disable-next-line no-control-regex -- the official parser strips these control characters from each line
    let line = raw.replace(/\[(\d+)m/g, '').replace(/[\x01-\x1f]/g, '');
    if (STATUSES.some((s) => line.startsWith(s))) {
      if (line.startsWith('FAILED')) line = line.replace(' - ', ' ');
      const tokens = line.split(/\s+/).filter(Boolean);
      if (tokens.length >= 2) map[tokens[1]!] = tokens[0] as LogStatus;
    } else {
      // `id STATUS` (older pytest, or a verbose line such as `id PASSED [ 50%]` when no -rA summary follows).
      const tokens = line.split(/\s+/).filter(Boolean);
      if (tokens.length >= 2 && (STATUSES as readonly string[]).includes(tokens[1]!))
        map[tokens[0]!] = tokens[1] as LogStatus;
    }
  }
  return map;
}

/** `parse_log_matplotlib`: the pytest parser with mouse-button enum names written as numbers. */
export function parseMatplotlibLog(log: string): Record<string, LogStatus> {
  return parsePytestLog(log.replaceAll('MouseButton.LEFT', '1').replaceAll('MouseButton.RIGHT', '3'));
}

/**
 * `parse_log_django`: Django's runner at verbosity 2 prints `name (module.Class) ... ok`; a test
 * whose own output lands between `...` and `ok` is credited to the last `...` line seen.
 */
export function parseDjangoLog(log: string): Record<string, LogStatus> {
  const map: Record<string, LogStatus> = {};
  let prevTest: string | null = null;
  for (const raw of log.split('\n')) {
    let line = raw.trim();
    if (line.includes('--version is equivalent to version')) map['--version is equivalent to version'] = 'PASSED';
    if (line.includes(' ... ')) prevTest = line.split(' ... ')[0]!;
    for (const suffix of [' ... ok', ' ... OK', ' ...  OK']) {
      if (!line.endsWith(suffix)) continue;
      // The official harness's special case for django__django-7188 (a migration message on the test's line).
      if (line.startsWith('Applying sites.0002_alter_domain_unique...test_no_migrations'))
        line = line.split('...').slice(1).join('...').trim();
      map[line.slice(0, line.lastIndexOf(suffix))] = 'PASSED';
      break;
    }
    if (line.includes(' ... skipped')) map[line.split(' ... skipped')[0]!] = 'SKIPPED';
    if (line.endsWith(' ... FAIL')) map[line.split(' ... FAIL')[0]!] = 'FAILED';
    if (line.startsWith('FAIL:')) {
      const id = line.split(/\s+/)[1];
      if (id) map[id.trim()] = 'FAILED';
    }
    if (line.endsWith(' ... ERROR')) map[line.split(' ... ERROR')[0]!] = 'ERROR';
    if (line.startsWith('ERROR:')) {
      const id = line.split(/\s+/)[1];
      if (id) map[id.trim()] = 'ERROR';
    }
    if (line.startsWith('ok') && prevTest !== null) map[prevTest] = 'PASSED';
  }
  // Output that interrupts a test's line before its `ok` (seen in three forms in Django's logs).
  const interrupted = [
    /^(.*?)\s\.\.\.\sTesting against Django installed in ([\s\S]*?) silenced\)\.\nok$/gm,
    /^(.*?)\s\.\.\.\sInternal Server Error: \/(.*)\/\nok$/gm,
    /^(.*?)\s\.\.\.\sSystem check identified no issues \(0 silenced\)\nok$/gm,
  ];
  for (const pattern of interrupted) for (const m of log.matchAll(pattern)) map[m[1]!] = 'PASSED';
  return map;
}

/**
 * `parse_log_sympy`: `bin/test --verbose` prints `test_name ok|F|E` per test, and a
 * `____ path.py:test_name ____` header over each failure's traceback.
 */
export function parseSympyLog(log: string): Record<string, LogStatus> {
  const map: Record<string, LogStatus> = {};
  for (const m of log.matchAll(/(_*) (.*)\.py:(.*) (_*)/g)) map[`${m[2]}.py:${m[3]}`] = 'FAILED';
  for (const raw of log.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('test_')) continue;
    const id = line.split(/\s+/)[0]!;
    if (line.endsWith(' E')) map[id] = 'ERROR';
    if (line.endsWith(' F')) map[id] = 'FAILED';
    if (line.endsWith(' ok')) map[id] = 'PASSED';
  }
  return map;
}

const PARSERS: Record<LogParserName, (log: string) => Record<string, LogStatus>> = {
  pytest: parsePytestLog,
  pytest_options: parsePytestOptionsLog,
  pytest_v2: parsePytestV2Log,
  seaborn: parseSeabornLog,
  matplotlib: parseMatplotlibLog,
  django: parseDjangoLog,
  sympy: parseSympyLog,
};

/** The parser by name. */
export function parseTestLog(log: string, parser: LogParserName): Record<string, LogStatus> {
  return PARSERS[parser](log);
}
