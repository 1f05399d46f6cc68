import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { type Dirent, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { FixwrightError } from '../core/index.js';
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

/** One object's type and size as `git cat-file` reports them. */
interface GitObjectInfo {
  oid: string;
  type: string;
  size: number;
}

/** One object with its content. */
interface GitObject extends GitObjectInfo {
  content: Buffer;
}

/** The object id of a full hexadecimal name (SHA-1 or SHA-256), the only names the kept reader is given. */
const FULL_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * One `git cat-file --batch-command` process answering requests in the order they were written: a
 * commit, its trees, its blobs' sizes and the contents of those small enough all come through it.
 * It is kept for the next snapshot of the repository (see `acquireReader`): each spawn forks this
 * process, which takes longer the more memory it holds, and the four git processes a snapshot
 * started were most of reading the next commit. Requests written before earlier answers arrive are
 * pipelined. It is only ever given object ids: git ends the whole process on a name it cannot parse
 * (`HEAD@{99}`), which would fail every snapshot waiting on it. Between requests it does not keep
 * the event loop alive, and it is killed when this process exits.
 */
class CatFile {
  private readonly child;
  private readonly waiting: Array<{
    contents: boolean;
    resolve: (o: GitObject | undefined) => void;
    reject: (e: Error) => void;
  }> = [];
  /** Output not yet answered, and how many bytes of it the next answer needs. */
  private parts: Buffer[] = [];
  private have = 0;
  private need = 0;
  private failure: Error | undefined;
  private stderr = '';
  private referenced = true;
  private readonly closed: Promise<void>;
  /** Requests not yet written. */
  private outgoing = '';
  /** Snapshots reading through this process now: it is closed only when there are none. */
  users = 0;
  /** Closes the process once it has been unused for a while (see `IDLE_MS`). */
  idle: NodeJS.Timeout | undefined;

  constructor(private readonly gitDir: string) {
    this.child = spawn('git', ['--git-dir', gitDir, 'cat-file', '--batch-command'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    endAtExit(this.child);
    this.child.stdout.on('data', (chunk: Buffer) => this.take(chunk));
    this.child.stderr.on('data', (c: Buffer) => (this.stderr += c.toString()));
    // A git that exited (not a repository) closes its input: the requests fail below, not the process.
    this.child.stdin.on('error', () => {});
    this.closed = new Promise((resolvePromise) => {
      this.child.on('error', (e) => {
        this.fail(cannotRunGit('cat-file', gitDir, e));
        resolvePromise();
      });
      this.child.on('close', (code, signal) => {
        const how = code !== null ? `with exit code ${code}` : `on signal ${signal}`;
        const said = `git cat-file in ${gitDir} exited ${how}: ${this.stderr.trim() || '(git printed nothing)'}`;
        // A git before 2.36 has no --batch-command (129: a usage error, in any language): a setting
        // of this machine for the user to change, so not reported as fixwright's own failure.
        if (code === 129 && this.stderr.includes('batch-command'))
          this.fail(
            new FixwrightError(
              'FW_ERR_CONFIG',
              `${said} (fixwright reads repositories with git cat-file --batch-command: it needs git 2.36 or later)`,
            ),
          );
        else this.fail(new Error(said));
        resolvePromise();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether the process has exited or could not start: a new one must answer further requests. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** An object with its content; undefined when git has none. `oid` may end in a peel (`^{commit}`). */
  contents(oid: string): Promise<GitObject | undefined> {
    return this.request('contents', oid, true);
  }

  /** Ends the process (it exits at the end of its input) and waits for it. */
  async close(): Promise<void> {
    clearTimeout(this.idle);
    this.failure ??= new Error(`git cat-file in ${this.gitDir} was closed`);
    this.child.stdin.end();
    await this.closed;
  }

  /**
   * The sizes of `ids` and the contents of those `wants` keeps (by id and size), each content asked
   * for as soon as its size comes, so git answers both kinds together; without `wants`, every
   * content straight away. Blobs git lacks are in neither map.
   * One promise for all, not one per request: a cold read asks for thousands.
   */
  sizedContents(
    ids: readonly string[],
    wants?: (id: string, size: number) => boolean,
  ): Promise<{ sizes: Map<string, number>; contents: Map<string, Buffer> }> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolvePromise, reject) => {
      const sizes = new Map<string, number>();
      const contents = new Map<string, Buffer>();
      let left = ids.length;
      const done = () => {
        if (--left === 0) resolvePromise({ sizes, contents });
      };
      if (left === 0) resolvePromise({ sizes, contents });
      const content = (id: string) =>
        this.enqueue('contents', id, true, reject, (object) => {
          if (object) {
            sizes.set(id, object.size);
            contents.set(id, object.content);
          }
          done();
        });
      for (const id of ids) {
        if (!wants) {
          content(id);
          continue;
        }
        this.enqueue('info', id, false, reject, (info) => {
          if (!info) return done();
          sizes.set(id, info.size);
          if (wants(id, info.size)) content(id);
          else done();
        });
      }
    });
  }

  private request(command: string, oid: string, contents: boolean): Promise<GitObject | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolvePromise, reject) => this.enqueue(command, oid, contents, reject, resolvePromise));
  }

  private enqueue(
    command: string,
    oid: string,
    contents: boolean,
    reject: (e: Error) => void,
    resolve: (o: GitObject | undefined) => void,
  ): void {
    if (this.failure) return reject(this.failure);
    this.waiting.push({ contents, resolve, reject });
    this.reference(true);
    // The requests made in one turn of the event loop go to git in one write. Git answers each as
    // it comes (not `--buffer`, whose queued commands and buffered answers made a cold read in a
    // large process 1.6 times as long).
    const first = this.outgoing === '';
    this.outgoing += `${command} ${oid}\n`;
    if (!first) return;
    queueMicrotask(() => {
      this.child.stdin.write(this.outgoing);
      this.outgoing = '';
    });
  }

  /** Keeps the event loop alive while answers are awaited, and only then. */
  private reference(on: boolean): void {
    if (this.referenced === on) return;
    this.referenced = on;
    for (const handle of [this.child, this.child.stdin, this.child.stdout, this.child.stderr] as unknown as Array<{
      ref(): void;
      unref(): void;
    }>) {
      if (on) handle.ref();
      else handle.unref();
    }
  }

  private take(chunk: Buffer): void {
    this.parts.push(chunk);
    this.have += chunk.length;
    // A large blob comes in many chunks: joined once it is whole, not once per chunk.
    if (this.have < this.need) return;
    let pending = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.have);
    for (;;) {
      const newline = pending.indexOf(10);
      if (newline < 0) {
        this.need = pending.length + 1;
        break;
      }
      const header = pending.subarray(0, newline).toString();
      // `<name> missing` or `<name> ambiguous`.
      if (/ (missing|ambiguous)$/.test(header)) {
        pending = pending.subarray(newline + 1);
        this.waiting.shift()?.resolve(undefined);
        continue;
      }
      const [oid, type, sizeText] = header.split(' ') as [string, string, string];
      const size = Number(sizeText);
      if (!this.waiting[0]?.contents) {
        pending = pending.subarray(newline + 1);
        this.waiting.shift()?.resolve({ oid, type, size, content: Buffer.alloc(0) });
        continue;
      }
      const end = newline + 1 + size;
      if (pending.length < end + 1) {
        this.need = end + 1;
        break;
      }
      const content = pending.subarray(newline + 1, end);
      pending = pending.subarray(end + 1);
      this.waiting.shift()?.resolve({ oid, type, size, content });
    }
    this.parts = pending.length ? [pending] : [];
    this.have = pending.length;
    if (this.waiting.length === 0) this.reference(false);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const w of this.waiting.splice(0)) w.reject(error);
    this.reference(false);
  }
}

