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

  it('cross-fits so no instance is calibrated on itself, and covers at about 1−α', () => {
    // Gold at rank 1 for 18 instances, rank 3 for 2: α = 0.1 must cover nearly all.
    const instances = Array.from({ length: 20 }, (_, i) => ({ ranked: ranking(4, 2, 1, 1, 1), gold: [i < 18 ? 'f0' : 'f2'] }));
    const fit = crossFit(instances, { alpha: 0.1, method: 'aps', folds: 5 });
    expect(fit.coverage).toBeGreaterThanOrEqual(0.85);
    expect(fit.sets).toHaveLength(20);
    expect(fit.meanSetSize).toBeGreaterThanOrEqual(1);
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
