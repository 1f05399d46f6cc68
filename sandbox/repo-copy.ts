import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { FixwrightError } from '../core/errors.js';
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

function git(gitDir: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('git', ['--git-dir', gitDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(out.trim()) : reject(new Error(err.trim() || `git exited ${code}`))));
  });
}

/**
 * A fingerprint of a directory's files (path, type, size, modification time, mode, link target),
 * the same walk `repoTarStream` packs (`.git` left out unless asked for): a file edited, added or
 * removed between two runs gives another key, so a changed checkout is never served stale.
 */
export async function directoryFingerprint(root: string, includeGit = false): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (!includeGit && entry.name === '.git') continue;
      const path = join(dir, entry.name);
      const stat = await lstat(path);
      const rel = relative(root, path);
      if (stat.isSymbolicLink()) hash.update(`l ${rel} ${await readlink(path)}\n`);
      else if (stat.isDirectory()) {
        hash.update(`d ${rel} ${stat.mode}\n`);
        await walk(path);
      } else hash.update(`f ${rel} ${stat.size} ${stat.mtimeMs} ${stat.mode}\n`);
    }
  };
  await walk(root);
  return hash.digest('hex');
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

/**
 * Repository copies by tree, least recently used evicted past `maxBytes`. A tree larger than the
 * bound is not kept: `get` answers undefined and the caller streams it per sandbox as before.
 */
export class RepoCopies {
  private readonly entries = new Map<string, Promise<RepoCopy | undefined>>();
  private readonly sizes = new Map<string, number>();
  private held = 0;

  constructor(private readonly maxBytes: number) {}

  /** The key of a source's tree, resolving a commit name to its object id and fingerprinting a directory. */
  async keyOf(source: RepoSource): Promise<string> {
    // An object id names one tree for good: no check per call (a missing commit fails the build).
    if (source.kind === 'git' && OBJECT_ID.test(source.commit)) return `git:${resolve(source.gitDir)}:${source.commit}`;
    const checked = checkRepoSource(source);
    if (checked.kind === 'git') {
      const id = OBJECT_ID.test(checked.commit) ? checked.commit : await git(checked.gitDir, ['rev-parse', '--verify', `${checked.commit}^{commit}`]);
      return `git:${resolve(checked.gitDir)}:${id}`;
    }
    return `dir:${checked.path}:${checked.includeGit ? 'git:' : ''}${await directoryFingerprint(checked.path, checked.includeGit)}`;
  }

  /** The tree's copy, built on first use; undefined when it is larger than the bound. */
  async get(source: RepoSource): Promise<RepoCopy | undefined> {
    const key = await this.keyOf(source);
    let entry = this.entries.get(key);
    if (entry) {
      // Most recently used last.
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry;
    }
    entry = this.build(key, source);
    this.entries.set(key, entry);
    return entry;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.held;
  }

  private async build(key: string, source: RepoSource): Promise<RepoCopy | undefined> {
    let bytes: Buffer | undefined;
    try {
      bytes = await collect(repoTarStream(checkRepoSource(source)), this.maxBytes);
    } catch (err) {
      this.entries.delete(key);
      throw err instanceof FixwrightError ? err : new FixwrightError('FW_ERR_SANDBOX', `could not read the repository for the sandbox: ${(err as Error).message}`, { cause: err });
    }
    if (!bytes) return undefined;
    this.sizes.set(key, bytes.length);
    this.held += bytes.length;
    for (const old of this.entries.keys()) {
      if (this.held <= this.maxBytes) break;
      if (old === key) continue;
      this.entries.delete(old);
      this.held -= this.sizes.get(old) ?? 0;
      this.sizes.delete(old);
    }
    return { key, bytes };
  }
}
