/** The retrieval signals that get fused. */
export type Signal =
  | 'bm25'
  | 'embeddings'
  | 'pagerank'
  | 'evidence'
  | 'symbols'
  | 'identifiers'
  | 'history'
  | 'cochange'
  | 'title'
  | 'title_symbols';

/** A ranked list from one signal, best first. */
export type Ranking = ReadonlyArray<{ path: string; score: number }>;

/** A fused result: the file, its fused score, and its rank (1-based) in each signal that found it. */
export interface FusedFile {
  path: string;
  score: number;
  ranks: Partial<Record<Signal, number>>;
}

/**
 * Weighted reciprocal rank fusion: score(f) = Σ_s w_s / (k + rank_s(f)). Files a signal did not
 * rank get nothing from it. Ties break by path so results are deterministic.
 */
export function reciprocalRankFusion(
  rankings: Partial<Record<Signal, Ranking>>,
  weights: Partial<Record<Signal, number>>,
  k: number,
): FusedFile[] {
  const fused = new Map<string, FusedFile>();
  for (const [signal, ranking] of Object.entries(rankings) as Array<[Signal, Ranking]>) {
    const weight = weights[signal] ?? 0;
    if (weight <= 0) continue;
    ranking.forEach(({ path }, i) => {
      let f = fused.get(path);
      if (!f) fused.set(path, (f = { path, score: 0, ranks: {} }));
      f.score += weight / (k + i + 1);
      f.ranks[signal] = i + 1;
    });
  }
  return [...fused.values()].sort((a, b) => b.score - a.score || a.path.localeCompare(b.path));
}
