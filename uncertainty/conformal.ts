import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { FixwrightError } from '../core/index.js';

/**
 * Split-conformal cut-offs over a ranked list of files. Each instance gets a non-conformity score
 * (how far down its ranking one must go to hold every gold file, measured one of several ways),
 * q̂ is the conformal quantile of those scores on calibration instances, and a new ranking's set is
 * the prefix whose score stays within q̂.
 */

/**
 * How non-conformity is measured:
 * - `aps`: cumulative mass of the scores normalised within the instance (adaptive prediction sets);
 * - `raps`: APS plus λ·max(0, rank − k_reg) (Angelopoulos et al. 2020), so a flat tail cannot grow the set without bound;
 * - `rank`: the plain rank;
 * - `prob`: one minus the file's score read as a probability (every file at least as probable as a threshold);
 * - `ratio`: one minus the file's score relative to the top file's, plus λ·max(0, rank − k_reg).
 *   The learned fusion's default: the cut is relative to how sure the ranker is of its first file,
 *   so a ranking with one clear file gets a small set and a flat one a larger set (`prob` cuts
 *   every instance at the same absolute probability, and the fusion's probabilities are soft, so
 *   its sets barely adapt). The penalty bounds how far down a set can reach: with the shipped
 *   calibration (q̂ 1.003, λ 0.003, k_reg 0) no file past rank 335 is ever in a set, a flat
 *   ranking of 1,100 files gets a set of 334 of them and one decaying as 0.02·0.999^rank a set of
 *   258 (a flat ranking of 200 files, the tuning repositories' size, keeps every file): the set
 *   says "unsure", it does not stay short.
 * `raps` and `ratio` have parameters (λ, k_reg), chosen by calibrate() on its own instances only.
 * A non-finite score (NaN, ±Infinity, e.g. from a broken signal) counts as 0, as a negative one
 * does: the file is read as the least likely, so (sets being prefixes) the set stops before it
 * unless q̂ admits every file; a NaN no longer makes every later comparison false.
 */
export type ConformalMethod = 'aps' | 'rank' | 'prob' | 'raps' | 'ratio';

export const CONFORMAL_METHODS: readonly ConformalMethod[] = ['aps', 'rank', 'prob', 'raps', 'ratio'];

/** The method the learned fusion's sets are cut with unless another is asked for. */
export const DEFAULT_LEARNED_METHOD: ConformalMethod = 'ratio';

/** The rank penalty of `raps` and `ratio`: λ per rank past k_reg. */
export interface ConformalParams {
  lambda: number;
  kReg: number;
}

const PARAMETRISED: readonly ConformalMethod[] = ['raps', 'ratio'];

/** Whether a method has parameters (chosen on the calibration instances). */
export const hasParams = (method: ConformalMethod) => PARAMETRISED.includes(method);

/**
 * The (λ, k_reg) grid calibrate() chooses from, λ outermost (ties go to the first). Round
 * numbers spanning "penalty negligible before rank ~100" to "penalty decides from rank ~3"; not
 * fitted to any figure.
 */
export const PARAM_GRID: readonly ConformalParams[] = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3].flatMap((lambda) =>
  [0, 1, 2, 3, 5, 8].map((kReg) => ({ lambda, kReg })),
);

/** Folds of the inner cross-fit that chooses the parameters within the calibration instances. */
const PARAM_FOLDS = 5;

/** A ranked file with its fused score. */
export interface ScoredFile {
  path: string;
  score: number;
}

const needParams = (method: ConformalMethod, params: ConformalParams | undefined): ConformalParams => {
  if (!params)
    throw new FixwrightError('FW_ERR_BAD_INPUT', `conformal method ${method} needs its parameters (lambda, k_reg)`, {
      field: 'method',
    });
  if (!(Number.isFinite(params.lambda) && params.lambda >= 0 && Number.isFinite(params.kReg))) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `conformal method ${method}: lambda must be a finite number at least 0 and k_reg finite (got ${params.lambda}, ${params.kReg})`,
      { field: 'params' },
    );
  }
  return params;
};

