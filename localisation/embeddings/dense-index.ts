import { createRequire } from 'node:module';
import { FixwrightError } from '../../core/index.js';
import type { Ranking } from '../fusion.js';
import type { DenseRanker } from '../rank.js';
import type { CorpusEmbedding } from './embedder.js';

const require = createRequire(import.meta.url);

interface FaissIndex {
  add(vectors: number[]): void;
  ntotal(): number;
  search(query: number[], k: number): { distances: number[]; labels: number[] };
}

/** Loads faiss-node, with what to do when its native addon is missing. */
function loadFaiss(): { IndexFlatIP: new (d: number) => FaissIndex } {
  try {
    return require('faiss-node') as { IndexFlatIP: new (d: number) => FaissIndex };
  } catch (err) {
    throw new FixwrightError(
      'FW_ERR_CONFIG',
      `faiss-node is not built (${(err as Error).message.split('\n')[0]}); run scripts/setup.sh, or pass --embeddings none`,
      { cause: err },
    );
  }
}

/**
 * Exact cosine search over file vectors in a faiss IndexFlatIP (vectors are unit length, so inner
 * product is cosine). k is capped at the number of files: faiss refuses k > n.
 */
export function createDenseRanker(paths: readonly string[], embedding: CorpusEmbedding): DenseRanker {
  const { IndexFlatIP } = loadFaiss();
  const index = new IndexFlatIP(embedding.dimensions);
  if (paths.length > 0) {
    const flat = new Array<number>(paths.length * embedding.dimensions);
    embedding.vectors.forEach((v, i) => {
      for (let d = 0; d < embedding.dimensions; d++) flat[i * embedding.dimensions + d] = v[d]!;
    });
    index.add(flat);
  }
  return {
    async rank(query: string, limit: number): Promise<Ranking> {
      const n = index.ntotal();
      if (n === 0 || limit < 1) return [];
      const q = await embedding.embedQuery(query);
      if (!q.some((x) => x !== 0)) return [];
      const { distances, labels } = index.search(Array.from(q), Math.min(limit, n));
      return labels
        .map((label, i) => ({ path: paths[label]!, score: distances[i]! }))
        .filter((r) => r.path !== undefined && r.score > 0);
    },
  };
}
