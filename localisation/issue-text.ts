/**
 * Environment reports pasted into issues — `xr.show_versions()`, `sklearn.show_versions()`,
 * `python -m requests.help`, `pip freeze`, tox's `installed:` lines — list dozens of package
 * names and versions. They describe the reporter's machine, not the bug, yet lexical signals rank
 * the one module that prints them (`util/print_versions.py`, `help.py`) first for every such
 * issue. They are cut before ranking; the rest of the text is kept as written.
 *
 * A cut needs a report's shape and its vocabulary both, so a config snippet, a YAML file or a
 * dict literal that belongs to the bug stays: a run of `name: value` lines (or their JSON form)
 * counts only with several three-part versions or `None`s among its values and several keys that
 * reports use (python, OS, machine, numpy, …).
 */

/** Named in the learned ranker's name: bump it when this preparation changes, so old calibrations stop applying. */
export const ISSUE_TEXT_VERSION = 'issue-text-2';

/** `name: value`, `- name: value` or `"name": "value"`; every quantifier bounded, so no line can make it backtrack far. */
const KEY_VALUE =
  /^\s{0,40}(?:[-*+]\s{1,4})?"?([A-Za-z_][\w .\-/()[\]]{0,40}?)"?\s{0,8}:\s{0,8}"?([^\s"]{1,60}(?: \([^)]{0,120}\))?[^"]{0,60})"?,?\s{0,8}$/;
/** A JSON report's empty value (`"version": ""`). */
const EMPTY_JSON_VALUE = /^\s{0,40}"([^"]{1,40})"\s{0,8}:\s{0,8}"",?\s{0,8}$/;
const VERSION_LIKE = /^(?:v?\d+\.\d+\.\w+\S*(?: .*)?|None|null|unknown)$/i;
/** An exception line (`ValueError: …`) is the bug's own text, never part of a report. */
const EXCEPTION_KEY = /(?:Error|Exception|Warning)$/;
/** A line of only brackets or a rule, which reports are framed with. */
const FRAME = /^\s*(?:[{}[\](),]+|[-=_~*#]{3,})\s*$/;
/** Inside a report, a bracketed line continues the one above (show_versions' `[GCC 7.3.0]` after `python: …`). */
const CONTINUATION = /^\s{0,40}\[[^\]]{0,80}\]\s*$/;
/** Headers that reports print. */
const HEADER = /^\s*(?:INSTALLED VERSIONS|System:|Python deps:|Python dependencies:|BLAS:|Build Dependencies:)\s*$/i;
/** Keys environment reports use; a run needs several of them to count as one. */
const REPORT_KEYS = new Set([
  'python',
  'python-bits',
  'python_version',
  'implementation',
  'platform',
  'system',
  'release',
  'machine',
  'processor',
  'byteorder',
  'os',
  'os-release',
  'lc_all',
  'lang',
  'locale',
  'commit',
  'executable',
  'pip',
  'setuptools',
  'numpy',
  'scipy',
  'pandas',
  'cython',
  'matplotlib',
  'sklearn',
  'scikit-learn',
  'conda',
  'ipython',
  'sphinx',
  'pytest',
  'dask',
  'libhdf5',
  'libnetcdf',
  'lapack',
  'blas',
  'openssl_version',
  'threadpoolctl',
  'joblib',
]);
/** A pin: `name==1.2.3` (`pip freeze`), `name[extra]==1.2`. */
const PIN = /^[A-Za-z][\w.\-[\]]{0,100}==\d[\w.\-+!]{0,60}$/;
/** The label a pin line may start with (`py37 installed:`, `pytest522:`). */
const PIN_LABEL = /^[^:=]{0,60}:\s/;

/** The smallest run of report lines worth cutting: fewer could be a short snippet of the bug itself. */
const MIN_REPORT_LINES = 5;
/** Of which this many must carry three-part versions or None, so a dict literal in a code sample (`"lr": 0.1`) stays. */
const MIN_VERSION_VALUES = 3;
/** And this many distinct keys reports use, so a config snippet with versions in it (`rev: 2.13.0`) stays. */
const MIN_REPORT_KEYS = 2;

interface KeyValue {
  key: string;
  version: boolean;
}

function keyValue(line: string): KeyValue | undefined {
  const empty = EMPTY_JSON_VALUE.exec(line);
  if (empty) return { key: empty[1]!.toLowerCase(), version: false };
  const m = KEY_VALUE.exec(line);
  if (!m || EXCEPTION_KEY.test(m[1]!)) return undefined;
  return { key: m[1]!.trim().toLowerCase(), version: VERSION_LIKE.test(m[2]!.trim()) };
}

/** A line of nothing but pins, after an optional label: `attrs==19.3.0,pluggy==0.13.0`, `pytest522: pytest==5.2.2`. */
function pinLine(line: string): boolean {
  const body = line.trim().replace(PIN_LABEL, '');
  if (!body.includes('==')) return false;
  const parts = body.split(/[\s,]+/).filter(Boolean);
  return parts.length > 0 && parts.every((p) => PIN.test(p));
}

/** The issue text without pasted environment reports and lines of package pins. */
export function withoutEnvironmentReport(text: string): string {
  const lines = text.split('\n');
  const keep = lines.map((line) => !pinLine(line));
  const nextNonBlank: number[] = new Array(lines.length);
  for (let i = lines.length - 1, next = lines.length; i >= 0; i--) {
    nextNonBlank[i] = next;
    if (lines[i]!.trim() !== '') next = i;
  }
  let start = -1;
  let keyValues = 0;
  let versions = 0;
  let headed = false;
  const keys = new Set<string>();
  const close = (end: number) => {
    const known = [...keys].filter((k) => REPORT_KEYS.has(k)).length;
    if (
      start >= 0 &&
      keyValues >= MIN_REPORT_LINES &&
      versions >= MIN_VERSION_VALUES &&
      (headed || known >= MIN_REPORT_KEYS)
    ) {
      for (let i = start; i < end; i++) keep[i] = false;
    }
    start = -1;
    keyValues = 0;
    versions = 0;
    headed = false;
    keys.clear();
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') {
      // A blank line ends a report unless the report goes on after it (show_versions() prints
      // its packages after a blank line).
      if (start < 0) continue;
      const after = lines[nextNonBlank[i]!] ?? '';
      if (!(keyValue(after)?.version || HEADER.test(after))) close(i);
      continue;
    }
    const kv = keyValue(line);
    const header = HEADER.test(line);
    if (!kv && !header && !FRAME.test(line) && keep[i] && !(start >= 0 && CONTINUATION.test(line))) {
      close(i);
      continue;
    }
    if (start < 0) start = i;
    if (header) headed = true;
    if (kv) {
      keyValues++;
      if (kv.version) versions++;
      keys.add(kv.key);
    }
  }
  close(lines.length);
  return lines.filter((_, i) => keep[i]).join('\n');
}

/** The longest title read: a first line longer than this is a paragraph, not a title. */
const MAX_TITLE_CHARS = 300;

/**
 * An issue's title: its first non-blank line (a GitHub issue's title when the text is the title
 * and the body, as SWE-bench and the web UI give it), without markdown heading, quote or list
 * markers, at most MAX_TITLE_CHARS. The title is the reporter's own summary; the body is mostly
 * reproductions, output and logs, whose many words drown it in a search over the whole text.
 */
export function issueTitle(text: string): string {
  for (const line of text.split('\n')) {
    const title = line.replace(/^\s*(?:#{1,6}\s+|>\s*|[-*+]\s+)*/, '').trim();
    if (title) return title.slice(0, MAX_TITLE_CHARS);
  }
  return '';
}
