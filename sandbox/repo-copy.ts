import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { FixwrightError } from '../core/index.js';
import { checkRepoSource, type RepoSource, repoTarStream } from './repo-source.js';

/**
 * A repository as one tar archive in memory, built once and copied into every sandbox that asks
 * for the same tree: an agent run's baseline, its before-patch runs and every candidate of every
 * attempt get the same bytes without `git archive` or a directory walk each time.
 */
export interface RepoCopy {
  /** Names the tree: the git object id of the commit, or a fingerprint of a directory's files. */
  readonly key: string;
  readonly bytes: Buffer;
}

/** A 40- or 64-digit object id: immutable, so it needs no `rev-parse`. */
const OBJECT_ID = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/**
 * The commit a name resolves to: one `git rev-parse`, which also proves the commit is there (a
 * name starting with a dash is read as a name, never as an option).
 */
async function commitId(gitDir: string, commit: string): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('git', [
      '--git-dir',
      gitDir,
      'rev-parse',
      '--verify',
      '--quiet',
      '--end-of-options',
      `${commit}^{commit}`,
    ]);
    return stdout.trim();
  } catch (err) {
    throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `commit ${commit} not found in git repository ${gitDir}`, {
      field: 'commit',
      cause: err,
    });
  }
}

const SLASH = Buffer.from('/');
const GIT = Buffer.from('.git');

/**
 * A fingerprint of a directory's files (path, type, size, modification and change times, inode,
 * mode, link target), the same walk `repoTarStream` packs (`.git` left out unless asked for): a
 * file edited, added or removed between two runs gives another key, so a changed checkout is never
 * served stale. The change time and inode cannot be set back by a tool that restores modification
 * times (`tar x`, `cp -p`, `rsync -t`). Names are bytes, so a name that is not UTF-8 is walked too.
 */
export async function directoryFingerprint(root: string, includeGit = false): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (dir: Buffer, rel: Buffer): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true, encoding: 'buffer' })).sort((a, b) =>
      Buffer.compare(a.name, b.name),
    );
    for (const entry of entries) {
      if (!includeGit && entry.name.equals(GIT)) continue;
      const path = Buffer.concat([dir, SLASH, entry.name]);
      const name = rel.length ? Buffer.concat([rel, SLASH, entry.name]) : entry.name;
      const stat = await lstat(path, { bigint: true });
      const kind = stat.isSymbolicLink() ? 'l' : stat.isDirectory() ? 'd' : 'f';
      hash.update(name);
      hash.update(`\0${kind} ${stat.size} ${stat.mtimeNs} ${stat.ctimeNs} ${stat.ino} ${stat.mode}\0`);
      if (kind === 'l') hash.update(await readlink(path, { encoding: 'buffer' }));
      if (kind === 'd') await walk(path, name);
    }
  };
  await walk(Buffer.from(root), Buffer.alloc(0));
  return hash.digest('hex');
}

/** The fingerprint, walked again when a file vanished mid-walk; a directory that cannot be read is a clear error. */
async function fingerprint(root: string, includeGit = false): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await directoryFingerprint(root, includeGit);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 2) continue;
      throw new FixwrightError(
        'FW_ERR_REPO_NOT_FOUND',
        `cannot read the repository directory ${root} (${(err as Error).message})`,
        { field: 'repo', cause: err },
      );
    }
  }
}

/** The whole of a stream, or undefined once it passes `maxBytes` (the stream is then destroyed). */
async function collect(stream: Readable, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      stream.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/** A tree being read or read: its size is known once it is counted against the bound. */
interface Entry {
  copy: Promise<RepoCopy | undefined>;
  size?: number;
}

/**
 * Repository copies by tree, least recently used evicted past `maxBytes`. A tree larger than the
 * bound is not kept: `get` answers undefined and the caller streams it per sandbox as before.
 */
export class RepoCopies {
  private readonly entries = new Map<string, Entry>();
  private held = 0;

  constructor(private readonly maxBytes: number) {}

  /** The key of a source's tree, resolving a commit name to its object id and fingerprinting a directory. */
  async keyOf(source: RepoSource): Promise<string> {
    // An object id names one tree for good: no check per call (a missing commit fails the build).
    if (source.kind === 'git' && OBJECT_ID.test(source.commit)) return `git:${resolve(source.gitDir)}:${source.commit}`;
    if (source.kind === 'git')
      return `git:${resolve(source.gitDir)}:${await commitId(resolve(source.gitDir), source.commit)}`;
    checkRepoSource(source); // a missing directory is a clear error
    const path = resolve(source.path);
    return `dir:${path}:${source.includeGit ? 'git:' : ''}${await fingerprint(path, source.includeGit)}`;
  }

  /** The tree's copy, built on first use; undefined when it is larger than the bound. */
  async get(source: RepoSource): Promise<RepoCopy | undefined> {
    const key = await this.keyOf(source);
    let entry = this.entries.get(key);
    if (entry) {
      // Most recently used last.
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry.copy;
    }
    entry = { copy: Promise.resolve(undefined) };
    entry.copy = this.build(key, source, entry);
    this.entries.set(key, entry);
    return entry.copy;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.held;
  }

  private async build(key: string, source: RepoSource, entry: Entry): Promise<RepoCopy | undefined> {
    let bytes: Buffer | undefined;
    try {
      bytes = await collect(repoTarStream(checkRepoSource(source)), this.maxBytes);
    } catch (err) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw err instanceof FixwrightError
        ? err
        : new FixwrightError(
            'FW_ERR_SANDBOX',
            `could not read the repository for the sandbox: ${(err as Error).message}`,
            { cause: err },
          );
    }
    if (!bytes) {
      entry.size = 0; // remembered as too large (not read again), and evictable
      return undefined;
    }
    const copy = { key, bytes };
    // Evicted while it was being read (others filled the bound meanwhile): handed to its callers, not kept.
    if (this.entries.get(key) !== entry) return copy;
    entry.size = bytes.length;
    this.held += bytes.length;
    for (const [old, other] of this.entries) {
      if (this.held <= this.maxBytes) break;
      // Trees still being read are not counted yet, and are not evicted.
      if (other === entry || other.size === undefined) continue;
      this.entries.delete(old);
      this.held -= other.size;
    }
    return copy;
  }
}
