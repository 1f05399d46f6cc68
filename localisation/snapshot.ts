import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { type Dirent, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { FixwrightError } from '../core/errors.js';
import { decodeSource, type SkipReason, skipByPath } from './file-filter.js';

/** One source file of a snapshot. */
export interface SnapshotFile {
  path: string;
  text: string;
  /** Git blob id of the content (computed the same way for directories), a key for caches. */
  blob: string;
}

/** The git directory of a checkout (`DIR/.git`) or a bare repository (`DIR` itself); undefined otherwise. */
export function gitDirOf(dir: string): string | undefined {
  if (existsSync(join(dir, '.git'))) return join(dir, '.git');
  if (existsSync(join(dir, 'HEAD')) && existsSync(join(dir, 'objects'))) return dir;
  return undefined;
}

/** The id git gives a blob with these bytes. */
export function gitBlobId(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

/** A repository's Python sources at one commit (or in one directory), and what was left out. */
export interface RepoSnapshot {
  /** Stable key for caches: `git:<gitDir>@<commit sha>` or `dir:<path>`. */
  key: string;
  /** Content hash of the snapshot when it came from git (the commit's tree id). */
  treeId?: string;
  files: SnapshotFile[];
  skipped: Array<{ path: string; reason: SkipReason }>;
  /** Bytes read from git or disk, for the index-versus-read benchmark. */
  bytesRead: number;
}

function git(gitDir: string, args: string[]): string {
  const r = spawnSync('git', ['--git-dir', gitDir, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error((r.stderr || `git ${args[0]} failed`).trim());
  return r.stdout;
}

/** Reads blobs by id through one `git cat-file --batch` process. */
function catBlobs(gitDir: string, ids: string[]): Promise<Map<string, Buffer>> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('git', ['--git-dir', gitDir, 'cat-file', '--batch'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const blobs = new Map<string, Buffer>();
    let pending: Buffer = Buffer.alloc(0);
    child.stdout.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        const newline = pending.indexOf(10);
        if (newline < 0) return;
        const header = pending.subarray(0, newline).toString();
        const [sha, type, sizeText] = header.split(' ');
        if (type === 'missing') {
          pending = pending.subarray(newline + 1);
          continue;
        }
        const size = Number(sizeText);
        if (pending.length < newline + 1 + size + 1) return;
        blobs.set(sha!, pending.subarray(newline + 1, newline + 1 + size));
        pending = pending.subarray(newline + 1 + size + 1);
      }
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(blobs) : reject(new Error(`git cat-file failed: ${stderr.trim()}`))));
    child.stdin.end(ids.join('\n') + '\n');
  });
}

type Decoded = { text: string } | { skip: SkipReason };

/**
 * Decoded sources by git blob id, so reading the next commit of a repository fetches and decodes
 * only the blobs that changed (sympy, 100 commits on: a few hundred of 1,594). A blob id names its
 * content, so an entry serves any repository and path. Bounded by the characters held, least
 * recently used out.
 */
export class SourceCache {
  private readonly entries = new Map<string, Decoded>();
  private chars = 0;
  constructor(private readonly maxChars = 128 * 1024 * 1024) {}

  get(blob: string): Decoded | undefined {
    const entry = this.entries.get(blob);
    if (entry) {
      this.entries.delete(blob);
      this.entries.set(blob, entry);
    }
    return entry;
  }

