import { readFileSync, writeFileSync } from 'node:fs';
import { Matrix, solve } from 'ml-matrix';
import { z } from 'zod';
import { FixwrightError } from '../core/index.js';
import type { FusedFile, Ranking, Signal } from './fusion.js';

/**
 * Learned fusion: a logistic regression over what each signal said of a file (its reciprocal rank,
 * its score relative to the signal's best, whether the signal found it at all, and how many
 * signals agree), giving each candidate file a probability that the fix changes it.
 *
 * Why a model and not hand-set RRF weights: the weights are fitted where they can be checked out
 * of fold (repository-wise cross-validation), and the output is a probability, which is what
 * makes conformal sets comparable across repositories: rank-derived features do not grow with
 * the number of files, so a 1,000-file repository does not get a flatter distribution (and a
 * larger set) than a 100-file one just for having more candidates.
 */

/** One fitted logistic model over standardised features. */
export interface LogisticModel {
  weights: number[];
  bias: number;
  /** Each feature's mean and scale on the training rows (features are standardised with them). */
  mean: number[];
  scale: number[];
}

/** A fusion model as shipped in localisation/fusion-model.json. */
export interface FusionModel extends LogisticModel {
  version: 1;
  /** The signals whose rankings it reads, in feature order. */
  signals: Signal[];
  /** Feature names in order (for reading the model, and to refuse a model built for other features). */
  features: string[];
  l2: number;
  /**
   * The model refitted without each repository's rows: a row it was trained on is ranked by the
   * model of its own repository's fold, so evaluating on the training rows stays out of fold.
   */
  folds: Record<string, LogisticModel>;
  /** The rows it was trained on: instance id → repository. */
  trainedOn: Record<string, string>;
  created: string;
}

/**
 * Features that do not depend on any one signal: the rank in a plain (unweighted, k = 10) RRF of
 * every signal read, how many signals put the file in their top 3 / top 10, and __init__.py.
 */
const SHARED_FEATURES = ['rrf.rr', 'rrf.lr', 'agree_top3', 'agree_top10', 'is_init'] as const;

/** Ranks past this count as "not found" in the log-rank feature (signals list at most 100). */
const LOG_RANK_DEPTH = 128;

/** The feature names for some signals, in the order `fileFeatures` writes them. */
export function featureNames(signals: readonly Signal[]): string[] {
  return [...signals.flatMap((s) => [`${s}.rr`, `${s}.lr`, `${s}.rel`]), ...SHARED_FEATURES];
}

/** Reciprocal rank and log-rank (1 at the top, 0 at LOG_RANK_DEPTH and for a file not ranked): the first tells the top apart, the second the middle. */
const rankFeatures = (rank: number | undefined) =>
  rank === undefined ? [0, 0] : [1 / rank, Math.max(0, 1 - Math.log(rank) / Math.log(LOG_RANK_DEPTH))];

/** A candidate file with its raw features, in `featureNames(signals)` order. */
export interface FileFeatures {
  path: string;
  x: number[];
}

/**
 * Every file some signal ranked, with its features. A signal that is absent (switched off, or no
 * git history for a directory) contributes zeros, as for a file it did not find.
 */
export function fileFeatures(rankings: Partial<Record<Signal, Ranking>>, signals: readonly Signal[]): FileFeatures[] {
  const paths = new Set<string>();
  for (const s of signals) for (const { path } of rankings[s] ?? []) paths.add(path);
  const lookups = signals.map((s) => {
    const ranking = rankings[s] ?? [];
    const top = Math.max(0, ...ranking.map((r) => r.score));
    return new Map(ranking.map((r, i) => [r.path, { rank: i + 1, rel: top > 0 ? Math.max(0, r.score) / top : 0 }]));
  });
  const rrf = new Map<string, number>();
  for (const lookup of lookups)
    for (const [path, hit] of lookup) rrf.set(path, (rrf.get(path) ?? 0) + 1 / (10 + hit.rank));
  const rrfRank = new Map(
    [...rrf].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([path], i) => [path, i + 1]),
  );
  return [...paths].sort().map((path) => {
    const x: number[] = [];
    let top3 = 0;
    let top10 = 0;
    for (const lookup of lookups) {
      const hit = lookup.get(path);
      x.push(...rankFeatures(hit?.rank), hit ? hit.rel : 0);
      if (hit && hit.rank <= 3) top3 += 1;
      if (hit && hit.rank <= 10) top10 += 1;
    }
    const n = Math.max(1, signals.length);
    x.push(...rankFeatures(rrfRank.get(path)), top3 / n, top10 / n, /(^|\/)__init__\.py$/.test(path) ? 1 : 0);
    return { path, x };
  });
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** The model's probability for raw features `x`. */
export function probability(model: LogisticModel, x: readonly number[]): number {
  let z = model.bias;
  for (let j = 0; j < model.weights.length; j++)
    z += model.weights[j]! * (((x[j] ?? 0) - model.mean[j]!) / model.scale[j]!);
  return sigmoid(z);
}

/**
 * Fits an L2-regularised logistic regression by Newton's method (IRLS). Small and exact: a few
 * thousand candidate files and a few dozen features converge in a handful of steps.
 */
