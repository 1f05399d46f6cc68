import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Ranking } from './fusion.js';
import { gitDirOf, gitKeyParts } from './snapshot.js';

/** One past commit: its paths and whether its message reads like a fix. */
export interface PastCommit {
  files: string[];
  fix: boolean;
}

/** The change history of a repository up to (and including) one commit, newest first. */
export interface RepoHistory {
  commit: string;
  commits: PastCommit[];
}

/** How history is read and scored. */
export interface HistoryOptions {
  /** How many commits before the base are read (bounded so a large repository stays fast). */
  maxCommits: number;
  /** A commit's weight halves every this many commits back: recent churn predicts defects better. */
  halfLife: number;
  /** Commits touching more files than this are reformatting, renames or releases, not fixes. */
  maxFilesPerCommit: number;
}

export const DEFAULT_HISTORY_OPTIONS: HistoryOptions = { maxCommits: 2000, halfLife: 500, maxFilesPerCommit: 30 };

// Conventional words and GitHub references of bug-fix commits (the defect-prediction literature's heuristic).
const FIX_MESSAGE =
  /\b(fix(e[sd])?|bug|issue|error|crash|regression|fail(s|ure|ing)?|broken|wrong|incorrect|closes?|resolves?)\b|#\d+/i;

/** Snapshot keys are `git:<gitDir>@<sha>` or `dir:<path>`; a directory inside a checkout reads that checkout's HEAD. */
export function historySource(key: string): { gitDir: string; commit: string } | undefined {
  const git = gitKeyParts(key);
  if (git) return git;
  if (key.startsWith('dir:')) {
    const dir = key.slice(4);
    const gitDir = existsSync(join(dir, '.git')) ? gitDirOf(dir) : undefined;
    if (!gitDir) return undefined;
    const head = spawnSync('git', ['--git-dir', gitDir, 'rev-parse', '--verify', 'HEAD^{commit}'], {
      encoding: 'utf8',
    });
    return head.status === 0 ? { gitDir, commit: head.stdout.trim() } : undefined;
  }
  return undefined;
}

const cache = new Map<string, RepoHistory | null>();
const CACHE_ENTRIES = 64;
const inFlight = new Map<string, Promise<void>>();

const historyKey = (gitDir: string, commit: string, options: HistoryOptions) =>
  `${gitDir}@${commit}@${options.maxCommits}`;

function logArgs(gitDir: string, commit: string, options: HistoryOptions): string[] {
  return [
    '--git-dir',
    gitDir,
    'log',
    '--no-merges',
    '--no-renames',
    '-n',
    String(options.maxCommits),
    '--name-only',
    '--format=%x00%s',
    commit,
    '--',
  ];
}

function parseLog(commit: string, log: string): RepoHistory {
  const commits: PastCommit[] = [];
  for (const record of log.split('\0').slice(1)) {
    const [subject = '', ...rest] = record.split('\n');
    commits.push({ files: rest.map((l) => l.trim()).filter((l) => l.endsWith('.py')), fix: FIX_MESSAGE.test(subject) });
  }
  return { commit, commits };
}

function remember(key: string, history: RepoHistory | null): void {
  if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(key, history);
}

/**
 * The commits reachable from `commit` (never later ones: `git log <commit>` walks parents only),
 * newest first, merges left out (their changes are their parents'). Cached per (repository,
 * commit). Undefined when git cannot read it (a shallow or broken repository): history is a hint,
 * never a reason to fail.
 */
