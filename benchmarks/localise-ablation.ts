import {
  type Signal,
  type Localiser,
  baseSignals,
  DEFAULT_RANK_CONFIG,
  fuseSignals,
  type RankConfig,
} from '../localisation/index.js';
import type { SwebenchRow } from './dataset.js';
import { forEachUsableRow, recallFigures, type SkippedInstance } from './localise-eval.js';

/** Every fused signal, in table order. */
export const ABLATION_SIGNALS: readonly Signal[] = [
  'bm25',
  'embeddings',
  'evidence',
  'pagerank',
  'symbols',
  'identifiers',
  'history',
  'cochange',
  'title',
  'title_symbols',
];

/** R@1/5/10 (all gold files in the top k) and MRR of one configuration. */
export interface AblationFigures {
  r1: number;
  r5: number;
  r10: number;
  mrr: number;
}

/** One signal's row: everything on without it, it alone, and the shipped defaults with it toggled. */
export interface AblationSignalRow {
  signal: Signal;
  default_weight: number;
  without: AblationFigures;
  alone: AblationFigures;
  /** The default configuration with this signal switched on (weight 1) when it is off by default, or off when it is on. */
  default_toggled: AblationFigures;
}

/** `fixwright localise --dataset … --ablate` output. */
export interface AblationReport {
  instances: number;
  /** Every signal at its default weight, or 1 where the default is 0. */
  all: AblationFigures;
  default: AblationFigures;
  signals: AblationSignalRow[];
  skipped: SkippedInstance[];
}

/** Every signal on: the default weight where it has one, 1 where the default switched it off. */
export function allOnConfig(base: RankConfig = DEFAULT_RANK_CONFIG): RankConfig {
  const weights = { ...base.weights };
  for (const s of ABLATION_SIGNALS) if (!(weights[s] > 0)) weights[s] = 1;
  return { ...base, weights };
}

function withWeight(config: RankConfig, signal: Signal, weight: number): RankConfig {
  return { ...config, weights: { ...config.weights, [signal]: weight } };
}

function figures(results: ReadonlyArray<{ gold: string[]; ranked: string[] }>): AblationFigures {
  const f = recallFigures(results);
  return { r1: f.recall['1'], r5: f.recall['5'], r10: f.recall['10'], mrr: f.mrr };
}

/**
 * Measures each signal on a dataset: each row is indexed and ranked by every base signal once,
 * then re-fused under every configuration (all on, all on without one signal, one signal alone,
 * the defaults with one signal toggled). A derived signal (PageRank, co-change) alone is its
 * ranking as seeded with everything on.
 */
export async function ablateLocalisation(
  rows: readonly SwebenchRow[],
  options: {
    reposDir: string;
    localiser: Localiser;
    config?: RankConfig;
    onProgress?: (done: number, total: number, id: string) => void;
  },
): Promise<AblationReport> {
  const defaults = options.config ?? DEFAULT_RANK_CONFIG;
  const all = allOnConfig(defaults);
  const configs: Record<string, RankConfig> = { all, default: defaults };
  for (const s of ABLATION_SIGNALS) {
    configs[`without:${s}`] = withWeight(all, s, 0);
    configs[`toggled:${s}`] = withWeight(defaults, s, defaults.weights[s] > 0 ? 0 : 1);
  }
  const ranked: Record<string, Array<{ gold: string[]; ranked: string[] }>> = Object.fromEntries(
    [...Object.keys(configs), ...ABLATION_SIGNALS.map((s) => `alone:${s}`)].map((k) => [k, []]),
  );
  const skipped = await forEachUsableRow(rows, options, async (row, gold, gitDir) => {
    const index = await options.localiser.index({ kind: 'git', gitDir, commit: row.base_commit });
    await options.localiser.prepare(index);
    const base = await baseSignals(index, row.problem_statement, all, await options.localiser.denseRanker(index), true);
    // Files no configuration found follow in path order, as in the evaluation, so MRR matches it.
    const paths = index.summaries.map((s) => s.path);
    const complete = (list: string[]) => {
      const seen = new Set(list);
      return [...list, ...paths.filter((p) => !seen.has(p))];
    };
    for (const [name, config] of Object.entries(configs)) {
      const result = fuseSignals(index, base, config);
      ranked[name]!.push({ gold, ranked: complete(result.files.map((f) => f.path)) });
      if (name === 'all')
        for (const s of ABLATION_SIGNALS)
          ranked[`alone:${s}`]!.push({ gold, ranked: complete((result.signals[s] ?? []).map((f) => f.path)) });
    }
  });
  return {
    instances: ranked.all!.length,
    all: figures(ranked.all!),
    default: figures(ranked.default!),
    signals: ABLATION_SIGNALS.map((signal) => ({
      signal,
      default_weight: defaults.weights[signal],
      without: figures(ranked[`without:${signal}`]!),
      alone: figures(ranked[`alone:${signal}`]!),
      default_toggled: figures(ranked[`toggled:${signal}`]!),
    })),
    skipped,
  };
}

/** The report as a plain-text table (R@1 / R@5 / R@10 / MRR per configuration). */
export function formatAblation(report: AblationReport): string {
  const f = (x: AblationFigures) => `${x.r1.toFixed(3)} ${x.r5.toFixed(3)} ${x.r10.toFixed(3)} ${x.mrr.toFixed(3)}`;
  const head = 'R@1   R@5   R@10  MRR  ';
  // The signal column fits the longest name (title_symbols).
  const width = Math.max(12, ...report.signals.map((r) => r.signal.length));
  const lines = [
    `instances ${report.instances}`,
    `all signals on (default weight, 1 where the default is 0): ${f(report.all)}`,
    `default weights:                                           ${f(report.default)}`,
    '',
    `${'signal'.padEnd(width)} ${'weight'.padStart(6)}  ${'without (all on)'.padEnd(head.length)}  ${'alone'.padEnd(head.length)}  default with it toggled`,
    `${''.padEnd(width)} ${''.padStart(6)}  ${head}  ${head}  ${head}`,
    ...report.signals.map(
      (r) =>
        `${r.signal.padEnd(width)} ${String(r.default_weight).padStart(6)}  ${f(r.without)}  ${f(r.alone)}  ${f(r.default_toggled)}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}