/** Kept children still running: ended when this process exits, so none is left behind even for a moment. */
const kept = new Set<ChildProcess>();
let exitHookInstalled = false;
function endAtExit(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of kept) c.kill('SIGKILL');
    });
  }
  kept.add(child);
  child.once('exit', () => kept.delete(child));
}

/**
 * Readers kept by git directory, most recently used last; a few, as a process seldom reads more
 * repositories at once. One a snapshot is reading through is never closed: more than four are kept
 * while more are in use, and the extra ones closed as they fall idle.
 */
const readers = new Map<string, CatFile>();
const MAX_READERS = 4;
/**
 * A reader unused this long is closed: git keeps the pack files it read open and mapped, so a
 * long-running server would otherwise hold packs a repack deleted (hundreds of MB of disk).
 */
const IDLE_MS = 30_000;

/** The kept reader of a repository (a new one when there is none or it has exited), marked in use until `releaseReader`. */
function acquireReader(gitDir: string): CatFile {
  let reader = readers.get(gitDir);
  readers.delete(gitDir);
  if (!reader || reader.failed) reader = new CatFile(gitDir);
  readers.set(gitDir, reader);
  reader.users++;
  clearTimeout(reader.idle);
  reader.idle = undefined;
  closeExtraReaders();
  return reader;
}