  set(blob: string, entry: Decoded): void {
    if (this.entries.has(blob)) return;
    this.entries.set(blob, entry);
    this.chars += 'text' in entry ? entry.text.length : 0;
    for (const [oldest, e] of this.entries) {
      if (this.chars <= this.maxChars) break;
      this.entries.delete(oldest);
      this.chars -= 'text' in e ? e.text.length : 0;
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * Reads the Python sources of `commit` straight from git objects; no checkout needed. With a
 * `SourceCache`, blobs it holds are not read again (`bytesRead` still counts every file's size).
 */
export async function readGitSnapshot(gitDir: string, commit: string, sources?: SourceCache): Promise<RepoSnapshot> {
  const dir = resolve(gitDir);
  let sha: string;
  let treeId: string;
  try {
    sha = git(dir, ['rev-parse', '--verify', `${commit}^{commit}`]).trim();
    treeId = git(dir, ['rev-parse', `${sha}^{tree}`]).trim();
  } catch {
    throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `commit ${commit} not found in ${gitDir}`, { field: 'commit' });
  }
  const listing = git(dir, ['ls-tree', '-r', '-z', '-l', sha]);
  const skipped: RepoSnapshot['skipped'] = [];
  const wanted: Array<{ path: string; blob: string; size: number }> = [];
  for (const entry of listing.split('\0')) {
    if (!entry) continue;
    const tab = entry.indexOf('\t');
    const [mode, type, blob, size] = entry.slice(0, tab).split(/\s+/) as [string, string, string, string];
    const path = entry.slice(tab + 1);
    if (type !== 'blob') continue;
    const reason = mode === '120000' ? 'symlink' : skipByPath(path, Number(size));
    if (reason === 'not-python') continue;
    if (reason) skipped.push({ path, reason });
    else wanted.push({ path, blob, size: Number(size) });
  }
  const known = new Map<string, Decoded>();
  for (const { blob } of wanted) {
    const decoded = sources?.get(blob);
    if (decoded) known.set(blob, decoded);
  }
  const blobs = await catBlobs(dir, [...new Set(wanted.filter((w) => !known.has(w.blob)).map((w) => w.blob))]);
  const files: SnapshotFile[] = [];
  let bytesRead = 0;
  for (const { path, blob, size } of wanted) {
    let decoded = known.get(blob);
    if (decoded) bytesRead += size;
    else {
      const bytes = blobs.get(blob);
      if (!bytes) continue;
      bytesRead += bytes.length;
      decoded = decodeSource(bytes);
      known.set(blob, decoded);
      sources?.set(blob, decoded);
    }
    if ('skip' in decoded) skipped.push({ path, reason: decoded.skip });
    else files.push({ path, text: decoded.text, blob });
  }
  files.sort((a, b) => a.path.localeCompare(b.path));
  return { key: `git:${dir}@${sha}`, treeId, files, skipped, bytesRead };
}

/** The repository and commit of a git snapshot's key (`git:<gitDir>@<sha>`, SHA-1 or SHA-256); undefined for a directory's. */
export function gitKeyParts(key: string): { gitDir: string; commit: string } | undefined {
  const git = /^git:(.*)@([0-9a-f]{40}|[0-9a-f]{64})$/.exec(key);
  return git ? { gitDir: git[1]!, commit: git[2]! } : undefined;
}

/** Reads the Python sources under a plain directory (a checkout or any folder). */
export function readDirSnapshot(root: string): RepoSnapshot {
  const base = resolve(root);
  try {
    if (!statSync(base).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `repository directory not found: ${root}`, { field: 'repo' });
  }
  const files: SnapshotFile[] = [];
  const skipped: RepoSnapshot['skipped'] = [];
  let bytesRead = 0;
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      // A folder this user may not list (or one gone meanwhile) leaves its files out, not the run.
      if (dir === base) throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `cannot list the repository directory ${root}`, { field: 'repo' });
      skipped.push({ path: relative(base, dir).split(sep).join('/'), reason: 'unreadable' });
      return;
    }
    for (const entry of entries) {
      const full = join(dir, entry.name);
      const path = relative(base, full).split(sep).join('/');
      if (entry.isDirectory()) {
        if (entry.name === '.git' || skipByPath(`${path}/x.py`) === 'vendored') continue;
        walk(full);
      } else if (entry.isFile() || entry.isSymbolicLink()) {
        if (!entry.name.endsWith('.py')) continue;
        if (entry.isSymbolicLink()) {
          skipped.push({ path, reason: 'symlink' });
          continue;
        }
        let bytes: Buffer;
        try {
          const reason = skipByPath(path, statSync(full).size);
          if (reason) {
            skipped.push({ path, reason });
            continue;
          }
          bytes = readFileSync(full);
        } catch {
          skipped.push({ path, reason: 'unreadable' });
          continue;
        }
        bytesRead += bytes.length;
        const decoded = decodeSource(bytes);
        if ('skip' in decoded) skipped.push({ path, reason: decoded.skip });
        else files.push({ path, text: decoded.text, blob: gitBlobId(bytes) });
      }
    }
  };
  walk(base);
  files.sort((a, b) => a.path.localeCompare(b.path));
  return { key: `dir:${base}`, files, skipped, bytesRead };
}
