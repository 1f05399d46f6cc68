import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { calibrate, conformalQuantile, crossFit, loadCalibration, nonconformity, predictionSet, saveCalibration } from '../../uncertainty/index.js';

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
    const instances = Array.from({ length: 10 }, (_, i) => ({ ranked: ranking(4, 2, 1, 1, 1), gold: [i === 9 ? 'f4' : 'f0'] }));
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
});
