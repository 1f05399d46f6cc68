import { spawn, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import tarFs from 'tar-fs';
import { Pack, pack } from 'tar-stream';
import { FixwrightError } from '../core/index.js';

/**
 * Where a sandbox's repository copy comes from: a directory on the host, or a commit read straight
 * from git objects (no checkout needed). Either way the copy reaches the container as a tar stream
 * through `docker exec`, so it works wherever the Docker engine runs, with no bind mount of a host
 * path into the sandbox.
 */
export type RepoSource =
  { kind: 'dir'; path: string; includeGit?: boolean } | { kind: 'git'; gitDir: string; commit: string };

/** Throws FW_ERR_REPO_NOT_FOUND unless the source can be read; returns it with absolute paths. */
export function checkRepoSource(source: RepoSource): RepoSource {
  if (source.kind === 'dir') {
    if (source.path.trim() === '')
      throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', 'no repository directory given (pass --repo DIR)', {
        field: 'repo',
      });
    const path = resolve(source.path);
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) {
      throw new FixwrightError(
        'FW_ERR_REPO_NOT_FOUND',
        `repository directory not found: ${source.path} (pass --repo with an existing directory)`,
        {
          field: 'repo',
        },
      );
    }
    return { ...source, path };
  }
  const gitDir = resolve(source.gitDir);
  const check = spawnSync('git', ['--git-dir', gitDir, 'cat-file', '-e', `${source.commit}^{commit}`], {
    stdio: 'ignore',
  });
  if (check.status !== 0) {
    throw new FixwrightError(
      'FW_ERR_REPO_NOT_FOUND',
      `commit ${source.commit} not found in git repository ${source.gitDir}`,
      { field: 'commit' },
    );
  }
  return { ...source, gitDir };
}

/** A tar stream of the repository's files, paths relative to its root. */
export function repoTarStream(source: RepoSource): Readable {
  if (source.kind === 'dir') {
    const root = resolve(source.path);
    return tarFs.pack(root, {
      ignore: (name: string) =>
        !source.includeGit && (name.endsWith(`${sep}.git`) || name.includes(`${sep}.git${sep}`)),
    }) as unknown as Readable;
  }
  const child = spawn('git', ['--git-dir', source.gitDir, 'archive', '--format=tar', source.commit], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Piped at once: Node drains a child's unread stdout when the child exits, which would lose a
  // small archive that finished before the sandbox was ready to read it.
  const out = new PassThrough();
  child.stdout.pipe(out, { end: false });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.on('close', (code) => {
    if (code === 0) out.end();
    else
      out.destroy(new FixwrightError('FW_ERR_REPO_NOT_FOUND', `git archive ${source.commit} failed: ${stderr.trim()}`));
  });
  return out;
}

/** A tar stream holding the given files (relative path → content), for small helper files. */
export function filesTarStream(files: Record<string, string | Buffer>): Readable {
  const archive: Pack = pack();
  for (const [name, content] of Object.entries(files)) {
    if (name.startsWith('/') || name.split('/').includes('..'))
      throw new Error(`helper file name must be relative: ${name}`);
    archive.entry({ name, mode: 0o644 }, typeof content === 'string' ? Buffer.from(content) : content);
  }
  archive.finalize();
  return archive as unknown as Readable;
}
