import { lstatSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';

/** The rules a patch must keep before it is applied. */
export type PatchRule =
  'empty' | 'malformed' | 'absolute-path' | 'parent-dir' | 'git-dir' | 'binary' | 'symlink-escape';

/** One broken rule, with the path that broke it. */
export interface PatchViolation {
  rule: PatchRule;
  path?: string;
  message: string;
}

/** A file a patch touches. */
export interface PatchFile {
  oldPath?: string;
  newPath?: string;
  /** Set when the patch creates or changes a symbolic link (git mode 120000). */
  symlinkTarget?: string;
}

/** What `checkPatch` found. */
export interface PatchCheck {
  files: PatchFile[];
  violations: PatchViolation[];
}

const C_ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  '"': '"',
  '\\': '\\',
  a: '\x07',
  b: '\b',
  f: '\f',
  r: '\r',
  v: '\v',
};

/** Undoes git's C-style quoting of unusual path names ("a/t\303\251st"). */
function unquote(text: string): string {
  if (!text.startsWith('"') || !text.endsWith('"') || text.length < 2) return text;
  const bytes: number[] = [];
  const body = text.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch !== '\\') {
      bytes.push(...Buffer.from(ch));
      continue;
    }
    const next = body[i + 1] ?? '';
    if (/[0-7]/.test(next)) {
      bytes.push(parseInt(body.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      bytes.push(...Buffer.from(C_ESCAPES[next] ?? next));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Strips the a/ or b/ (or any -p1) prefix and a trailing timestamp; undefined for /dev/null. */
function headerPath(raw: string): string | undefined {
  let text = raw.replace(/\t.*$/, '').trimEnd();
  text = unquote(text);
  if (text === '/dev/null') return undefined;
  if (isAbsolute(text)) return text; // Kept whole so the absolute-path rule sees it.
  const slash = text.indexOf('/');
  return slash >= 0 ? text.slice(slash + 1) : text;
}

/** Splits `a/X b/Y` from a `diff --git` line, quoted or not. */
function gitHeaderPaths(rest: string): [string | undefined, string | undefined] {
  const quoted = /^("(?:[^"\\]|\\.)*")\s+("(?:[^"\\]|\\.)*")$/.exec(rest) ?? /^(\S+)\s+(\S+)$/.exec(rest);
  if (quoted) return [headerPath(quoted[1]!), headerPath(quoted[2]!)];
  // Unquoted names with spaces: split where " b/" starts the second half.
  const at = rest.indexOf(' b/');
  return at > 0 ? [headerPath(rest.slice(0, at)), headerPath(rest.slice(at + 1))] : [undefined, undefined];
}

/** The rules one repository-relative path must keep (absolute, `..`, `.git/`, control characters). */
export function pathViolations(path: string): PatchViolation[] {
  // eslint-disable-next-line no-control-regex -- control characters in a path are what this rule refuses
  if (path === '' || /[\x00-\x1f]/.test(path))
    return [{ rule: 'malformed', path, message: `path ${JSON.stringify(path)} is empty or holds control characters` }];
  if (isAbsolute(path) || /^[A-Za-z]:[\\/]/.test(path))
    return [
      {
        rule: 'absolute-path',
        path,
        message: `path '${path}' is absolute; patches may only name files inside the repository`,
      },
    ];
  const parts = path.split(/[\\/]+/);
  if (parts.includes('..'))
    return [{ rule: 'parent-dir', path, message: `path '${path}' uses '..' to leave the repository` }];
  if (parts.some((p) => p.toLowerCase() === '.git'))
    return [{ rule: 'git-dir', path, message: `path '${path}' is inside .git/, which patches may not touch` }];
  return [];
}

/** Does `path`, followed through symlinks that already exist in `repoDir`, stay inside it? */
function escapesThroughSymlink(repoDir: string, path: string): boolean {
  const root = realpathSync(repoDir);
  let current = root;
  for (const part of path.split('/').filter(Boolean)) {
    const next = join(current, part);
    let stat;
    try {
      stat = lstatSync(next);
    } catch {
      return false; // Does not exist yet: nothing to follow beyond here.
    }
    if (stat.isSymbolicLink()) {
      let target: string;
      try {
        target = realpathSync(next);
      } catch {
        return true; // A dangling link: refuse rather than guess where it points.
      }
      const rel = relative(root, target);
      if (rel.startsWith('..') || isAbsolute(rel)) return true;
      current = target;
    } else {
      current = next;
    }
  }
  return false;
}

/**
 * A new symlink may only point down: an absolute target or any `..` step is refused, because a
 * lexical check cannot see through links that other hunks of the same patch create.
 */
function symlinkTargetEscapes(target: string): boolean {
  return isAbsolute(target) || target.split(/[\\/]+/).includes('..');
}

/**
 * Reads a unified diff's headers and checks every path it touches. Hunk bodies are skipped by their
 * line counts, so a removed line that starts with "-- " is never mistaken for a header. When
 * `repoDir` is given, existing symlinks on the way to each path are followed and must stay inside.
 */
export function checkPatch(text: string, repoDir?: string): PatchCheck {
  const files: PatchFile[] = [];
  const violations: PatchViolation[] = [];
  if (text.trim() === '') return { files, violations: [{ rule: 'empty', message: 'the patch is empty' }] };
  if (text.includes('\0'))
    return { files, violations: [{ rule: 'binary', message: 'the patch holds NUL bytes (binary content)' }] };

  const lines = text.split('\n');
  // Every path any header names, checked at the end: git and patch each read different headers.
  const seen = new Set<string>();
  const see = (path: string | undefined) => {
    if (path !== undefined) seen.add(path);
  };
  let current: PatchFile | undefined;
  let symlinkMode = false;
  // True between a `diff --git` line and its first ---/+++ pair or hunk: the pair belongs to it.
  let gitHeaderOpen = false;
  const startFile = (file: PatchFile) => {
    current = file;
    symlinkMode = false;
    files.push(file);
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    let m: RegExpExecArray | null;
    if ((m = /^diff --git (.*)$/.exec(line))) {
      const [a, b] = gitHeaderPaths(m[1]!);
      see(a);
      see(b);
      startFile({ oldPath: a, newPath: b });
      gitHeaderOpen = true;
    } else if ((m = /^--- (.*)$/.exec(line)) && /^\+\+\+ /.test(lines[i + 1] ?? '')) {
      const oldPath = headerPath(m[1]!);
      const newPath = headerPath(lines[i + 1]!.slice(4));
      see(oldPath);
      see(newPath);
      if (gitHeaderOpen && current) {
        if (oldPath !== undefined) current.oldPath = oldPath;
        if (newPath !== undefined) current.newPath = newPath;
      } else {
        startFile({ oldPath, newPath });
      }
      gitHeaderOpen = false;
      i += 1;
    } else if ((m = /^(rename|copy) (from|to) (.*)$/.exec(line)) && current) {
      const path = unquote(m[3]!);
      see(path);
      if (m[2] === 'from') current.oldPath = path;
      else current.newPath = path;
    } else if (
      /^(new file mode|new mode|old mode|deleted file mode) 120000/.test(line) ||
      /^index \S+ 120000$/.test(line)
    ) {
      symlinkMode = true;
    } else if (/^\*\*\* |^\*{15}$|^Prereq: /.test(line)) {
      // patch(1) reads context diffs too; only unified hunks are checked, so nothing else may pass.
      violations.push({
        rule: 'malformed',
        message: `only unified diffs are accepted; found a context-diff line: ${JSON.stringify(line.slice(0, 60))}`,
      });
    } else if (/^GIT binary patch$/.test(line) || /^Binary files .* differ$/.test(line)) {
      violations.push({
        rule: 'binary',
        path: current?.newPath ?? current?.oldPath,
        message: `binary patches are not accepted (${current?.newPath ?? 'unknown file'})`,
      });
    } else if ((m = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/.exec(line))) {
      gitHeaderOpen = false;
      let oldLeft = m[1] === undefined ? 1 : Number(m[1]);
      let newLeft = m[2] === undefined ? 1 : Number(m[2]);
      const added: string[] = [];
      while ((oldLeft > 0 || newLeft > 0) && i + 1 < lines.length) {
        const body = lines[i + 1]!.replace(/\r$/, '');
        if (body.startsWith('\\')) {
          i += 1;
          continue;
        }
        const kind = body[0];
        if (kind === '-') oldLeft -= 1;
        else if (kind === '+') {
          newLeft -= 1;
          added.push(body.slice(1));
        } else if (kind === ' ' || body === '') {
          oldLeft -= 1;
          newLeft -= 1;
        } else break;
        i += 1;
      }
      if (oldLeft > 0 || newLeft > 0) {
        violations.push({
          rule: 'malformed',
          path: current?.newPath,
          message: `a hunk of ${current?.newPath ?? 'the patch'} is cut short (its line counts do not match its body)`,
        });
      }
      if (symlinkMode && current && added.length > 0) current.symlinkTarget = added[0];
    }
  }

  if (files.length === 0) {
    return {
      files,
      violations: [
        {
          rule: 'malformed',
          message: 'no file headers found: expected a unified diff (diff --git a/… b/… or ---/+++ lines)',
        },
      ],
    };
  }
  for (const path of seen) {
    const found = pathViolations(path);
    violations.push(...found);
    if (found.length === 0 && repoDir && escapesThroughSymlink(repoDir, path)) {
      violations.push({
        rule: 'symlink-escape',
        path,
        message: `path '${path}' goes through a symbolic link that leaves the repository`,
      });
    }
  }
  for (const file of files) {
    if (file.symlinkTarget !== undefined && file.newPath && symlinkTargetEscapes(file.symlinkTarget)) {
      violations.push({
        rule: 'symlink-escape',
        path: file.newPath,
        message: `the patch makes '${file.newPath}' a symbolic link to '${file.symlinkTarget}', outside the repository`,
      });
    }
  }
  return { files, violations };
}
