import { createRequire } from 'node:module';
import type { FileSummary } from './python-parse.js';
import { pathTokens, tokenize } from './tokenize.js';

const require = createRequire(import.meta.url);

interface WinkEngine {
  defineConfig(config: object): boolean;
  definePrepTasks(tasks: Array<(input: unknown) => unknown>, field?: string): number;
  addDoc(doc: Record<string, string>, id: string): number;
  consolidate(fp?: number): boolean;
  search(text: string, limit?: number): Array<[string, number]>;
  exportJSON(): string;
  importJSON(json: string): boolean;
}

/** Field weights of the BM25F index (path and symbol names say most about what a file is). */
export interface Bm25Weights {
  path: number;
  symbols: number;
  docs: number;
  body: number;
}

export const DEFAULT_BM25_WEIGHTS: Bm25Weights = { path: 3, symbols: 2, docs: 1, body: 1 };

// wink tokenises each field through these tasks; fields arrive pre-tokenised as space-joined text.
const splitTokens = (text: unknown) => String(text).split(' ').filter(Boolean);
// wink refuses fewer than 3 documents: pad tiny repositories with documents no query can match.
const PAD = '\u0001pad';

/** The text of each field of a file, as tokens joined by spaces. */
export function bm25Fields(summary: FileSummary, text: string): Record<keyof Bm25Weights, string> {
  const symbols = summary.symbols.map((s) => s.qualname).join(' ');
  const docs = [summary.docstring ?? '', ...summary.symbols.map((s) => s.docstring ?? '')].join(' ');
  return {
    path: pathTokens(summary.path).join(' '),
    symbols: tokenize(symbols).join(' '),
    docs: tokenize(docs).join(' '),
    body: tokenize(text).join(' '),
  };
}

/** A BM25F index over a repository's files, built with wink-bm25-text-search. */
export class Bm25Index {
  private readonly engine: WinkEngine;

  private constructor(engine: WinkEngine) {
    this.engine = engine;
  }

  private static newEngine(weights: Bm25Weights): WinkEngine {
    const factory = require('wink-bm25-text-search') as () => WinkEngine;
    const engine = factory();
    engine.defineConfig({ fldWeights: { ...weights }, bm25Params: { k1: 1.2, b: 0.75, k: 1 } });
    engine.definePrepTasks([splitTokens]);
    return engine;
  }

  /** Indexes the given documents (id → field texts). */
  static build(docs: ReadonlyMap<string, Record<keyof Bm25Weights, string>>, weights: Bm25Weights = DEFAULT_BM25_WEIGHTS): Bm25Index {
    const engine = Bm25Index.newEngine(weights);
    for (const [id, fields] of docs) engine.addDoc(fields, id);
    for (let i = docs.size; i < 3; i++) engine.addDoc({ path: `${PAD}${i}`, symbols: '', docs: '', body: '' }, `${PAD}${i}`);
    engine.consolidate(6);
    return new Bm25Index(engine);
  }

  /** Restores an index saved with `toJSON`. */
  static fromJSON(json: string, weights: Bm25Weights = DEFAULT_BM25_WEIGHTS): Bm25Index {
    const engine = Bm25Index.newEngine(weights);
    engine.importJSON(json);
    engine.definePrepTasks([splitTokens]);
    return new Bm25Index(engine);
  }

  toJSON(): string {
    return this.engine.exportJSON();
  }

  /** Files ranked for a query, best first (each query token counted once). */
  search(query: string, limit: number): Array<{ path: string; score: number }> {
    const tokens = [...new Set(tokenize(query))];
    if (tokens.length === 0) return [];
    return this.engine
      .search(tokens.join(' '), limit + 3)
      .filter(([id]) => !id.startsWith(PAD))
      .slice(0, limit)
      .map(([path, score]) => ({ path, score }));
  }
}
