import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  calibrate,
  calibrationSummary,
  chooseParams,
  conformalQuantile,
  crossFit,
  loadCalibration,
  nonconformity,
  PARAM_GRID,
  predictionSet,
  saveCalibration,
} from '../../../uncertainty/index.js';

const ranking = (...scores: number[]) => scores.map((score, i) => ({ path: `f${i}`, score }));

describe('conformal cut-offs', () => {
  it('uses the finite-sample quantile ⌈(n+1)(1−α)⌉/n', () => {
    const scores = Array.from({ length: 9 }, (_, i) => i + 1); // 1..9
    expect(conformalQuantile(scores, 0.2)).toBe(8); // ⌈10·0.8⌉ = 8th smallest
    expect(conformalQuantile(scores, 0.05)).toBe(Infinity); // ⌈10·0.95⌉ = 10 > 9
    expect(() => conformalQuantile(scores, 1.5)).toThrow(/alpha must be between 0 and 1/);
  });

  it('scores an instance by the mass down to its last gold file (APS), or its rank', () => {
    const r = ranking(5, 3, 1, 1);
    expect(nonconformity(r, ['f0'], 'aps')).toBeCloseTo(0.5);
    expect(nonconformity(r, ['f0', 'f2'], 'aps')).toBeCloseTo(0.9);
    expect(nonconformity(r, ['f1'], 'rank')).toBe(2);
    expect(nonconformity(r, ['missing'], 'aps')).toBe(Infinity);
  });

  it('cuts confident rankings short and flat ones long', () => {
    expect(predictionSet(ranking(10, 1, 1, 1), 0.8, 'aps')).toEqual(['f0']);
    expect(predictionSet(ranking(1, 1, 1, 1), 0.8, 'aps')).toEqual(['f0', 'f1', 'f2']);
    expect(predictionSet(ranking(1, 1), 0.01, 'aps')).toEqual(['f0']); // never empty
  });

  it('cross-fits so no instance is calibrated on itself', () => {
    // Nine easy instances (gold first) and one outlier (gold last). Leave-one-out: the outlier's q̂
    // comes from the nine easy scores alone, so its set stops before its gold file. Had it been
    // calibrated on its own score too, ⌈11·0.9⌉ = 10 would pick that score and cover it.
    const instances = Array.from({ length: 10 }, (_, i) => ({
      ranked: ranking(4, 2, 1, 1, 1),
      gold: [i === 9 ? 'f4' : 'f0'],
    }));
    const fit = crossFit(instances, { alpha: 0.1, method: 'aps', folds: 10 });
    expect(fit.sets[9]).toEqual(['f0']);
    expect(fit.coverage).toBeCloseTo(0.9);
    expect(fit.qhats).toHaveLength(10);
    expect(() => crossFit(instances, { alpha: 0.1, method: 'aps', folds: 1 })).toThrow(/at least 2 folds/);
  });

  it('gives infinite q̂ when a fold is too small for α, and then every candidate', () => {
    const instances = Array.from({ length: 4 }, () => ({ ranked: ranking(4, 2, 1, 0), gold: ['f0'] }));
    const fit = crossFit(instances, { alpha: 0.1, method: 'aps', folds: 2 });
    expect(fit.qhats.every((q) => q === Infinity)).toBe(true);
    expect(fit.sets[0]).toEqual(['f0', 'f1', 'f2', 'f3']);
  });

  it('saves and loads a calibration, refusing malformed files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-cal-'));
    const cal = calibrate([{ ranked: ranking(2, 1), gold: ['f1'] }], { alpha: 0.5, method: 'aps', ranker: 'test' });
    saveCalibration(join(dir, 'c.json'), cal);
    expect(loadCalibration(join(dir, 'c.json'))).toEqual(cal);
    const inf = { ...cal, qhat: Infinity };
    saveCalibration(join(dir, 'inf.json'), inf);
    expect(loadCalibration(join(dir, 'inf.json')).qhat).toBe(Infinity);
    writeFileSync(join(dir, 'bad.json'), '{"version": 1, "alpha": 3}');
    expect(() => loadCalibration(join(dir, 'bad.json'))).toThrow(/calibration .* is malformed/);
  });

  it('reads non-finite scores as 0 and never lets a NaN shrink q̂ or a saved calibration', () => {
    const params = { lambda: 0.01, kReg: 2 };
    // NaN at rank 2 reads as score 0 (1 + no penalty), so the files after it keep finite scores and q̂ above 1 takes them all.
    expect(nonconformity(ranking(0.5, NaN, 0.4), ['f2'], 'ratio', params)).toBeCloseTo(1.01);
    expect(predictionSet(ranking(0.5, NaN, 0.4, 0.3), 0.9, 'ratio', params)).toEqual(['f0']);
    expect(predictionSet(ranking(0.5, NaN, 0.4, 0.3), 1.05, 'ratio', params)).toEqual(['f0', 'f1', 'f2', 'f3']);
    // APS normalises over the other files' mass: 3 of 4, not a uniform third per file.
    expect(nonconformity(ranking(3, NaN, 1), ['f0'], 'aps')).toBeCloseTo(0.75);
    expect(nonconformity(ranking(0.8, Infinity, 0.4), ['f2'], 'prob')).toBeCloseTo(1);
    expect(() => predictionSet(ranking(0.5, 0.4), 0.5, 'ratio', { lambda: NaN, kReg: 2 })).toThrow(
      /lambda must be a finite number/,
    );
    expect(() => conformalQuantile([0.1, NaN, 0.3], 0.5)).toThrow(/score 1 is NaN/);
    const dir = mkdtempSync(join(tmpdir(), 'fw-cal-'));
    const cal = calibrate([{ ranked: ranking(2, 1), gold: ['f1'] }], { alpha: 0.5, method: 'aps', ranker: 'test' });
    expect(() => saveCalibration(join(dir, 'nan.json'), { ...cal, qhat: NaN })).toThrow(
      /q̂ NaN is not a non-conformity score/,
    );
    expect(() => saveCalibration(join(dir, 'neg.json'), { ...cal, qhat: -Infinity })).toThrow(/q̂ -Infinity is not/);
    // Every method scores at least 0, so a negative q̂ on disk was not fitted: refused.
    writeFileSync(
      join(dir, 'neg.json'),
      JSON.stringify({
        version: 1,
        method: 'ratio',
        alpha: 0.1,
        qhat: -5,
        params: { lambda: 0.1, k_reg: 2 },
        n: 10,
        ranker: 'r',
        created: 'x',
      }),
    );
    expect(() => loadCalibration(join(dir, 'neg.json'))).toThrow(/malformed: qhat/);
  });
});

