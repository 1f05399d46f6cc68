import { type Bm25Weights, Bm25Index, bm25Fields, DEFAULT_BM25_WEIGHTS } from './bm25.js';
import { isDocsFile, isTestFile } from './file-filter.js';
import { buildImportGraph } from './import-graph.js';
import { symbolDefinitions } from './issue-evidence.js';
import { pathTokens } from './tokenize.js';
import { type FileSummary, summarisePython } from './python-parse.js';
import type { RepoSnapshot } from './snapshot.js';

/** Everything retrieval needs about one snapshot, built once and reused for every query. */
export interface RepoIndex {
  key: string;
  /** Candidate files (tests excluded unless asked for), sorted by path. */
  summaries: FileSummary[];
  bm25: Bm25Index;
  graph: Map<string, string[]>;
  defs: Map<string, Set<string>>;
  /** Source text by path, for embedders and the agent's context. */
  texts: Map<string, string>;
}

/** Per-blob results shared across snapshots of one repository (most files do not change between commits). */
interface BlobEntry {
  summary: Omit<FileSummary, 'path'>;
  fields: Record<keyof Bm25Weights, string>;
}

/** Parsed files by blob id, so indexing the next commit of a repository re-parses only what changed. */
export class BlobCache {
  private readonly entries = new Map<string, BlobEntry>();
  constructor(private readonly maxEntries = 50_000) {}

  get(blob: string, path: string, text: string): { summary: FileSummary; fields: Record<keyof Bm25Weights, string> } {
    let entry = this.entries.get(blob);
    if (!entry) {
      const summary = summarisePython(path, text);
      const { path: _omit, ...rest } = summary;
      entry = { summary: rest, fields: bm25Fields(summary, text) };
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(blob, entry);
    }
    // The path field depends on where the blob sits, not on its content.
    const summary = { ...entry.summary, path };
    return { summary, fields: { ...entry.fields, path: pathTokens(path).join(' ') } };
  }
}

/** Options for building an index. */
export interface IndexOptions {
  includeTests?: boolean;
  /** Keep doc/, docs/ and examples/ sources as candidates (off: they match issue words but are rarely what changes). */
  includeDocs?: boolean;
  bm25Weights?: Bm25Weights;
  cache?: BlobCache;
}

/** Parses every candidate file and builds the BM25 index, import graph and symbol table. */
export function buildRepoIndex(snapshot: RepoSnapshot, options: IndexOptions = {}): RepoIndex {
  const cache = options.cache ?? new BlobCache();
  const summaries: FileSummary[] = [];
  const docs = new Map<string, Record<keyof Bm25Weights, string>>();
  const texts = new Map<string, string>();
  for (const file of snapshot.files) {
    if (!options.includeTests && isTestFile(file.path)) continue;
    if (!options.includeDocs && isDocsFile(file.path)) continue;
    const { summary, fields } = cache.get(file.blob, file.path, file.text);
    summaries.push(summary);
    docs.set(file.path, fields);
    texts.set(file.path, file.text);
  }
  return {
    key: snapshot.key,
    summaries,
    bm25: Bm25Index.build(docs, options.bm25Weights ?? DEFAULT_BM25_WEIGHTS),
    graph: buildImportGraph(summaries),
    defs: symbolDefinitions(summaries),
    texts,
  };
}