export function readHistory(
  gitDir: string,
  commit: string,
  options: HistoryOptions = DEFAULT_HISTORY_OPTIONS,
): RepoHistory | undefined {
  const key = historyKey(gitDir, commit, options);
  if (cache.has(key)) return cache.get(key) ?? undefined;
  const r = spawnSync('git', logArgs(gitDir, commit, options), { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const history = r.status === 0 ? parseLog(commit, r.stdout) : null;
  remember(key, history);
  return history ?? undefined;
}

/** Children still walking a log: killed if this process exits first, so none outlives it. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) c.kill('SIGKILL');
    });
  }
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

/** The history already read for a commit, without reading it (undefined when not read yet or unreadable). */
export function cachedHistory(
  gitDir: string,
  commit: string,
  options: HistoryOptions = DEFAULT_HISTORY_OPTIONS,
): RepoHistory | undefined {
  return cache.get(historyKey(gitDir, commit, options)) ?? undefined;
}

/** The whole of a file through a descriptor the child also wrote through (their shared offset is at the end). */
function readWhole(fd: number): string {
  const buffer = Buffer.alloc(fstatSync(fd).size);
  let read = 0;
  while (read < buffer.length) {
    const n = readSync(fd, buffer, read, buffer.length - read, read);
    if (n === 0) break;
    read += n;
  }
  return buffer.toString('utf8', 0, read);
}

/**
 * Starts reading the history in a child process that writes to a file, so git walks the log while
 * this process parses and tokenises (a pipe would stall git once its buffer filled, as nothing
 * reads it until the event loop runs). The file is unlinked as soon as it is open, so nothing is
 * left on disk whatever happens next. Resolves, never rejects, once `readHistory` can answer: from
 * the cache, or, when the child could not run, by reading synchronously itself.
 */
export function prefetchHistory(
  gitDir: string,
  commit: string,
  options: HistoryOptions = DEFAULT_HISTORY_OPTIONS,
): Promise<void> {
  const key = historyKey(gitDir, commit, options);
  if (cache.has(key)) return Promise.resolve();
  const pending = inFlight.get(key);
  if (pending) return pending;
  let settle!: () => void;
  const promise = new Promise<void>((resolvePromise) => (settle = resolvePromise));
  inFlight.set(key, promise);
  let fd: number | undefined;
  let finished = false;
  // Undefined: the child could not run or its output could not be read; `readHistory` then tries
  // synchronously, so a passing failure (EAGAIN, EMFILE) does not switch the history off.
  const done = (history: RepoHistory | null | undefined) => {
    if (finished) return;
    finished = true;
    if (fd !== undefined) closeSync(fd);
    if (history !== undefined && !cache.has(key)) remember(key, history);
    inFlight.delete(key);
    settle();
  };
  try {
    const dir = mkdtempSync(join(tmpdir(), 'fw-history-'));
    try {
      fd = openSync(join(dir, 'log'), 'w+');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const child = spawn('git', logArgs(gitDir, commit, options), { stdio: ['ignore', fd, 'ignore'] });
    track(child);
    child.once('error', () => done(undefined));
    child.once('close', (code) => {
      try {
        done(code === 0 ? parseLog(commit, readWhole(fd!)) : null);
      } catch {
        done(undefined);
      }
    });
  } catch {
    done(undefined);
  }
  return promise;
}

function sorted(scores: Map<string, number>, limit: number): Ranking {
  return [...scores.entries()]
    .filter(([, s]) => s > 0)
    .map(([path, score]) => ({ path, score }))
    .sort((a, b) => b.score - a.score || a.path.localeCompare(b.path))
    .slice(0, limit);
}

/**
 * Change-proneness of each candidate: recency-weighted count of past commits that changed it,
 * commits whose message reads like a fix counting double. The same for every issue: a prior.
 */
export function changeFrequency(
  history: RepoHistory,
  candidates: ReadonlySet<string>,
  limit: number,
  options: HistoryOptions = DEFAULT_HISTORY_OPTIONS,
): Ranking {
  const scores = new Map<string, number>();
  history.commits.forEach((c, i) => {
    if (c.files.length > options.maxFilesPerCommit) return;
    const weight = 0.5 ** (i / options.halfLife) * (c.fix ? 2 : 1);
    for (const f of c.files) if (candidates.has(f)) scores.set(f, (scores.get(f) ?? 0) + weight);
  });
  return sorted(scores, limit);
}

/**
 * Files that changed together with the seeds (the files the other signals rank highest): for each
 * commit touching a seed, its other files get the seed's weight, shared out over the commit's
 * size (a two-file commit binds its files more than a twenty-file one). Seeds themselves score by
 * what they share with the other seeds, so a seed unrelated to the rest sinks.
 */
export function coChange(
  history: RepoHistory,
  seeds: ReadonlyMap<string, number>,
  candidates: ReadonlySet<string>,
  limit: number,
  options: HistoryOptions = DEFAULT_HISTORY_OPTIONS,
): Ranking {
  const scores = new Map<string, number>();
  // Only commits touching a seed add anything; they are visited in the history's order, as a walk
  // over every commit visits them, so the sums are the same (2,000 commits walked per query before).
  const byFile = commitsByFile(history);
  const touching = new Set<number>();
  for (const seed of seeds.keys()) for (const i of byFile.get(seed) ?? []) touching.add(i);
  for (const i of [...touching].sort((a, b) => a - b)) {
    const c = history.commits[i]!;
    if (c.files.length < 2 || c.files.length > options.maxFilesPerCommit) continue;
    const recency = 0.5 ** (i / options.halfLife);
    for (const seed of c.files) {
      const w = seeds.get(seed);
      if (!w) continue;
      for (const f of c.files) {
        if (f === seed || !candidates.has(f)) continue;
        scores.set(f, (scores.get(f) ?? 0) + (w * recency) / (c.files.length - 1));
      }
    }
  }
  return sorted(scores, limit);
}

const fileCommits = new WeakMap<RepoHistory, Map<string, number[]>>();

/** Per file, the positions of the commits that changed it (ascending), made once per history. */
function commitsByFile(history: RepoHistory): Map<string, number[]> {
  let byFile = fileCommits.get(history);
  if (!byFile) {
    byFile = new Map();
    history.commits.forEach((c, i) => {
      for (const f of c.files) {
        const list = byFile!.get(f);
        if (!list) byFile!.set(f, [i]);
        else if (list[list.length - 1] !== i) list.push(i);
      }
    });
    fileCommits.set(history, byFile);
  }
  return byFile;
}
