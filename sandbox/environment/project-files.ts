import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { RepoSource } from '../repo-source.js';

/** The files that say how a project is built and tested, read from its root (and a few known folders). */
export interface ProjectFiles {
  /** Every file path of the tree (repository-relative), to find packages and layouts. */
  paths: string[];
  /** Texts of the configuration files found (pyproject.toml, setup.cfg, requirements*.txt, …). */
  texts: Record<string, string>;
}

/** Configuration files that name a project's dependencies, Python version or test command. */
const CONFIG_FILE =
  /^(pyproject\.toml|setup\.cfg|setup\.py|tox\.ini|environment\.ya?ml|[^/]*requirements[^/]*\.(txt|in)|requirements\/[^/]+\.(txt|in)|\.fixwright\/environment\.(ya?ml|json))$/;
/** A configuration file larger than this is not a configuration file. */
const MAX_CONFIG_BYTES = 256 * 1024;
/** Directories that never hold the project's own packages or configuration. */
const SKIPPED_DIRS = new Set([
  '.git',
  'node_modules',
  '.tox',
  '.venv',
  'venv',
  '__pycache__',
  'build',
  'dist',
  '.eggs',
]);

function gitPaths(gitDir: string, commit: string): string[] {
  const r = spawnSync('git', ['--git-dir', gitDir, 'ls-tree', '-r', '--name-only', '-z', commit], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  if (r.status !== 0) throw new Error(`git ls-tree failed: ${r.stderr.trim()}`);
  return r.stdout.split('\0').filter(Boolean);
}

function gitText(gitDir: string, commit: string, path: string): string | undefined {
  const r = spawnSync('git', ['--git-dir', gitDir, 'show', `${commit}:${path}`], {
    encoding: 'utf8',
    maxBuffer: MAX_CONFIG_BYTES * 2,
  });
  return r.status === 0 && r.stdout.length <= MAX_CONFIG_BYTES ? r.stdout : undefined;
}

function dirPaths(root: string, prefix = '', out: string[] = []): string[] {
  for (const entry of readdirSync(join(root, prefix), { withFileTypes: true })) {
    if (SKIPPED_DIRS.has(entry.name)) continue;
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) dirPaths(root, rel, out);
    else if (entry.isFile()) out.push(rel);
    if (out.length > 200_000) break;
  }
  return out;
}

/** Reads a repository's file list and its configuration files, from git objects or a directory. */
export function readProjectFiles(source: RepoSource): ProjectFiles {
  const paths =
    source.kind === 'git'
      ? gitPaths(source.gitDir, source.commit)
      : existsSync(source.path)
        ? dirPaths(source.path)
        : [];
  const texts: Record<string, string> = {};
  for (const path of paths.filter((p) => CONFIG_FILE.test(p))) {
    let text: string | undefined;
    if (source.kind === 'git') text = gitText(source.gitDir, source.commit, path);
    else {
      const full = join(source.path, path);
      text = statSync(full).size <= MAX_CONFIG_BYTES ? readFileSync(full, 'utf8') : undefined;
    }
    if (text !== undefined) texts[path] = text;
  }
  return { paths, texts };
}
