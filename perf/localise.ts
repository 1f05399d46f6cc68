/**
 * `npm run perf:localise -- GIT_DIR [COMMIT]`: indexing and query speed on one repository, side by
 * side in one run. B is COMMIT (default HEAD) and A is 100 first-parent commits before it
 * (BENCH_BACK). Each index is set against its floor, reading the same blobs from git: A cold (empty
 * caches), then B as the next commit, once in the same process (parses in memory) and once as a
 * fresh localiser (same process: process-wide caches such as identifier splits and symbol chunks
 * stay warm) that finds only A's entries in the on-disk cache. Queries run on B's index with
 * SWE-bench issue texts when BENCH_DATASET names a JSONL file, short hand-written ones otherwise.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LsiEmbedder, Localiser, type RepoIndex, shippedFusionModel, readGitSnapshot } from '../localisation/index.js';

const gitDir = process.argv[2] ?? process.env.BENCH_REPO;
const commit = process.argv[3] ?? 'HEAD';
const BACK = Number(process.env.BENCH_BACK ?? 100);
const FLOOR_RUNS = Number(process.env.BENCH_RUNS ?? 3);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]!;
const ms = (x: number) => `${x.toFixed(0)} ms`;

function revParse(rev: string): string {
  const r = spawnSync('git', ['--git-dir', gitDir!, 'rev-parse', '--verify', `${rev}^{commit}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${rev} is not a commit of ${gitDir}`);
  return r.stdout.trim();
}

/** The median time to read a commit's blobs from git: what any index of it costs at least. */
async function floor(sha: string): Promise<{ ms: number; files: number; bytes: number }> {
  const times: number[] = [];
  let files = 0;
  let bytes = 0;
  for (let i = 0; i < FLOOR_RUNS; i++) {
    const t = performance.now();
    const snapshot = await readGitSnapshot(gitDir!, sha);
    times.push(performance.now() - t);
    files = snapshot.files.length;
    bytes = snapshot.bytesRead;
  }
  return { ms: median(times), files, bytes };
}

interface Run {
  index: RepoIndex;
  localiser: Localiser;
  embedder: LsiEmbedder;
  readMs: number;
  indexMs: number;
  embedMs: number;
  totalMs: number;
  fit: string;
}

/** Indexes a commit and builds what ranking needs (embedding, symbol index, history), as `fixwright localise` does before its first query. */
async function indexWith(localiser: Localiser, embedder: LsiEmbedder, sha: string): Promise<Run> {
  const t0 = performance.now();
  const index = await localiser.index({ kind: 'git', gitDir: gitDir!, commit: sha });
  const t1 = performance.now();
  await localiser.prepare(index);
  const t2 = performance.now();
  const timing = localiser.lastTiming!;
  const fit =
    embedder.lastFit?.kind === 'folded'
      ? `folded into a stored basis (${embedder.lastFit.folded} files folded in)`
      : `${embedder.lastFit?.kind ?? 'none'}`;
  return {
    index,
    localiser,
    embedder,
    readMs: timing.readMs,
    indexMs: timing.indexMs,
    embedMs: t2 - t1,
    totalMs: t2 - t0,
    fit,
  };
}

function fresh(cacheDir: string): { localiser: Localiser; embedder: LsiEmbedder } {
  const embedder = new LsiEmbedder();
  // The shipped ranking (the learned fusion reads all ten signals), so queries cost what users pay.
  return { localiser: new Localiser({ cacheDir, embedder, fusion: shippedFusionModel() }), embedder };
}

async function main(): Promise<void> {
  if (!gitDir) throw new Error('usage: npm run perf:localise -- GIT_DIR [COMMIT] (a bare or non-bare git directory)');
  const b = revParse(commit);
  const a = revParse(`${b}~${BACK}`);
  const [floorA, floorB] = [await floor(a), await floor(b)];

  const work = mkdtempSync(join(tmpdir(), 'fw-bench-localise-'));
  try {
    const cacheDir = join(work, 'cache');
    const cold = fresh(cacheDir);
    const runA = await indexWith(cold.localiser, cold.embedder, a);
    // What a later process finds on disk: A's index entry and LSI basis, nothing of B.
    const afterA = join(work, 'cache-after-a');
    cpSync(cacheDir, afterA, { recursive: true });
    const runB = await indexWith(cold.localiser, cold.embedder, b);
    const later = fresh(afterA);
    const runB2 = await indexWith(later.localiser, later.embedder, b);
    const changed = [...runB.index.blobs].filter(([path, blob]) => runA.index.blobs.get(path) !== blob).length;

    const fromDataset = process.env.BENCH_DATASET
      ? readFileSync(process.env.BENCH_DATASET, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => (JSON.parse(l) as { problem_statement: string }).problem_statement)
          .filter(Boolean)
          .slice(0, 20)
      : undefined;
    const queries = fromDataset ?? [
      'Session.request ignores the proxies argument when trust_env is set',
      'Traceback (most recent call last):\n  File "x/models.py", line 10, in prepare\nTypeError: unhashable type',
      'unused-import false positive for a module used in a type comment',
      'Dataset.interp drops attributes when keep_attrs is true',
      'the --collect-only option needs a one letter shortcut',
    ];
    const queryKind = fromDataset
      ? `issue texts from ${process.env.BENCH_DATASET}`
      : 'short hand-written queries (BENCH_DATASET=rows.jsonl for issue texts)';
    const latencies: number[] = [];
    for (let round = 0; round < 5; round++) {
      for (const q of queries) {
        const t = performance.now();
        await runB.localiser.rank(runB.index, q);
        latencies.push(performance.now() - t);
      }
    }

    const ratio = (x: number, f: number) => `${(x / f).toFixed(1)}x`;
    const row = (label: string, cells: string[]) =>
      console.log(`  ${label.padEnd(34)}${cells.map((c) => c.padStart(20)).join('')}`);
    console.log(
      `fixwright localise bench: ${gitDir}; A = ${a.slice(0, 10)} (${BACK} commits before B), B = ${b.slice(0, 10)} (${commit}); ${cpus().length} CPU cores`,
    );
    console.log(
      `  B: ${runB.index.summaries.length} Python files indexed ` +
        `of ${floorB.files} read (${(floorB.bytes / 1024 / 1024).toFixed(1)} MiB); ${changed} indexed files new or changed since A`,
    );
    row('', ['A cold', 'B, same localiser', 'B, fresh localiser']);
    row('floor: read blobs from git (median)', [ms(floorA.ms), ms(floorB.ms), ms(floorB.ms)]);
    row('read snapshot', [ms(runA.readMs), ms(runB.readMs), ms(runB2.readMs)]);
    row('parse, tokenise, BM25, graph, cache', [ms(runA.indexMs), ms(runB.indexMs), ms(runB2.indexMs)]);
    row('LSI, symbol index, history', [ms(runA.embedMs), ms(runB.embedMs), ms(runB2.embedMs)]);
    row('index in all', [ms(runA.totalMs), ms(runB.totalMs), ms(runB2.totalMs)]);
    row('ratio to the floor', [
      ratio(runA.totalMs, floorA.ms),
      ratio(runB.totalMs, floorB.ms),
      ratio(runB2.totalMs, floorB.ms),
    ]);
    console.log(`  LSI: A ${runA.fit}; B same process ${runB.fit}; B new process ${runB2.fit}`);
    console.log(
      `  query on B ` +
        `(warm, ${latencies.length} runs ` +
        `of ${queries.length} ${queryKind}): p50 ${pct(latencies, 0.5).toFixed(1)} ms, p95 ${pct(latencies, 0.95).toFixed(1)} ms`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
