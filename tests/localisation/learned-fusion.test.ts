import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CollectedRow, fitFusion, outOfFold } from '../../benchmarks/fusion-fit.js';
import {
  featureNames,
  fileFeatures,
  fitLogistic,
  learnedFusion,
  loadFusionModel,
  probability,
  saveFusionModel,
  type Ranking,
  type Signal,
} from '../../localisation/index.js';
import { nonconformity, predictionSet } from '../../uncertainty/index.js';

const list = (...paths: string[]): Ranking => paths.map((path, i) => ({ path, score: 10 - i }));

/**
 * Synthetic rows where `evidence` is right (its top file is gold) and `bm25` is noise (its top
 * file never is), across three repositories: the fit must learn to trust evidence over bm25.
 */
function rows(): CollectedRow[] {
  const out: CollectedRow[] = [];
  for (const repo of ['a/one', 'b/two', 'c/three']) {
    for (let i = 0; i < 6; i++) {
      const files = Array.from({ length: 8 }, (_, k) => `${repo}/m${(k + i) % 8}.py`);
      const gold = files[3]!;
      const noise = files.filter((f) => f !== gold);
      out.push({
        instance_id: `${repo}-${i}`,
        repo,
        dataset: i % 2 ? 'odd' : 'even',
        gold: [gold],
        candidates: files,
        signals: { bm25: list(...noise.slice(0, 4), gold), evidence: list(gold, ...noise.slice(4)) },
        rrf: [...noise.slice(0, 4), gold],
      });
    }
  }
  return out;
}

describe('learned fusion (logistic regression over the signals)', () => {
  it('names three features per signal and five shared ones, and writes them for every ranked file', () => {
    const signals: Signal[] = ['bm25', 'evidence'];
    expect(featureNames(signals)).toEqual([
      'bm25.rr',
      'bm25.lr',
      'bm25.rel',
      'evidence.rr',
      'evidence.lr',
      'evidence.rel',
      'rrf.rr',
      'rrf.lr',
      'agree_top3',
      'agree_top10',
      'is_init',
    ]);
    const features = fileFeatures({ bm25: list('x.py', 'pkg/__init__.py') }, signals);
    expect(features.map((f) => f.path)).toEqual(['pkg/__init__.py', 'x.py']);
    const init = features[0]!.x;
    expect(init[0]).toBeCloseTo(0.5); // second in bm25
    expect(init[3]).toBe(0); // evidence did not find it
    expect(init.at(-1)).toBe(1); // __init__.py
  });

  it('fits weights that trust the signal that is right and ranks its file first', () => {
    const data = rows();
    const signals: Signal[] = ['bm25', 'evidence'];
    const examples = data.flatMap((r) =>
      fileFeatures(r.signals, signals).map((f) => ({ x: f.x, y: (r.gold.includes(f.path) ? 1 : 0) as 0 | 1 })),
    );
    const model = fitLogistic(examples, 1);
    const names = featureNames(signals);
    expect(model.weights[names.indexOf('evidence.rr')]!).toBeGreaterThan(0);
    const ranked = learnedFusion(model, signals, data[0]!.signals);
    expect(ranked[0]!.path).toBe(data[0]!.gold[0]);
    expect(ranked[0]!.score).toBeGreaterThan(0.5);
    expect(ranked[0]!.ranks).toEqual({ bm25: 5, evidence: 1 });
    expect(() => fitLogistic([], 1)).toThrow(/no examples/);
  });

  it('cross-validates by repository: each repository is ranked by a model fitted without it', () => {
    const data = rows();
    const { ranked, folds } = outOfFold(data, ['bm25', 'evidence'], 1);
    expect(Object.keys(folds).sort()).toEqual(['a/one', 'b/two', 'c/three']);
    expect(ranked.every((r, i) => r[0]!.path === data[i]!.gold[0])).toBe(true);
    // Every candidate is ranked, the ones no signal found last at probability 0.
    expect(ranked[0]!.length).toBe(8);
  });

  it('needs two repositories (one held out, one to fit on), and says so', () => {
    const one = rows().filter((r) => r.repo === 'c/three');
    expect(() => fitFusion(one, { signals: ['bm25', 'evidence'], alpha: 0.2, folds: 3, l2: 1 }, () => 'r')).toThrow(
      /at least 2 repositories .*got 1/,
    );
  });

  it('beats the RRF baseline out of fold, keeps a model per left-out repository, and round-trips through a file', () => {
    const { model, report, calibration } = fitFusion(
      rows(),
      { signals: ['bm25', 'evidence'], alpha: 0.2, folds: 3, l2: 1, l2Sensitivity: [1, 10] },
      () => 'test-ranker',
    );
    for (const d of report.per_dataset) {
      expect(d.rrf.r1).toBe(0);
      expect(d.learned.r1).toBe(1);
    }
    expect(report.ablation.map((a) => a.signal)).toEqual(['bm25', 'evidence']);
    expect(report.l2).toBe(1);
    expect(report.l2_search.map((x) => x.l2)).toEqual([1, 10]);
    expect(Object.keys(model.trainedOn)).toHaveLength(18);
    expect(Object.keys(model.folds)).toHaveLength(3);
    expect(calibration).toMatchObject({ method: 'ratio', ranker: 'test-ranker', n: 18 });
    expect(calibration.params).toBeDefined(); // the rank penalty, chosen on the out-of-fold rows
    const file = join(mkdtempSync(join(tmpdir(), 'fw-fusion-')), 'model.json');
    saveFusionModel(file, model);
    const back = loadFusionModel(file, ['bm25', 'evidence', 'pagerank']);
    expect(probability(back, [1, 1, 1, 0, 0, 0, 1, 1, 0.5, 0.5, 0])).toBeCloseTo(
      probability(model, [1, 1, 1, 0, 0, 0, 1, 1, 0.5, 0.5, 0]),
    );
  });

  it('refuses a model file that is malformed or reads signals this version lacks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-fusion-bad-'));
    const { model } = fitFusion(rows(), { signals: ['bm25', 'evidence'], alpha: 0.2, folds: 3, l2: 1 }, () => 'r');
    const write = (name: string, body: unknown) => {
      writeFileSync(join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));
      return join(dir, name);
    };
    expect(() => loadFusionModel(write('junk.json', '{'), ['bm25', 'evidence'])).toThrow(/cannot read fusion model/);
    expect(() => loadFusionModel(write('short.json', { ...model, weights: [1] }), ['bm25', 'evidence'])).toThrow(
      /1 weights for 11 features/,
    );
    expect(() =>
      loadFusionModel(write('unknown.json', { ...model, signals: ['bm25', 'telepathy'] }), ['bm25', 'evidence']),
    ).toThrow(/signals this version does not have: telepathy/);
    expect(() => loadFusionModel(write('names.json', { ...model, features: ['x'] }), ['bm25', 'evidence'])).toThrow(
      /feature names do not match/,
    );
    // A training repository without its fold model: its rows could only be ranked in-sample.
    const { 'a/one': _dropped, ...folds } = model.folds;
    expect(() => loadFusionModel(write('fold.json', { ...model, folds }), ['bm25', 'evidence'])).toThrow(
      /trained on a\/one but has no model without it/,
    );
    // JSON has no NaN: a diverged weight is written as null and refused on reading.
    expect(() => loadFusionModel(write('nan.json', { ...model, bias: Number.NaN }), ['bm25', 'evidence'])).toThrow(
      /malformed: bias/,
    );
  });
});