/** The rank penalty λ·max(0, rank − k_reg) of each position (rank counted from 1). */
const penalty = (length: number, params: ConformalParams) =>
  Array.from({ length }, (_, i) => params.lambda * Math.max(0, i + 1 - params.kReg));

/** A score as the cut reads it: negative and non-finite scores (NaN would make every comparison false) count as 0. */
const clean = (score: number) => (Number.isFinite(score) && score > 0 ? score : 0);

/** The non-conformity of each position of a ranking; nondecreasing, so every set is a prefix. */
function cumulative(ranked: readonly ScoredFile[], method: ConformalMethod, params?: ConformalParams): number[] {
  if (method === 'rank') return ranked.map((_, i) => i + 1);
  const scores = ranked.map((f) => clean(f.score));
  // Running maximum, so the cut stays a prefix of the ranking even if scores are not sorted.
  if (method === 'prob') {
    let worst = 0;
    return scores.map((s) => (worst = Math.max(worst, 1 - Math.min(1, s))));
  }
  if (method === 'ratio') {
    const pen = penalty(ranked.length, needParams(method, params));
    const top = scores[0] ?? 0;
    let worst = 0;
    // With no positive score nothing is sure: the first file is the set's floor, every other one is as far as can be.
    return scores.map(
      (s, i) => (worst = Math.max(worst, top > 0 ? 1 - Math.min(1, s / top) : i === 0 ? 0 : 1)) + pen[i]!,
    );
  }
  const total = scores.reduce((sum, s) => sum + s, 0);
  let running = 0;
  const mass = scores.map((s) => {
    running += total > 0 ? s / total : 1 / ranked.length;
    return Math.min(1, running);
  });
  if (method === 'aps') return mass;
  const pen = penalty(ranked.length, needParams(method, params));
  return mass.map((m, i) => m + pen[i]!);
}

/**
 * The score of one instance: how far down the ranking one must go to hold every gold file
 * (Infinity when one is missing). Never NaN: scores are cleaned and the parameters checked first.
 */
export function nonconformity(
  ranked: readonly ScoredFile[],
  gold: readonly string[],
  method: ConformalMethod,
  params?: ConformalParams,
): number {
  const cum = cumulative(ranked, method, params);
  let worst = 0;
  for (const g of gold) {
    const i = ranked.findIndex((f) => f.path === g);
    if (i < 0) return Infinity;
    worst = Math.max(worst, cum[i]!);
  }
  return worst;
}

/**
 * The finite-sample conformal quantile: the ⌈(n+1)(1−α)⌉-th smallest score (Infinity when that
 * exceeds n). A NaN score is refused: sorting would put it anywhere and return a q̂ too small for
 * the coverage claimed (nonconformity() never returns one).
 */
export function conformalQuantile(scores: readonly number[], alpha: number): number {
  if (!(alpha > 0 && alpha < 1))
    throw new FixwrightError('FW_ERR_BAD_INPUT', `alpha must be between 0 and 1 (got ${alpha})`, { field: 'alpha' });
  const nan = scores.findIndex((s) => Number.isNaN(s));
  if (nan >= 0)
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `non-conformity score ${nan} is NaN: no conformal quantile (score missing gold files as Infinity)`,
      { field: 'scores' },
    );
  const n = scores.length;
  const k = Math.ceil((n + 1) * (1 - alpha));
  if (n === 0 || k > n) return Infinity;
  return [...scores].sort((a, b) => a - b)[k - 1]!;
}

/** The prediction set: every file whose cumulative score is within q̂ (at least one file). */
export function predictionSet(
  ranked: readonly ScoredFile[],
  qhat: number,
  method: ConformalMethod,
  params?: ConformalParams,
): string[] {
  const cum = cumulative(ranked, method, params);
  const set = ranked.filter((_, i) => cum[i]! <= qhat + 1e-12).map((f) => f.path);
  return set.length > 0 || ranked.length === 0 ? set : [ranked[0]!.path];
}

