/** A repository's files as the embedders see them. */
export interface EmbeddingCorpus {
  paths: readonly string[];
  /** Source text by path (API embedders read it). */
  texts: ReadonlyMap<string, string>;
  /** Each file's tokens counted (path tokens, then the body's), when an index already has them. */
  terms?: ReadonlyMap<string, { terms: readonly string[]; counts: readonly number[] }>;
  /** Each file's blob id, with `repository`: lets an embedder reuse what it fitted on another commit. */
  blobs?: ReadonlyMap<string, string>;
  /** Names the repository (not the commit) the files come from. */
  repository?: string;
  /** The commit the files are at, and the git directory that holds it, when they come from git. */
  commit?: string;
  gitDir?: string;
  /** Which files were candidates: a fit over another set of candidates is not reused. */
  candidates?: { includeTests?: boolean; includeDocs?: boolean };
  /** A folder an embedder may keep fitted models in, bounded like the index cache. */
  cache?: { dir: string; maxBytes?: number };
}

/** Embeddings of a corpus, and the way to embed a query into the same space. */
export interface CorpusEmbedding {
  dimensions: number;
  vectors: Float32Array[];
  embedQuery(text: string): Promise<Float32Array>;
}

/**
 * Turns files and queries into vectors. Two kinds: an offline one fitted on the repository itself
 * (LSI), and any OpenAI-compatible `/v1/embeddings` endpoint.
 */
export interface Embedder {
  /** For reports and cache keys: `lsi-128`, `openai:text-embedding-3-small`. */
  readonly name: string;
  embedCorpus(corpus: EmbeddingCorpus): Promise<CorpusEmbedding>;
}

/** Scales a vector to unit length in place (zero vectors stay zero), so inner product is cosine. */
export function normalise(vector: Float32Array): Float32Array {
  let norm = 0;
  for (const x of vector) norm += x * x;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < vector.length; i++) vector[i]! /= norm;
  return vector;
}
