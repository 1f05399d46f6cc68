/**
 * Environment reports pasted into issues — `xr.show_versions()`, `sklearn.show_versions()`,
 * `python -m requests.help`, `pip freeze`, tox's `installed:` lines — list dozens of package
 * names and versions. They describe the reporter's machine, not the bug, yet lexical signals rank
 * the one module that prints them (`util/print_versions.py`, `help.py`) first for every such
 * issue. They are cut before ranking; the rest of the text is kept as written.
 */

/** `name: value`, `- name: value` or `"name": "value"` (a JSON report such as requests.help). */
const KEY_VALUE = /^\s*(?:[-*+]\s+)?"?([A-Za-z_][\w .\-/()[\]]{0,40}?)"?\s*:\s*"?([^\s"]{0,60}(?: \([^)]*\))?[^"]{0,60})"?,?\s*$/;
const VERSION_LIKE = /^(?:v?\d+\.\d+\.\w+\S*(?: .*)?|None|null|unknown)$/i;
/** A line of only brackets, rules or a header such as INSTALLED VERSIONS. */
const NEUTRAL = /^\s*(?:[{}[\](),]+|[-=_~*#]{3,}|INSTALLED VERSIONS|System:|Python deps:|Python dependencies:|BLAS:|Build Dependencies:)\s*$/i;
/** `name==1.2.3` pins, one per line or comma-separated (`pip freeze`, tox's `installed:` lines). */
const PIN = /\b[A-Za-z][\w.\-]*==\d+(?:\.\w+)+[\w.\-+!]*/g;

/** The smallest run of report lines worth cutting: fewer could be a short snippet of the bug itself. */
const MIN_REPORT_LINES = 5;
/** Of which this many must carry three-part versions or None, so a dict literal in a code sample (`"lr": 0.1`) stays. */
const MIN_VERSION_VALUES = 3;

function versionValued(line: string): boolean | undefined {
  const m = KEY_VALUE.exec(line);
  if (!m) return undefined;
  return VERSION_LIKE.test(m[2]!.trim());
}

/** The issue text without pasted environment reports and package pins. */
export function withoutEnvironmentReport(text: string): string {
  const lines = text.replace(PIN, ' ').split('\n');
  const keep = lines.map(() => true);
  let start = -1;
  let keyValues = 0;
  let versions = 0;
  const close = (end: number) => {
    if (start >= 0 && keyValues >= MIN_REPORT_LINES && versions >= MIN_VERSION_VALUES) for (let i = start; i < end; i++) keep[i] = false;
    start = -1;
    keyValues = 0;
    versions = 0;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const valued = versionValued(line);
    const neutral = line.trim() === '' || NEUTRAL.test(line);
    if (valued === undefined && !neutral) {
      close(i);
      continue;
    }
    if (start < 0) {
      if (neutral) continue;
      start = i;
    }
    if (valued !== undefined) {
      keyValues++;
      if (valued) versions++;
    }
  }
  close(lines.length);
  return lines.filter((_, i) => keep[i]).join('\n');
}
