import { type FusedFile, type Ranking, reciprocalRankFusion, type Signal } from './fusion.js';
import { changeFrequency, coChange, historySource, readHistory, type RepoHistory } from './history.js';
import { identifierRanking } from './identifiers.js';
import { issueTitle, withoutEnvironmentReport } from './issue-text.js';
import { DEFAULT_EVIDENCE_WEIGHTS, type EvidenceWeights, issueEvidence } from './issue-evidence.js';
import { personalizedPageRank } from './pagerank.js';
import type { RepoIndex } from './repo-index.js';
import { type SymbolMatch, symbolIndexOf } from './symbol-index.js';

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
  weights: {
    bm25: 1,
    embeddings: 1,
    pagerank: 0.5,
    evidence: 1,
    symbols: 1,
    identifiers: 0,
    history: 0,
    cochange: 0,
    title: 0,
    title_symbols: 0,
  },
  rrfK: 10,
  depth: 100,
  pprSeeds: 5,
  evidence: DEFAULT_EVIDENCE_WEIGHTS,
};

/** The signals ranked from the issue and the index alone; PageRank and co-change are seeded by them. */
export const BASE_SIGNALS = [
  'bm25',
  'embeddings',
  'evidence',
  'symbols',
  'identifiers',
  'history',
  'title',
  'title_symbols',
] as const satisfies readonly Signal[];

/** A query's ranking with what each signal said. */
export interface RankResult {
  files: FusedFile[];
  signals: Partial<Record<Signal, Ranking>>;
  /** Per file the symbols signal ranked: its functions and classes that matched the issue, best first. */
  symbolMatches: Map<string, SymbolMatch[]>;
}

/** Something that ranks files by meaning (an embedding index); optional. */
export interface DenseRanker {
  rank(query: string, limit: number): Promise<Ranking>;
}

/** The base signals' rankings for an issue, before seeding and fusion. */
export interface BaseSignals {
  signals: Partial<Record<Signal, Ranking>>;
  symbolMatches: Map<string, SymbolMatch[]>;
  /** The snapshot's past commits, read once here for co-change (absent without git). */
  history?: RepoHistory;
}

/**
 * Ranks with each base signal whose weight is above 0 (`all`: every one, for ablations that
 * re-fuse one ranking under many weights).
 */
export async function baseSignals(
  index: RepoIndex,
  issueText: string,
  config: RankConfig = DEFAULT_RANK_CONFIG,
  dense?: DenseRanker,
  all = false,
): Promise<BaseSignals> {
  const issue = withoutEnvironmentReport(issueText);
  const on = (s: Signal) => all || config.weights[s] > 0;
  const signals: Partial<Record<Signal, Ranking>> = {};
  let symbolMatches = new Map<string, SymbolMatch[]>();
  if (on('bm25')) signals.bm25 = index.bm25.search(issue, config.depth);
  if (dense && on('embeddings')) signals.embeddings = await dense.rank(issue, config.depth);
  if (on('evidence')) {
    signals.evidence = issueEvidence(issue, index.summaries, index.defs, config.evidence).map((e) => ({
      path: e.path,
      score: e.score,
    }));
  }
  if (on('symbols')) {
    const found = symbolIndexOf(index).search(issue, config.depth);
    signals.symbols = found.files;
    symbolMatches = found.matches;
  }
  if (on('identifiers')) signals.identifiers = identifierRanking(index, issue, config.depth);
  // The title alone, over files and over symbols: the reporter's summary, not drowned by the body's logs.
  const title = issueTitle(issue);
  if (on('title')) signals.title = title ? index.bm25.search(title, config.depth) : [];
  if (on('title_symbols')) signals.title_symbols = title ? symbolIndexOf(index).search(title, config.depth).files : [];
  const history = on('history') || on('cochange') ? historyOf(index) : undefined;
  if (history && on('history')) signals.history = historyPrior(history, index, config.depth);
  return { signals, symbolMatches, history };
}

const priors = new WeakMap<RepoHistory, WeakMap<RepoIndex, Map<number, Ranking>>>();

/** The history prior of an index's candidates: the same for every issue, so computed once per index and depth. */
function historyPrior(history: RepoHistory, index: RepoIndex, depth: number): Ranking {
  let byIndex = priors.get(history);
  if (!byIndex) priors.set(history, (byIndex = new WeakMap()));
  let byDepth = byIndex.get(index);
  if (!byDepth) byIndex.set(index, (byDepth = new Map()));
  let prior = byDepth.get(depth);
  if (!prior) byDepth.set(depth, (prior = changeFrequency(history, candidatesOf(index), depth)));
  return prior;
}

const candidateSets = new WeakMap<RepoIndex, Set<string>>();
function candidatesOf(index: RepoIndex): Set<string> {
  let set = candidateSets.get(index);
  if (!set) candidateSets.set(index, (set = new Set(index.summaries.map((s) => s.path))));
  return set;
}

/** The snapshot's history when it has one (a git snapshot, or a directory inside a checkout). */
function historyOf(index: RepoIndex) {
  const source = historySource(index.key);
  return source ? readHistory(source.gitDir, source.commit) : undefined;
}

/**
 * Seeds PageRank and co-change with the base signals that are switched on, and fuses everything
 * by weighted RRF. Pure given the base rankings, so an ablation re-fuses without re-ranking.
 */
export function fuseSignals(index: RepoIndex, base: BaseSignals, config: RankConfig = DEFAULT_RANK_CONFIG): RankResult {
  const signals: Partial<Record<Signal, Ranking>> = {};
  for (const s of BASE_SIGNALS) if (base.signals[s] && config.weights[s] > 0) signals[s] = base.signals[s];
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
  if (config.weights.cochange > 0) {
    const history = base.history;
    if (history) {
      // Seeded by the issue-dependent signals' fused top (the history prior would seed itself).
      const { history: _prior, ...issueSignals } = signals;
      const top = reciprocalRankFusion(issueSignals, config.weights, config.rrfK).slice(0, config.pprSeeds);
      const seeds = new Map(top.map((f, i) => [f.path, 1 / (i + 1)]));
      signals.cochange = coChange(history, seeds, candidatesOf(index), config.depth);
    }
  }
  return {
    files: reciprocalRankFusion(signals, config.weights, config.rrfK),
    signals,
    symbolMatches: signals.symbols ? base.symbolMatches : new Map(),
  };
}

/**
 * Ranks the index's files for an issue: BM25 over files and over symbols, dense embeddings (when
 * given), issue-name evidence, identifier rarity, change history, and Personalized PageRank over
 * the import graph and co-change seeded by the others, fused by weighted RRF. A signal switched
 * off does not seed the others either, so ablations measure each signal alone.
 */
export async function rankFiles(
  index: RepoIndex,
  issue: string,
  config: RankConfig = DEFAULT_RANK_CONFIG,
  dense?: DenseRanker,
): Promise<RankResult> {
  return fuseSignals(index, await baseSignals(index, issue, config, dense), config);
}
