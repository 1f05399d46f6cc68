import { existsSync, lstatSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Errors the machine causes, not fixwright: the user can act on them, so they are not bugs to report. */
export const OS_REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder',
  EMFILE: 'too many open files (raise ulimit -n)',
  EADDRINUSE: 'the address is already in use',
  EADDRNOTAVAIL: 'the address is not on this machine',
};

/** What an errno means to someone naming a folder to create: the OS reasons, and two of its own. */
const WHY: Readonly<Record<string, string>> = {
  ...OS_REASONS,
  EEXIST: 'a file of that name is in the way',
  // /proc, /sys and some mounts refuse new entries with ENOENT though the parent exists.
  ENOENT: 'that file system does not take new folders',
};

/**
 * Creates a folder (and its missing parents), or throws `fail(why)` with why it cannot, in words.
 * Not `mkdirSync(…, { recursive: true })`: on /proc and similar mounts Node's recursive mkdir
 * loops forever on ENOENT (the parent "exists" yet refuses the child), pinning a core and blocking
 * the event loop so SIGTERM is never handled. Here each level is made once, so every path ends.
 */
export function makeDir(given: string, fail: (why: string) => Error): string {
  const dir = resolve(given);
  const missing: string[] = [];
  let at = dir;
  while (!existsSync(at)) {
    // A dangling symbolic link "does not exist", yet its name is taken.
    if (isLink(at)) throw fail(`${at} is a broken symbolic link`);
    missing.unshift(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  // `existsSync` is false below a file (ENOTDIR), so the first existing ancestor may be a file.
  if (existsSync(at) && !statSync(at).isDirectory())
    throw fail(at === dir ? 'it is a file' : `${at} is a file, not a folder`);
  for (const level of missing) {
    try {
      mkdirSync(level);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (code === 'EEXIST' && existsSync(level) && statSync(level).isDirectory()) continue; // made meanwhile by another process
      throw fail(`${WHY[code] ?? (err as Error).message} at ${level}${WHY[code] ? `, ${code}` : ''}`);
    }
  }
  return dir;
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