function releaseReader(gitDir: string, reader: CatFile): void {
  if (--reader.users > 0) return;
  closeExtraReaders();
  if (readers.get(gitDir) !== reader) return;
  reader.idle = setTimeout(() => {
    if (readers.get(gitDir) === reader) readers.delete(gitDir);
    void reader.close();
  }, IDLE_MS);
  reader.idle.unref();
}

/** Closes the least recently used readers beyond `MAX_READERS` that no snapshot is reading through. */
function closeExtraReaders(): void {
  let extra = readers.size - MAX_READERS;
  for (const [dir, reader] of readers) {
    if (extra <= 0) break;
    if (reader.users > 0) continue;
    readers.delete(dir);
    void reader.close();
    extra--;
  }
}

/** @internal For tests: the git directories with a kept reader and whether each is in use, least recently used first. */
export function keptReaders(): Array<{ gitDir: string; users: number; pid: number | undefined }> {
  return [...readers].map(([gitDir, r]) => ({ gitDir, users: r.users, pid: r.pid }));
}

/** A tree entry a snapshot can use: a subtree, a Python file, or a symlink (reported as skipped whatever its name). */
interface TreeItem {
  name: string;
  /** As `git ls-tree` prints it (six octal digits). */
  mode: string;
  kind: 'tree' | 'blob';
  oid: string;
}

/** The entries of a raw tree object that a snapshot can use, in the tree's order (`git ls-tree -r`'s). */
function treeItems(content: Buffer, oidBytes: number): TreeItem[] {
  const items: TreeItem[] = [];
  let at = 0;
  while (at < content.length) {
    const space = content.indexOf(32, at);
    const nul = content.indexOf(0, space + 1);
    if (space < 0 || nul < 0 || nul + 1 + oidBytes > content.length)
      throw new Error('git cat-file: malformed tree object');
    const mode = parseInt(content.toString('latin1', at, space), 8);
    const name = content.toString('utf8', space + 1, nul);
    const oid = content.toString('hex', nul + 1, nul + 1 + oidBytes);
    at = nul + 1 + oidBytes;
    const format = (mode & 0o170000) >>> 0;
    const printed = mode.toString(8).padStart(6, '0');
    if (format === 0o040000) items.push({ name, mode: printed, kind: 'tree', oid });
    // Gitlinks (submodules) are commits, not blobs: `ls-tree` lists them and the snapshot skipped them.
    else if (format !== 0o160000 && (printed === '120000' || name.endsWith('.py')))
      items.push({ name, mode: printed, kind: 'blob', oid });
  }
  return items;
}