describe('rank-penalised scores (ratio, raps)', () => {
  it('scores by the score relative to the top file plus λ·max(0, rank − k_reg)', () => {
    const params = { lambda: 0.1, kReg: 2 };
    // f2 is at rank 3: 1 − 0.2/0.8 = 0.75, plus 0.1·(3 − 2).
    expect(nonconformity(ranking(0.8, 0.4, 0.2), ['f2'], 'ratio', params)).toBeCloseTo(0.85);
    expect(nonconformity(ranking(0.8, 0.4, 0.2), ['f1'], 'ratio', params)).toBeCloseTo(0.5);
    // raps: normalised mass (0.5 + 0.25 + 0.125 of 0.875 total... here 4/7, 6/7, 7/7) plus the penalty.
    expect(nonconformity(ranking(4, 2, 1), ['f2'], 'raps', params)).toBeCloseTo(1 + 0.1);
    expect(nonconformity(ranking(4, 2, 1), ['f0'], 'raps', params)).toBeCloseTo(4 / 7);
    // The cut is relative: the same absolute probabilities under a surer top file give a smaller set.
    expect(predictionSet(ranking(0.3, 0.2, 0.15, 0.1), 0.6, 'ratio', params)).toEqual(['f0', 'f1', 'f2']);
    expect(predictionSet(ranking(0.9, 0.2, 0.15, 0.1), 0.6, 'ratio', params)).toEqual(['f0']);
    // A large enough penalty caps a flat ranking: at λ = 0.1 past rank 2, rank 9 costs 0.7 whatever its score.
    expect(predictionSet(ranking(...Array<number>(50).fill(0.1)), 0.65, 'ratio', params)).toHaveLength(8);
    // At the grid's smallest λ it barely binds: (q̂ 0.9524, λ 0.001, k_reg 8), an earlier shipped calibration, keeps 960 of 1,100 level files.
    expect(
      predictionSet(ranking(...Array<number>(1100).fill(0.01)), 0.9524, 'ratio', { lambda: 0.001, kReg: 8 }),
    ).toHaveLength(960);
    expect(() => predictionSet(ranking(1, 0.5), 0.5, 'ratio')).toThrow(/needs its parameters/);
  });

  it('gives sure instances small sets and unsure ones larger sets, out of fold', () => {
    // Sure: one file far above a runner-up field, and it is the gold one. Unsure: the same field
    // with no file above it, the gold file somewhere in its top ten. Both have 40 candidates, so a set size can only follow the ranking's shape.
    const tail = Array<number>(30).fill(0.01);
    const sure = (i: number) => ({
      ranked: ranking(0.9, 0.19, 0.18, 0.17, 0.16, 0.15, 0.14, 0.13, 0.12, 0.11, ...tail),
      gold: ['f0'],
      kind: 'sure',
      i,
    });
    const unsure = (i: number) => ({
      ranked: ranking(0.2, 0.19, 0.18, 0.17, 0.16, 0.15, 0.14, 0.13, 0.12, 0.11, ...tail),
      gold: [`f${i % 10}`],
      kind: 'unsure',
      i,
    });
    const instances = Array.from({ length: 60 }, (_, i) => (i % 2 ? unsure(i) : sure(i)));
    const fit = crossFit(instances, { alpha: 0.1, method: 'ratio', folds: 5 });
    const sizes = (kind: string) => instances.flatMap((x, i) => (x.kind === kind ? [fit.sets[i]!.length] : []));
    expect(Math.max(...sizes('sure'))).toBeLessThanOrEqual(2);
    expect(Math.min(...sizes('unsure'))).toBeGreaterThanOrEqual(8);
    expect(fit.coverage).toBeGreaterThanOrEqual(0.9);
    // One absolute probability cut (prob) takes the sure rows' runner-up field too.
    const flat = crossFit(instances, { alpha: 0.1, method: 'prob', folds: 5 });
    expect(
      Math.max(...instances.flatMap((x, i) => (x.kind === 'sure' ? [flat.sets[i]!.length] : []))),
    ).toBeGreaterThanOrEqual(9);
    expect(fit.params.every((p) => p !== undefined && PARAM_GRID.includes(p))).toBe(true);
  });

  it("chooses each fold's penalty from the other folds only", () => {
    // Peaked rows with the gold file first and flat rows with it deep, mixed unevenly over the folds.
    const peaked = ranking(0.9, 0.2, 0.1, 0.05, ...Array<number>(36).fill(0.01));
    const flat = ranking(...Array.from({ length: 40 }, (_, i) => 0.3 - i * 0.005));
    const instances = Array.from({ length: 30 }, (_, i) =>
      i % 3 === 0 || i % 7 === 0 ? { ranked: flat, gold: [`f${5 + (i % 11)}`] } : { ranked: peaked, gold: ['f0'] },
    );
    const fit = crossFit(instances, { alpha: 0.1, method: 'ratio', folds: 5 });
    fit.params.forEach((params, fold) =>
      expect(params).toEqual(
        chooseParams(
          instances.filter((_, i) => i % 5 !== fold),
          0.1,
          'ratio',
        ),
      ),
    );
    // Replace fold 0's rows alone with level rankings (gold 4th): chosen on every row, the penalty
    // would move to (0.1, 8), and it does for the folds calibrated on them, but fold 0's own
    // parameters and q̂ stay as they were.
    const level = ranking(...Array<number>(40).fill(0.1));
    const changed = instances.map((x, i) => (i % 5 === 0 ? { ranked: level, gold: ['f3'] } : x));
    expect(chooseParams(changed, 0.1, 'ratio')).not.toEqual(chooseParams(instances, 0.1, 'ratio'));
    const refit = crossFit(changed, { alpha: 0.1, method: 'ratio', folds: 5 });
    expect(refit.params[0]).toEqual(fit.params[0]);
    expect(refit.qhats[0]).toBe(fit.qhats[0]);
    for (let fold = 1; fold < 5; fold++)
      expect([refit.params[fold], refit.qhats[fold]]).not.toEqual([fit.params[fold], fit.qhats[fold]]);
    // calibrate() on a set of rows chooses as chooseParams() does on them.
    expect(calibrate(instances, { alpha: 0.1, method: 'ratio', ranker: 'test' }).params).toEqual(
      chooseParams(instances, 0.1, 'ratio'),
    );
  });

  it('saves and loads the penalty with the calibration, and refuses a ratio calibration without one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-cal-'));
    const instances = Array.from({ length: 12 }, (_, i) => ({
      ranked: ranking(0.5, 0.3, 0.2, 0.1),
      gold: [`f${i % 3}`],
    }));
    const cal = calibrate(instances, { alpha: 0.2, method: 'ratio', ranker: 'test' });
    expect(cal.params).toBeDefined();
    saveCalibration(join(dir, 'ratio.json'), cal);
    expect(loadCalibration(join(dir, 'ratio.json'))).toEqual(cal);
    const { params: _p, ...withoutParams } = cal;
    saveCalibration(join(dir, 'noparams.json'), withoutParams);
    expect(() => loadCalibration(join(dir, 'noparams.json'))).toThrow(/malformed: params: raps and ratio need params/);
    saveCalibration(join(dir, 'probparams.json'), { ...cal, method: 'prob' });
    expect(() => loadCalibration(join(dir, 'probparams.json'))).toThrow(/malformed: params/);
    writeFileSync(
      join(dir, 'nulllambda.json'),
      JSON.stringify({
        version: 1,
        method: 'ratio',
        alpha: 0.1,
        qhat: 0.9,
        params: { lambda: null, k_reg: 2 },
        n: 10,
        ranker: 'r',
        created: 'x',
      }),
    );
    expect(() => loadCalibration(join(dir, 'nulllambda.json'))).toThrow(/malformed: params.lambda/);
  });

  it('shows the penalty with q̂ in JSON output, spelled as on disk, and none for methods without one', () => {
    const cal = {
      method: 'ratio' as const,
      alpha: 0.1,
      qhat: 0.95,
      params: { lambda: 0.001, kReg: 8 },
      n: 98,
      ranker: 'r',
      created: 'x',
    };
    expect(calibrationSummary(cal)).toEqual({
      alpha: 0.1,
      method: 'ratio',
      qhat: 0.95,
      params: { lambda: 0.001, k_reg: 8 },
    });
    expect(calibrationSummary({ method: 'aps', alpha: 0.1, qhat: 0.9, n: 98, ranker: 'r', created: 'x' })).toEqual({
      alpha: 0.1,
      method: 'aps',
      qhat: 0.9,
    });
  });
});
