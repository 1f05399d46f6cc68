import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  columnsFromPanels,
  orthonormalise,
  panelsFromColumns,
  type SparseRows,
  sparseTimes,
  transposeRows,
} from '../../localisation/embeddings/lsi.js';
import { cachedHistory, prefetchHistory, readHistory } from '../../localisation/history.js';
import { readGitSnapshot, SourceCache } from '../../localisation/snapshot.js';
import { headCommit, makeRepo, removeRepos } from '../helpers/fixture-repo.js';

afterAll(removeRepos);

function commitFiles(dir: string, files: Record<string, string>, message: string): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text);
  git('add', '-A');
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', message);
  return headCommit(dir);
}

describe('reading the next commit with a source cache', () => {
  it('gives the snapshot a plain read gives, and takes unchanged blobs from the cache', async () => {
    const repo = makeRepo(
      {
        'pkg/a.py': 'def alpha():\n    return 1\n',
        'pkg/b.py': 'def beta():\n    return 2\n',
        'pkg/bin.py': 'x = 1\0\0\0',
      },
      { git: true },
    );
    const gitDir = join(repo, '.git');
    const first = headCommit(repo);
    const second = commitFiles(
      repo,
      { 'pkg/b.py': 'def beta():\n    return 3\n', 'pkg/c.py': 'def gamma():\n    pass\n' },
      'change b, add c',
    );
    const sources = new SourceCache();
    for (const c of [first, second, first])
      expect(await readGitSnapshot(gitDir, c, sources)).toEqual(await readGitSnapshot(gitDir, c));
    // a.py, bin.py (skipped as binary), b.py twice, c.py: each distinct blob decoded once.
    expect(sources.size).toBe(5);

    // A cached blob is not read from git again: a planted entry shows through.
    const planted = new SourceCache();
    const plain = await readGitSnapshot(gitDir, second);
    const a = plain.files.find((f) => f.path === 'pkg/a.py')!;
    planted.set(a.blob, { text: 'def planted():\n    pass\n' });
    const withPlanted = await readGitSnapshot(gitDir, second, planted);
    expect(withPlanted.files.find((f) => f.path === 'pkg/a.py')!.text).toBe('def planted():\n    pass\n');
    expect(withPlanted.bytesRead).toBe(plain.bytesRead);
  });

  it('keeps within its bound, least recently used out', () => {
    const sources = new SourceCache(10);
    sources.set('1', { text: 'abcd' });
    sources.set('2', { text: 'efgh' });
    sources.get('1');
    sources.set('3', { text: 'ijkl' });
    expect(sources.get('2')).toBeUndefined();
    expect(sources.get('1')).toEqual({ text: 'abcd' });
    expect(sources.get('3')).toEqual({ text: 'ijkl' });
  });
});

describe('history read in the background', () => {
  it('answers as the synchronous read does', async () => {
    const repo = makeRepo({ 'pkg/a.py': 'x = 1\n' }, { git: true });
    commitFiles(repo, { 'pkg/a.py': 'x = 2\n' }, 'fix a crash in a');
    const head = commitFiles(repo, { 'pkg/b.py': 'y = 1\n' }, 'add b');
    const gitDir = join(repo, '.git');
    const options = { maxCommits: 10, halfLife: 500, maxFilesPerCommit: 30 };
    expect(cachedHistory(gitDir, head, options)).toBeUndefined();
    await prefetchHistory(gitDir, head, options);
    // Read by the background child, not by the synchronous fallback.
    const prefetched = cachedHistory(gitDir, head, options);
    expect(readHistory(gitDir, head, options)).toBe(prefetched);
    expect(prefetched?.commits).toEqual([
      { files: ['pkg/b.py'], fix: false },
      { files: ['pkg/a.py'], fix: true },
      { files: ['pkg/a.py'], fix: false },
    ]);
    expect(readHistory(gitDir, head, { ...options, maxCommits: 11 })).toEqual(prefetched);
  });

  it('leaves an unreadable history to the synchronous read (undefined, no throw)', async () => {
    await prefetchHistory('/nonexistent/git/dir', 'f'.repeat(40));
    expect(readHistory('/nonexistent/git/dir', 'f'.repeat(40))).toBeUndefined();
  });

  /** Prefetches a two-commit repository's history with one environment variable set for the start. */
  async function prefetchWith(name: string, value: string): Promise<{ gitDir: string; head: string }> {
    const repo = makeRepo({ 'pkg/a.py': 'x = 1\n' }, { git: true });
    const head = commitFiles(repo, { 'pkg/a.py': 'x = 2\n' }, 'fix a');
    const gitDir = join(repo, '.git');
    const before = process.env[name];
    process.env[name] = value;
    try {
      await prefetchHistory(gitDir, head);
    } finally {
      if (before === undefined) delete process.env[name];
      else process.env[name] = before;
    }
    return { gitDir, head };
  }

  it('never rejects and leaves the synchronous read open when the child cannot start', async () => {
    const { gitDir, head } = await prefetchWith('PATH', '/nonexistent');
    // A failed start is not remembered as "no history": the synchronous read still runs.
    expect(cachedHistory(gitDir, head)).toBeUndefined();
    expect(readHistory(gitDir, head)?.commits.length).toBe(2);
  });

  it('never rejects when no temporary file can be made', async () => {
    const { gitDir, head } = await prefetchWith('TMPDIR', '/nonexistent/tmp');
    expect(readHistory(gitDir, head)?.commits.length).toBe(2);
  });
});