/**
 * Every usable blob under a tree (`git ls-tree -r`'s order), reading each tree object not in
 * `trees` level by level through `cat`. A tree id names its content, so the next commit reads
 * only the trees that changed (the folders on the path to a changed file).
 */
async function listTree(
  cat: CatFile,
  root: string,
  trees: Bounded<TreeItem[]> | undefined,
): Promise<Array<{ path: string; mode: string; blob: string }>> {
  const oidBytes = root.length / 2;
  const parsed = new Map<string, TreeItem[]>();
  let level = [root];
  while (level.length) {
    const wanted = [...new Set(level)].filter((id) => !parsed.has(id));
    const unknown: string[] = [];
    for (const id of wanted) {
      const known = trees?.get(id);
      if (known) parsed.set(id, known);
      else unknown.push(id);
    }
    const objects = await Promise.all(unknown.map((id) => cat.contents(id)));
    objects.forEach((o, i) => {
      if (!o || o.type !== 'tree') throw new Error(`git cat-file: tree ${unknown[i]} missing`);
      const items = treeItems(o.content, oidBytes);
      parsed.set(unknown[i]!, items);
      trees?.set(unknown[i]!, items);
    });
    level = wanted.flatMap((id) =>
      parsed
        .get(id)!
        .filter((item) => item.kind === 'tree')
        .map((item) => item.oid),
    );
  }
  const listing: Array<{ path: string; mode: string; blob: string }> = [];
  const walk = (id: string, prefix: string) => {
    for (const item of parsed.get(id)!) {
      if (item.kind === 'tree') walk(item.oid, `${prefix}${item.name}/`);
      else listing.push({ path: `${prefix}${item.name}`, mode: item.mode, blob: item.oid });
    }
  };
  walk(root, '');
  return listing;
}

type Decoded = { text: string } | { skip: SkipReason };

/** A map that forgets its oldest entries beyond a bound (ids name contents, so an entry never goes stale). */
class Bounded<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): void {
    if (this.map.has(key)) return;
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, value);
  }
}

/**
 * Decoded sources by git blob id, so reading the next commit of a repository fetches and decodes
 * only the blobs that changed (sympy, 100 commits on: a few hundred of 1,594). A blob id names its
 * content, so an entry serves any repository and path. Bounded by the characters held, least
 * recently used out. Beside them, the parsed tree objects and blob sizes read, so the next commit
 * reads only the trees that changed and no listing of the whole tree.
 */