const paramsSchema = z.object({ lambda: z.number().nonnegative(), k_reg: z.number().int().nonnegative() });

const calibrationSchema = z
  .object({
    version: z.literal(1),
    method: z.enum(['aps', 'rank', 'prob', 'raps', 'ratio']),
    alpha: z.number().gt(0).lt(1),
    // Every method's non-conformity is at least 0 (rank at least 1), so a negative q̂ was not fitted by any of them.
    qhat: z.union([z.number().nonnegative(), z.literal('Infinity')]),
    /** The rank penalty of raps/ratio (chosen on the calibration instances). */
    params: paramsSchema.optional(),
    n: z.number().int().nonnegative(),
    /** Which ranking the scores came from, so a calibration is not used with a different one. */
    ranker: z.string(),
    created: z.string(),
  })
  .refine((c) => hasParams(c.method) === (c.params !== undefined), {
    message: 'raps and ratio need params (lambda, k_reg); the other methods take none',
    path: ['params'],
  });

/** A saved calibration: load it to cut rankings at the same coverage. */
export interface Calibration {
  method: ConformalMethod;
  alpha: number;
  qhat: number;
  /** Present for raps and ratio. */
  params?: ConformalParams;
  n: number;
  ranker: string;
  created: string;
}

type Instance = { ranked: readonly ScoredFile[]; gold: readonly string[] };

/** Set size when q̂ is infinite: every candidate. */
const setSize = (instance: Instance, qhat: number, method: ConformalMethod, params?: ConformalParams) =>
  Number.isFinite(qhat) ? predictionSet(instance.ranked, qhat, method, params).length : instance.ranked.length;

/**
 * The (λ, k_reg) of PARAM_GRID with the smallest total set over an inner round-robin cross-fit of
 * these instances (each inner fold cut by the q̂ of the others). Only the instances given are read:
 * called on a calibration fold, the held-out fold plays no part in the choice.
 */
export function chooseParams(instances: readonly Instance[], alpha: number, method: ConformalMethod): ConformalParams {
  const folds = Math.min(PARAM_FOLDS, instances.length);
  let best: { total: number; params: ConformalParams } | undefined;
  for (const params of PARAM_GRID) {
    const scores = instances.map((i) => nonconformity(i.ranked, i.gold, method, params));
    let total = 0;
    for (let fold = 0; fold < folds; fold++) {
      const qhat = conformalQuantile(
        scores.filter((_, i) => i % folds !== fold),
        alpha,
      );
      for (let i = fold; i < instances.length; i += folds) total += setSize(instances[i]!, qhat, method, params);
    }
    if (!best || total < best.total) best = { total, params };
  }
  return best!.params;
}

/** Fits q̂ on calibration instances (their rankings and gold files), choosing raps/ratio parameters on them first. */
export function calibrate(
  instances: readonly Instance[],
  options: { alpha: number; method: ConformalMethod; ranker: string },
): Calibration {
  const params =
    hasParams(options.method) && instances.length >= 2
      ? chooseParams(instances, options.alpha, options.method)
      : hasParams(options.method)
        ? PARAM_GRID[0]
        : undefined;
  const scores = instances.map((i) => nonconformity(i.ranked, i.gold, options.method, params));
  return {
    method: options.method,
    alpha: options.alpha,
    qhat: conformalQuantile(scores, options.alpha),
    ...(params ? { params } : {}),
    n: scores.length,
    ranker: options.ranker,
    created: new Date().toISOString(),
  };
}

/** Result of cross-fitted evaluation. */
export interface CrossFitResult {
  coverage: number;
  meanSetSize: number;
  sets: string[][];
  /** q̂ of each fold (Infinity when a fold's calibration set is too small for α). */
  qhats: number[];
  /** Each fold's raps/ratio parameters (undefined for the other methods). */
  params: Array<ConformalParams | undefined>;
}