export function fitLogistic(examples: ReadonlyArray<{ x: readonly number[]; y: 0 | 1 }>, l2: number): LogisticModel {
  if (examples.length === 0)
    throw new FixwrightError('FW_ERR_BAD_INPUT', 'no examples to fit the fusion model on', { field: 'dataset' });
  const d = examples[0]!.x.length;
  const mean = new Array<number>(d).fill(0);
  const scale = new Array<number>(d).fill(0);
  for (const e of examples) for (let j = 0; j < d; j++) mean[j]! += e.x[j]! / examples.length;
  for (const e of examples) for (let j = 0; j < d; j++) scale[j]! += (e.x[j]! - mean[j]!) ** 2 / examples.length;
  // A feature constant on the training rows gets scale 1, so it contributes nothing and divides by nothing.
  for (let j = 0; j < d; j++) scale[j] = Math.sqrt(scale[j]!) > 1e-9 ? Math.sqrt(scale[j]!) : 1;
  const rows = examples.map((e) => [1, ...e.x.map((v, j) => (v - mean[j]!) / scale[j]!)]);
  let beta = new Array<number>(d + 1).fill(0);
  for (let iter = 0; iter < 50; iter++) {
    const grad = new Array<number>(d + 1).fill(0);
    const hess = Matrix.zeros(d + 1, d + 1);
    rows.forEach((r, i) => {
      const p = sigmoid(r.reduce((sum, v, j) => sum + v * beta[j]!, 0));
      const w = Math.max(p * (1 - p), 1e-9);
      const err = examples[i]!.y - p;
      for (let a = 0; a <= d; a++) {
        grad[a]! += err * r[a]!;
        for (let b = a; b <= d; b++) hess.set(a, b, hess.get(a, b) + w * r[a]! * r[b]!);
      }
    });
    for (let a = 0; a <= d; a++) {
      for (let b = 0; b < a; b++) hess.set(a, b, hess.get(b, a));
      // The bias is not shrunk: only the features' weights are.
      if (a > 0) {
        hess.set(a, a, hess.get(a, a) + l2);
        grad[a]! -= l2 * beta[a]!;
      }
    }
    const step = solve(hess, Matrix.columnVector(grad)).to1DArray();
    beta = beta.map((b, j) => b + step[j]!);
    if (Math.max(...step.map(Math.abs)) < 1e-8) break;
  }
  // Separable data or a degenerate feature can diverge; a model with NaN would rank nothing and could not be saved.
  if (!beta.every(Number.isFinite))
    throw new FixwrightError('FW_ERR_BAD_INPUT', 'the fusion fit diverged (a weight is not finite): use a larger L2', {
      field: 'l2',
    });
  return { bias: beta[0]!, weights: beta.slice(1), mean, scale };
}

/** The candidate files, most probable first, each with its probability as its score. */
export function learnedFusion(
  model: LogisticModel,
  signals: readonly Signal[],
  rankings: Partial<Record<Signal, Ranking>>,
): FusedFile[] {
  const ranks = new Map<string, Partial<Record<Signal, number>>>();
  for (const s of signals)
    (rankings[s] ?? []).forEach(({ path }, i) => ranks.set(path, { ...ranks.get(path), [s]: i + 1 }));
  return fileFeatures(rankings, signals)
    .map((f) => ({ path: f.path, score: probability(model, f.x), ranks: ranks.get(f.path) ?? {} }))
    .sort((a, b) => b.score - a.score || a.path.localeCompare(b.path));
}

const logisticSchema = z.object({
  weights: z.array(z.number()),
  bias: z.number(),
  mean: z.array(z.number()),
  scale: z.array(z.number().positive()),
});

const fusionSchema = logisticSchema.extend({
  version: z.literal(1),
  signals: z.array(z.string()),
  features: z.array(z.string()),
  l2: z.number().nonnegative(),
  folds: z.record(z.string(), logisticSchema),
  trainedOn: z.record(z.string(), z.string()),
  created: z.string(),
});

/** Checks a parsed fusion model: its lengths agree with its features, and it reads known signals. */
export function parseFusionModel(raw: unknown, knownSignals: readonly Signal[], source: string): FusionModel {
  const parsed = fusionSchema.safeParse(raw);
  const bad = (why: string) =>
    new FixwrightError('FW_ERR_BAD_INPUT', `fusion model ${source} is malformed: ${why}`, { field: 'fusion' });
  if (!parsed.success) throw bad(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const model = parsed.data;
  const unknown = model.signals.filter((s) => !knownSignals.includes(s as Signal));
  if (unknown.length) throw bad(`it reads signals this version does not have: ${unknown.join(', ')}`);
  const names = featureNames(model.signals as Signal[]);
  if (JSON.stringify(names) !== JSON.stringify(model.features)) throw bad('its feature names do not match its signals');
  const missing = [...new Set(Object.values(model.trainedOn))].filter((repo) => !model.folds[repo]);
  if (missing.length)
    throw bad(
      `it was trained ` +
        `on ${missing.join(', ')} but has no model without ${missing.length === 1 ? 'it' : 'them'} (its training rows could not be ranked out of fold)`,
    );
  for (const m of [model, ...Object.values(model.folds)]) {
    if (m.weights.length !== names.length || m.mean.length !== names.length || m.scale.length !== names.length)
      throw bad(`a model has ${m.weights.length} weights for ${names.length} features`);
  }
  return { ...model, signals: model.signals as Signal[] };
}

/** Reads a fusion model file, with a clear error when it is missing or malformed. */
export function loadFusionModel(path: string, knownSignals: readonly Signal[]): FusionModel {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read fusion model ${path}: ${(err as Error).message}`, {
      field: 'fusion',
    });
  }
  return parseFusionModel(raw, knownSignals, path);
}

/** Writes a fusion model file. */
export function saveFusionModel(path: string, model: FusionModel): void {
  writeFileSync(path, `${JSON.stringify(model, null, 1)}\n`);
}
