import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { FixwrightError } from '../core/errors.js';

/**
 * Split-conformal cut-offs over a ranked list of files. Each ranking is turned into a distribution
 * (fused scores normalised to sum to 1); an instance's non-conformity score is the cumulative mass
 * down to its last gold file (APS, adaptive prediction sets), so a confident ranking — mass
 * piled on its top files — yields a small set, and a flat one a larger set.
 */

/**
 * How non-conformity is measured: cumulative mass (APS), plain rank, or one minus the file's own
 * score read as a probability (`prob`, for the learned fusion's calibrated scores: the set is every
 * file at least as probable as a threshold, so its size follows how many files are likely, not how
 * many the repository has).
 */
export type ConformalMethod = 'aps' | 'rank' | 'prob';

export const CONFORMAL_METHODS: readonly ConformalMethod[] = ['aps', 'rank', 'prob'];

/** A ranked file with its fused score. */
export interface ScoredFile {
  path: string;
  score: number;
}

/** Cumulative mass at each position of a ranking (rank method: the position itself). */
function cumulative(ranked: readonly ScoredFile[], method: ConformalMethod): number[] {
  if (method === 'rank') return ranked.map((_, i) => i + 1);
  // Running maximum, so the cut stays a prefix of the ranking even if scores are not sorted.
  if (method === 'prob') {
    let worst = 0;
    return ranked.map((f) => (worst = Math.max(worst, 1 - Math.min(1, Math.max(0, f.score)))));
  }
  const total = ranked.reduce((sum, f) => sum + Math.max(0, f.score), 0);
  let running = 0;
  return ranked.map((f) => {
    running += total > 0 ? Math.max(0, f.score) / total : 1 / ranked.length;
    return Math.min(1, running);
  });
}

/** The score of one instance: how far down the ranking one must go to hold every gold file (Infinity when one is missing). */
export function nonconformity(ranked: readonly ScoredFile[], gold: readonly string[], method: ConformalMethod): number {
  const cum = cumulative(ranked, method);
  let worst = 0;
  for (const g of gold) {
    const i = ranked.findIndex((f) => f.path === g);
    if (i < 0) return Infinity;
    worst = Math.max(worst, cum[i]!);
  }
  return worst;
}

/** The finite-sample conformal quantile: the ⌈(n+1)(1−α)⌉-th smallest score (Infinity when that exceeds n). */
export function conformalQuantile(scores: readonly number[], alpha: number): number {
  if (!(alpha > 0 && alpha < 1)) throw new FixwrightError('FW_ERR_BAD_INPUT', `alpha must be between 0 and 1 (got ${alpha})`, { field: 'alpha' });
  const n = scores.length;
  const k = Math.ceil((n + 1) * (1 - alpha));
  if (n === 0 || k > n) return Infinity;
  return [...scores].sort((a, b) => a - b)[k - 1]!;
}

/** The prediction set: every file whose cumulative score is within q̂ (at least one file). */
export function predictionSet(ranked: readonly ScoredFile[], qhat: number, method: ConformalMethod): string[] {
  const cum = cumulative(ranked, method);
  const set = ranked.filter((_, i) => cum[i]! <= qhat + 1e-12).map((f) => f.path);
  return set.length > 0 || ranked.length === 0 ? set : [ranked[0]!.path];
}

const calibrationSchema = z.object({
  version: z.literal(1),
  method: z.enum(['aps', 'rank', 'prob']),
  alpha: z.number().gt(0).lt(1),
  qhat: z.union([z.number(), z.literal('Infinity')]),
  n: z.number().int().nonnegative(),
  /** Which ranking the scores came from, so a calibration is not used with a different one. */
  ranker: z.string(),
  created: z.string(),
});

/** A saved calibration: load it to cut rankings at the same coverage. */
export interface Calibration {
  method: ConformalMethod;
  alpha: number;
  qhat: number;
  n: number;
  ranker: string;
  created: string;
}

/** Fits q̂ on calibration instances (their rankings and gold files). */
export function calibrate(
  instances: ReadonlyArray<{ ranked: readonly ScoredFile[]; gold: readonly string[] }>,
  options: { alpha: number; method: ConformalMethod; ranker: string },
): Calibration {
  const scores = instances.map((i) => nonconformity(i.ranked, i.gold, options.method));
  return { method: options.method, alpha: options.alpha, qhat: conformalQuantile(scores, options.alpha), n: scores.length, ranker: options.ranker, created: new Date().toISOString() };
}

/** Result of cross-fitted evaluation. */
export interface CrossFitResult {
  coverage: number;
  meanSetSize: number;
  sets: string[][];
  /** q̂ of each fold (Infinity when a fold's calibration set is too small for α). */
  qhats: number[];
}

/**
 * K-fold cross-fitting: each instance's set comes from a q̂ calibrated on the other folds, so no
 * instance is calibrated on itself. Folds are assigned round-robin in the given order.
 */
export function crossFit(
  instances: ReadonlyArray<{ ranked: readonly ScoredFile[]; gold: readonly string[] }>,
  options: { alpha: number; method: ConformalMethod; folds: number },
): CrossFitResult {
  const n = instances.length;
  if (!Number.isInteger(options.folds) || options.folds < 2) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `cross-fitting needs at least 2 folds (got ${options.folds})`, { field: 'folds' });
  }
  const folds = Math.min(options.folds, n);
  const qhats: number[] = [];
  const scores = instances.map((i) => nonconformity(i.ranked, i.gold, options.method));
  const sets: string[][] = new Array(n);
  let covered = 0;
  for (let fold = 0; fold < folds; fold++) {
    const calibrationScores = scores.filter((_, i) => i % folds !== fold);
    const qhat = conformalQuantile(calibrationScores, options.alpha);
    qhats.push(qhat);
    for (let i = fold; i < n; i += folds) {
      const set = predictionSet(instances[i]!.ranked, qhat, options.method);
      sets[i] = set;
      if (instances[i]!.gold.every((g) => set.includes(g))) covered += 1;
    }
  }
  const meanSetSize = n ? sets.reduce((sum, s) => sum + s.length, 0) / n : 0;
  return { coverage: n ? covered / n : 0, meanSetSize, sets, qhats };
}

/** Writes a calibration file. */
export function saveCalibration(path: string, calibration: Calibration): void {
  const qhat = Number.isFinite(calibration.qhat) ? calibration.qhat : 'Infinity';
  writeFileSync(path, `${JSON.stringify({ version: 1, ...calibration, qhat }, null, 2)}\n`);
}

/** Reads a calibration file, with a clear error when it is missing or malformed. */
export function loadCalibration(path: string): Calibration {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `cannot read calibration ${path}: ${(err as Error).message}`, { field: 'calibration' });
  }
  const parsed = calibrationSchema.safeParse(raw);
  if (!parsed.success) {
    throw new FixwrightError('FW_ERR_BAD_INPUT', `calibration ${path} is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, {
      field: 'calibration',
    });
  }
  const { version: _v, qhat, ...rest } = parsed.data;
  return { ...rest, qhat: qhat === 'Infinity' ? Infinity : qhat };
}
