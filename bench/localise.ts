/**
 * `npm run bench:localise [GIT_DIR] [COMMIT]`: indexing and query speed on one repository, side by
 * side in one run. The floor is just reading the same blobs from git; the index build adds
 * tree-sitter parsing, tokenising, BM25 and the import graph. Queries run on a warm index.
 */
import { readFileSync } from 'node:fs';
import { createDenseRanker } from '../localisation/embeddings/dense-index.js';
import { LsiEmbedder } from '../localisation/embeddings/lsi.js';
import { buildRepoIndex } from '../localisation/repo-index.js';
import { rankFiles } from '../localisation/rank.js';
import { readGitSnapshot } from '../localisation/snapshot.js';

const gitDir = process.argv[2] ?? process.env.BENCH_REPO;
const commit = process.argv[3] ?? 'HEAD';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]!;

async function main(): Promise<void> {
  if (!gitDir) throw new Error('usage: npm run bench:localise -- GIT_DIR [COMMIT] (a bare or non-bare git directory)');
  const reads: number[] = [];
  const builds: number[] = [];
  const embeds: number[] = [];
  let dense;
  let files = 0;
  let bytes = 0;
  let index;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const snapshot = await readGitSnapshot(gitDir, commit);
    const t1 = performance.now();
    index = buildRepoIndex(snapshot); // a fresh blob cache: every file parsed
    const t2 = performance.now();
    const paths = index.summaries.map((s) => s.path);
    dense = createDenseRanker(paths, await new LsiEmbedder().embedCorpus({ paths, texts: index.texts }));
    const t3 = performance.now();
    reads.push(t1 - t0);
    builds.push(t2 - t0);
    embeds.push(t3 - t2);
    files = index.summaries.length; // the files actually parsed and indexed (tests and docs are not)
    bytes = snapshot.bytesRead;
  }
  // Real issue texts when BENCH_DATASET names SWE-bench JSONL rows; short hand-written ones otherwise.
  const fromDataset = process.env.BENCH_DATASET
    ? readFileSync(process.env.BENCH_DATASET, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { problem_statement: string }).problem_statement)
        .slice(0, 20)
    : undefined;
  const queries = (fromDataset ?? [
    'Session.request ignores the proxies argument when trust_env is set',
    'Traceback (most recent call last):\n  File "x/models.py", line 10, in prepare\nTypeError: unhashable type',
    'unused-import false positive for a module used in a type comment',
    'Dataset.interp drops attributes when keep_attrs is true',
    'the --collect-only option needs a one letter shortcut',
  ]).filter(Boolean);
  const queryKind = fromDataset ? `issue texts from ${process.env.BENCH_DATASET}` : 'short hand-written queries';
  const latencies: number[] = [];
  for (let round = 0; round < 20; round++) {
    for (const q of queries) {
      const t = performance.now();
      await rankFiles(index!, q, undefined, dense);
      latencies.push(performance.now() - t);
    }
  }
  const read = median(reads);
  const build = median(builds);
  console.log(`fixwright localise bench: ${gitDir} @ ${commit}; ${files} Python files, ${(bytes / 1024 / 1024).toFixed(1)} MiB; median of ${RUNS}`);
  console.log(`  read blobs from git (floor)   ${read.toFixed(0).padStart(6)} ms`);
  console.log(`  read + build index            ${build.toFixed(0).padStart(6)} ms   ratio ${(build / read).toFixed(1)}x the floor`);
  console.log(`  indexing throughput           ${(files / (build / 1000)).toFixed(0).padStart(6)} files/s`);
  console.log(`  + LSI embeddings into faiss   ${median(embeds).toFixed(0).padStart(6)} ms   (read + index + embed ${(build + median(embeds)).toFixed(0)} ms, ${((build + median(embeds)) / read).toFixed(1)}x the floor)`);
  console.log(`  query latency (warm, ${latencies.length} runs of ${queryKind})  p50 ${pct(latencies, 0.5).toFixed(1)} ms  p95 ${pct(latencies, 0.95).toFixed(1)} ms`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
