// benchmarks/: measuring fixwright on SWE-bench-style datasets. This index is the light part,
// localisation's benchmarks (`fixwright localise --dataset`), which loads neither the sandbox nor the
// agent; grading in the sandbox (eval/), solving with the agent (run/), the queue (queue/) and the
// dataset readers for parquet files (eval/instances.ts) are entry points of their own.
export { loadJsonlRows, type SwebenchRow } from './dataset.js';
export { collectRankings, fitFusion, type FusionFitReport } from './fusion-fit.js';
export { historyRows } from './history-rows.js';
export { ablateLocalisation, formatAblation } from './localise-ablation.js';
export { evaluateLocalisation, type LocaliseReport } from './localise-eval.js';
export { cacheRepositories } from './repository-cache.js';