/** Modified Gram-Schmidt as LSI ran it before: column by column, each against every earlier one. */
function leftLooking(m: Float64Array, n: number, l: number): void {
  for (let j = 0; j < l; j++) {
    const cj = j * n;
    for (let i = 0; i < j; i++) {
      const ci = i * n;
      let dot = 0;
      for (let r = 0; r < n; r++) dot += m[ci + r]! * m[cj + r]!;
      for (let r = 0; r < n; r++) m[cj + r]! -= dot * m[ci + r]!;
    }
    let norm = 0;
    for (let r = 0; r < n; r++) norm += m[cj + r]! ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let r = 0; r < n; r++) m[cj + r]! /= norm;
  }
}

describe('LSI orthonormalisation', () => {
  it('is bit for bit the column-by-column modified Gram-Schmidt (any width, zero columns included)', () => {
    let state = 12345;
    const rand = () => ((state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    for (const [n, l] of [
      [50, 1],
      [40, 7],
      [97, 8],
      [300, 23],
      [64, 30],
    ] as const) {
      const m = Float64Array.from({ length: n * l }, rand);
      m.fill(0, 2 * n, 3 * n < m.length ? 3 * n : 2 * n); // a zero column (kept: its norm is 0)
      const expected = m.slice();
      leftLooking(expected, n, l);
      orthonormalise(m, n, l);
      expect(m.every((x, i) => Object.is(x, expected[i]))).toBe(true);
    }
  });
});

/**
 * A·X or Aᵀ·Y as LSI ran them before: row-major copies, a scatter of each of A's entries in row
 * order into a row-major output, then back to column-major.
 */
function rowMajorProduct(
  a: SparseRows,
  n: number,
  m: number,
  l: number,
  src: Float64Array,
  transpose: boolean,
): Float64Array {
  const outRows = transpose ? m : n;
  const srcRows = transpose ? n : m;
  const s = new Float64Array(srcRows * l);
  for (let j = 0; j < l; j++) for (let r = 0; r < srcRows; r++) s[r * l + j] = src[j * srcRows + r]!;
  const o = new Float64Array(outRows * l);
  for (let i = 0; i < n; i++) {
    for (let p = a.rowPtr[i]!; p < a.rowPtr[i + 1]!; p++) {
      const v = a.vals[p]!;
      const ot = (transpose ? a.cols[p]! : i) * l;
      const sf = (transpose ? i : a.cols[p]!) * l;
      for (let j = 0; j < l; j++) o[ot + j]! += v * s[sf + j]!;
    }
  }
  const out = new Float64Array(outRows * l);
  for (let r = 0; r < outRows; r++) for (let j = 0; j < l; j++) out[j * outRows + r] = o[r * l + j]!;
  return out;
}

describe('LSI sparse products', () => {
  it('are bit for bit the row-major scatter (empty rows and columns, signed zeros, any width)', () => {
    let state = 777;
    const rand = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32;
    // Values over many magnitudes, so a reordered sum would round differently; some exact zeros.
    const value = () =>
      rand() < 0.05 ? (rand() < 0.5 ? 0 : -0) : (rand() * 2 - 1) * 10 ** Math.floor(rand() * 12 - 6);
    let compared = 0;
    for (const [n, m, l, density] of [
      [1, 1, 1, 1],
      [30, 50, 7, 0.2],
      [40, 300, 8, 0.1],
      [97, 60, 9, 0.3],
      [200, 1000, 23, 0.05],
      [64, 5000, 138, 0.02],
    ] as const) {
      const rowPtr = new Int32Array(n + 1);
      const cols: number[] = [];
      const vals: number[] = [];
      for (let i = 0; i < n; i++) {
        // Every fifth row empty; columns past m / 2 used only sparsely, some never.
        if (i % 5 !== 4)
          for (let c = 0; c < m; c++)
            if (rand() < (c < m / 2 ? density : density / 10)) {
              cols.push(c);
              vals.push(value());
            }
        rowPtr[i + 1] = cols.length;
      }
      const a: SparseRows = { rowPtr, cols: Int32Array.from(cols), vals: Float64Array.from(vals) };
      const x = Float64Array.from({ length: m * l }, value);
      const y = Float64Array.from({ length: n * l }, value);
      // The products take and give panels; compared as columns.
      const pairs = [
        [
          columnsFromPanels(sparseTimes(a, n, panelsFromColumns(x, m, l), l), n, l),
          rowMajorProduct(a, n, m, l, x, false),
        ],
        [
          columnsFromPanels(sparseTimes(transposeRows(a, n, m), m, panelsFromColumns(y, n, l), l), m, l),
          rowMajorProduct(a, n, m, l, y, true),
        ],
      ] as const;
      for (const [got, expected] of pairs) {
        expect(got.length).toBe(expected.length);
        expect(got.every((v, i) => Object.is(v, expected[i]))).toBe(true);
        compared += got.length;
      }
    }
    expect(compared).toBeGreaterThan(5000 * 138);
  });
});
