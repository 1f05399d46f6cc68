import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/**
 * The directory holding fixwright's package.json. Assets (Dockerfiles, Python helpers) are read
 * from here so the same code works from `dist/` and from the sources under vitest.
 */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'sandbox'))) {
      cachedRoot = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('fixwright package root not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** Absolute path of a file shipped with fixwright, given relative to the package root. */
export function assetPath(relative: string): string {
  return join(packageRoot(), relative);
}