describe('conformal sets over probabilities (prob)', () => {
  const ranked = (...scores: number[]) => scores.map((score, i) => ({ path: `f${i}`, score }));
  it('scores an instance by one minus its least probable gold file, and cuts at a probability', () => {
    expect(nonconformity(ranked(0.9, 0.5, 0.1), ['f0', 'f1'], 'prob')).toBeCloseTo(0.5);
    expect(predictionSet(ranked(0.9, 0.5, 0.1), 0.6, 'prob')).toEqual(['f0', 'f1']);
    // A ranking of many unlikely files gets a small set: the size follows the probabilities, not the count.
    expect(predictionSet(ranked(0.9, ...Array<number>(500).fill(0.01)), 0.6, 'prob')).toEqual(['f0']);
    expect(predictionSet(ranked(0.1, 0.1), 0.2, 'prob')).toEqual(['f0']); // never empty
  });
});

describe('a Localiser ranking with a learned fusion', () => {
  it("ranks by probability, names the model in its ranker, and ranks a training row with its repository's fold or refuses", async () => {
    const { Localiser, rankerNameOf } = await import('../../localisation/index.js');
    const { makeRepo, removeRepos } = await import('../helpers/fixture-repo.js');
    const repo = makeRepo({
      'shop/pricing.py':
        'def apply_discount(price, coupon):\n    """Apply a percentage coupon to a price."""\n    return price - price * coupon.percent / 100\n',
      'shop/shipping.py': 'def estimate(region):\n    return 5\n',
      'shop/utils.py': 'def slugify(text):\n    return text.lower()\n',
    });
    try {
      const { model } = fitFusion(rows(), { signals: ['bm25', 'evidence'], alpha: 0.2, folds: 3, l2: 1 }, () => 'r');
      const localiser = new Localiser({ fusion: model });
      expect(localiser.rankerName).toBe(rankerNameOf({ fusion: model }));
      expect(localiser.rankerName).toMatch(/^fixwright-learned-[0-9a-f]{8}\+no-embeddings$/);
      expect(new Localiser().rankerName).toBe('fixwright-rrf-v2+no-embeddings');
      const index = await localiser.index({ kind: 'dir', path: repo });
      const issue = 'apply_discount gives the wrong price for a percentage coupon';
      const { files, signals } = await localiser.rank(index, issue);
      expect(files[0]!.path).toBe('shop/pricing.py');
      expect(files.every((f) => f.score > 0 && f.score < 1)).toBe(true);
      // Only what the model reads is computed.
      expect(Object.keys(signals).sort()).toEqual(['bm25', 'evidence']);
      const fold = await localiser.rank(index, issue, { outOfFoldRepo: 'a/one' });
      expect(fold.files[0]!.score).not.toBe(files[0]!.score);
      await expect(localiser.rank(index, issue, { outOfFoldRepo: 'z/unknown' })).rejects.toThrow(
        /no model without repository z\/unknown/,
      );
    } finally {
      removeRepos();
    }
  });
});
