import { type FusedFile, type Ranking, reciprocalRankFusion, type Signal } from './fusion.js';
import { DEFAULT_EVIDENCE_WEIGHTS, type EvidenceWeights, issueEvidence } from './issue-evidence.js';
import { personalizedPageRank } from './pagerank.js';
import type { RepoIndex } from './repo-index.js';

/** How the signals are weighed; every field has a default tuned on the tuning rows. */
export interface RankConfig {
  /** RRF weight per signal; 0 switches a signal off (for ablations). */
  weights: Record<Signal, number>;
  /** RRF's k: smaller values trust the top of each list more. */
  rrfK: number;
  /** How many files of each lexical ranking enter fusion. */
  depth: number;
  /** How many top BM25 / embedding hits seed PageRank besides the issue's own evidence. */
  pprSeeds: number;
  evidence: EvidenceWeights;
}

export const DEFAULT_RANK_CONFIG: RankConfig = {
  weights: { bm25: 1, embeddings: 1, pagerank: 0.5, evidence: 1 },
  rrfK: 10,
  depth: 100,
  pprSeeds: 5,
  evidence: DEFAULT_EVIDENCE_WEIGHTS,
};

/** A query's ranking with what each signal said. */
export interface RankResult {
  files: FusedFile[];
  signals: Partial<Record<Signal, Ranking>>;
}

/** Something that ranks files by meaning (an embedding index); optional. */
export interface DenseRanker {
  rank(query: string, limit: number): Promise<Ranking>;
}

/**
 * Ranks the index's files for an issue: BM25, dense embeddings (when given), issue-name evidence,
 * and Personalized PageRank over the import graph seeded by the others, fused by weighted RRF.
 */
export async function rankFiles(index: RepoIndex, issue: string, config: RankConfig = DEFAULT_RANK_CONFIG, dense?: DenseRanker): Promise<RankResult> {
  const signals: Partial<Record<Signal, Ranking>> = {};
  // A signal switched off does not seed PageRank either, so ablations measure each signal alone.
  if (config.weights.bm25 > 0) signals.bm25 = index.bm25.search(issue, config.depth);
  if (dense && config.weights.embeddings > 0) signals.embeddings = await dense.rank(issue, config.depth);
  if (config.weights.evidence > 0) {
    signals.evidence = issueEvidence(issue, index.summaries, index.defs, config.evidence).map((e) => ({ path: e.path, score: e.score }));
  }
  if (config.weights.pagerank > 0) {
    const seeds = new Map<string, number>();
    const seed = (ranking: Ranking | undefined, count: number, weight: number) =>
      ranking?.slice(0, count).forEach(({ path }, i) => seeds.set(path, (seeds.get(path) ?? 0) + weight / (i + 1)));
    seed(signals.bm25, config.pprSeeds, 1);
    seed(signals.embeddings, config.pprSeeds, 1);
    seed(signals.evidence, config.pprSeeds, 2);
    const ppr = personalizedPageRank(index.graph, seeds);
    signals.pagerank = [...ppr.entries()]
      .map(([path, score]) => ({ path, score }))
      .sort((a, b) => b.score - a.score || a.path.localeCompare(b.path))
      .slice(0, config.depth);
  }
  const used: Partial<Record<Signal, Ranking>> = {};
  for (const [signal, ranking] of Object.entries(signals) as Array<[Signal, Ranking]>) {
    if (config.weights[signal] > 0) used[signal] = ranking;
  }
  return { files: reciprocalRankFusion(used, config.weights, config.rrfK), signals };
}
