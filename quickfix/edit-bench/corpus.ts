import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { FixwrightError } from '../../core/index.js';
import { firstSyntaxError, gitDirOf, readDirSnapshot, readGitSnapshot } from '../../localisation/index.js';
import { splitLines } from '../python/text.js';

/** One clean Python file a bug can be injected into. */
export interface CorpusFile {
  path: string;
  text: string;
}

/** Files worth a bug: parse cleanly, long enough to hold one, short enough for an editor's snippet. */
function usable(text: string): boolean {
  const lines = splitLines(text).length;
  return lines >= 10 && lines <= 3000 && text.length <= 150_000 && firstSyntaxError(text) === undefined;
}

/** Git repositories under a directory: the directory itself, or `DIR/<name>` and `DIR/<owner>/<name>` (the tuning-repository layout). */
function gitDirsUnder(dir: string): string[] {
  const own = gitDirOf(dir);
  if (own) return [own];
  const found: string[] = [];
  // statSync follows symlinks: mirrors are often linked into place.
  const subdirs = (d: string) =>
    readdirSync(d)
      .map((name) => join(d, name))
      .filter((p) => statSync(p, { throwIfNoEntry: false })?.isDirectory());
  for (const one of subdirs(dir)) {
    const git = gitDirOf(one);
    if (git) found.push(git);
    else
      for (const two of subdirs(one)) {
        const g = gitDirOf(two);
        if (g) found.push(g);
      }
  }
  return found;
}

/**
 * Reads a corpus of clean Python files: from git objects at HEAD when the directory holds git
 * repositories (bare mirrors need no checkout), else from the files under it.
 */
export async function readCorpus(dir: string): Promise<CorpusFile[]> {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new FixwrightError('FW_ERR_BAD_INPUT', `--corpus ${dir} is not a directory`, { field: '--corpus' });
  const gitDirs = gitDirsUnder(dir);
  const files: CorpusFile[] = [];
  if (gitDirs.length) {
    for (const gitDir of gitDirs) {
      const snapshot = await readGitSnapshot(gitDir, 'HEAD');
      const name = relative(dir, gitDir).replace(/\/\.git$/, '') || gitDir.split('/').pop()!;
      for (const f of snapshot.files) files.push({ path: `${name}/${f.path}`, text: f.text });
    }
  } else {
    for (const f of readDirSnapshot(dir).files) files.push({ path: f.path, text: f.text });
  }
  const clean = files.filter((f) => usable(f.text));
  if (clean.length === 0)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `--corpus ${dir} holds no usable Python files (10 to 3000 lines, parsing cleanly)`,
      { field: '--corpus' },
    );
  return clean;
}