export class SourceCache {
  private readonly entries = new Map<string, Decoded>();
  private chars = 0;
  /** @internal Parsed tree objects by id. */
  readonly trees = new Bounded<TreeItem[]>(100_000);
  /** @internal Blob sizes in bytes by id (too large ones included, which are never decoded). */
  readonly sizes = new Bounded<number>(500_000);
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
 * `SourceCache`, blobs and trees it holds are not read again (`bytesRead` still counts every
 * file's size).
 */
export async function readGitSnapshot(gitDir: string, commit: string, sources?: SourceCache): Promise<RepoSnapshot> {
  const dir = resolve(gitDir);
  // Names other than full ids are resolved apart (a fork), so that none reaches the kept reader.
  const id = FULL_ID.test(commit) ? commit : await revParseCommit(dir, gitDir, commit);
  for (let attempt = 1; ; attempt++) {
    const reader = acquireReader(dir);
    try {
      return await readWith(reader, dir, gitDir, commit, id, sources);
    } catch (error) {
      // A kept process that exited meanwhile (killed) is not the commit's fault: once more with a
      // new one. One that fails again either has no repository to read (not found, as git
      // rev-parse says) or failed for a cause its error names.
      if (!reader.failed) throw error;
      if (attempt === 2) {
        await revParseCommit(dir, gitDir, commit);
        throw error;
      }
    } finally {
      releaseReader(dir, reader);
    }
  }
}

/** git itself could not be started (not installed, not on PATH): the machine's setup, not fixwright's failure. */
function cannotRunGit(command: string, gitDir: string, error: Error): FixwrightError {
  return new FixwrightError(
    'FW_ERR_CONFIG',
    `cannot run git ${command} in ${gitDir}: ${error.message} (fixwright needs git 2.36 or later on PATH)`,
    { cause: error },
  );
}

function notFound(commit: string, gitDir: string): FixwrightError {
  return new FixwrightError('FW_ERR_REPO_NOT_FOUND', `commit ${commit} not found in ${gitDir}`, { field: 'commit' });
}

/** The commit id a name resolves to, by a short-lived `git rev-parse`; not found when git cannot resolve it. */
function revParseCommit(dir: string, gitDir: string, commit: string): Promise<string> {
  // A newline would make `commit` two names; git would resolve the last.
  if (/[\n\r\0]/.test(commit)) return Promise.reject(notFound(commit, gitDir));
  return new Promise((resolvePromise, reject) => {
    execFile(
      'git',
      ['--git-dir', dir, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${commit}^{commit}`],
      (error, stdout) => {
        const sha = stdout.trim();
        if (error && typeof error.code !== 'number') reject(cannotRunGit('rev-parse', gitDir, error));
        else if (error || !FULL_ID.test(sha)) reject(notFound(commit, gitDir));
        else resolvePromise(sha);
      },
    );
  });
}

async function readWith(
  cat: CatFile,
  dir: string,
  gitDir: string,
  commit: string,
  id: string,
  sources: SourceCache | undefined,
): Promise<RepoSnapshot> {
  const head = await cat.contents(`${id}^{commit}`);
  if (!head || head.type !== 'commit') throw notFound(commit, gitDir);
  const sha = head.oid;
  const treeId = /^tree ([0-9a-f]+)\n/.exec(head.content.toString('latin1', 0, 100))?.[1];
  if (!treeId) throw new Error(`git cat-file: commit ${sha} has no tree`);
  const listing = await listTree(cat, treeId, sources?.trees);

  // What the cache holds is taken now, before any wait: a snapshot sharing the cache may evict it meanwhile.
  const known = new Map<string, Decoded>();
  const sizes = new Map<string, number>();
  // A file's size decides whether it is read (too large ones never are): blobs of unknown size are
  // asked for their size, and for their content as soon as the size passes.
  const readNow = new Set<string>();
  const unsized = new Map<string, string>();
  for (const { path, mode, blob } of listing) {
    if (mode === '120000' || known.has(blob) || unsized.has(blob) || readNow.has(blob)) continue;
    const size = sources?.sizes.get(blob);
    if (size !== undefined) sizes.set(blob, size);
    // Too large ones included: never decoded, so never held.
    if (skipByPath(path, size)) continue;
    const decoded = sources?.get(blob);
    if (decoded) known.set(blob, decoded);
    if (size === undefined) unsized.set(blob, path);
    else if (!decoded) readNow.add(blob);
  }
  const [read, sized] = await Promise.all([
    cat.sizedContents([...readNow]),
    cat.sizedContents([...unsized.keys()], (blob, size) => !known.has(blob) && !skipByPath(unsized.get(blob)!, size)),
  ]);
  const blobs = read.contents;
  for (const [blob, bytes] of sized.contents) blobs.set(blob, bytes);
  for (const [blob, size] of sized.sizes) {
    sizes.set(blob, size);
    sources?.sizes.set(blob, size);
  }

  const skipped: RepoSnapshot['skipped'] = [];
  const wanted: Array<{ path: string; blob: string; size: number }> = [];
  for (const { path, mode, blob } of listing) {
    const size = sizes.get(blob);
    const reason = mode === '120000' ? 'symlink' : skipByPath(path, size);
    if (reason === 'not-python') continue;
    if (reason) skipped.push({ path, reason });
    else wanted.push({ path, blob, size: size ?? 0 });
  }
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
      if (dir === base)
        throw new FixwrightError('FW_ERR_REPO_NOT_FOUND', `cannot list the repository directory ${root}`, {
          field: 'repo',
        });
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