/**
 * K-fold cross-fitting: each instance's set comes from a q̂ calibrated on the other folds, so no
 * instance is calibrated on itself. Folds are assigned round-robin in the given order.
 */
export function crossFit(
  instances: readonly Instance[],
  options: { alpha: number; method: ConformalMethod; folds: number },
): CrossFitResult {
  const n = instances.length;
  if (!Number.isInteger(options.folds) || options.folds < 2) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `cross-fitting needs at least 2 folds (got ${options.folds})`, {
      field: 'folds',
    });
  }
  const folds = Math.min(options.folds, n);
  const qhats: number[] = [];
  const params: Array<ConformalParams | undefined> = [];
  const sets: string[][] = new Array(n);
  let covered = 0;
  for (let fold = 0; fold < folds; fold++) {
    // Parameters and q̂ both come from the other folds: the held-out fold is only cut.
    const cal = calibrate(
      instances.filter((_, i) => i % folds !== fold),
      { alpha: options.alpha, method: options.method, ranker: '' },
    );
    qhats.push(cal.qhat);
    params.push(cal.params);
    for (let i = fold; i < n; i += folds) {
      const set = predictionSet(instances[i]!.ranked, cal.qhat, options.method, cal.params);
      sets[i] = set;
      if (instances[i]!.gold.every((g) => set.includes(g))) covered += 1;
    }
  }
  const meanSetSize = n ? sets.reduce((sum, s) => sum + s.length, 0) / n : 0;
  return { coverage: n ? covered / n : 0, meanSetSize, sets, qhats, params };
}

/** Writes a calibration file, refusing a q̂ that loadCalibration() would refuse (NaN, negative) rather than writing it as another value. */
export function saveCalibration(path: string, calibration: Calibration): void {
  if (Number.isNaN(calibration.qhat) || calibration.qhat < 0) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `calibration q̂ ${calibration.qhat} is not a non-conformity score (at least 0, or Infinity): not written to ${path}`,
      { field: 'qhat' },
    );
  }
  const qhat = Number.isFinite(calibration.qhat) ? calibration.qhat : 'Infinity';
  const { params, ...rest } = calibration;
  const onDisk = { version: 1, ...rest, qhat, ...(params ? { params: paramsOnDisk(params) } : {}) };
  writeFileSync(path, `${JSON.stringify(onDisk, null, 2)}\n`);
}

/** raps/ratio parameters as calibration files and JSON output spell them. */
const paramsOnDisk = (params: ConformalParams) => ({ lambda: params.lambda, k_reg: params.kReg });

/**
 * What a set was cut with, for JSON output (`localise --repo … --json`): α, method, q̂ and, for
 * raps/ratio, the rank penalty, without which the set cannot be reproduced from q̂.
 */
export function calibrationSummary(calibration: Calibration): {
  alpha: number;
  method: ConformalMethod;
  qhat: number;
  params?: { lambda: number; k_reg: number };
} {
  const { alpha, method, qhat, params } = calibration;
  return { alpha, method, qhat, ...(params ? { params: paramsOnDisk(params) } : {}) };
}

/** Reads a calibration file, with a clear error when it is missing or malformed. */
export function loadCalibration(path: string): Calibration {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read calibration ${path}: ${(err as Error).message}`, {
      field: 'calibration',
    });
  }
  const parsed = calibrationSchema.safeParse(raw);
  if (!parsed.success) {
    throw new FixwrightError(
      'FW_ERR_BAD_INPUT',
      `calibration ${path} is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      {
        field: 'calibration',
      },
    );
  }
  const { version: _v, qhat, params, ...rest } = parsed.data;
  return {
    ...rest,
    qhat: qhat === 'Infinity' ? Infinity : qhat,
    ...(params ? { params: { lambda: params.lambda, kReg: params.k_reg } } : {}),
  };
}
