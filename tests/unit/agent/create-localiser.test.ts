import { describe, expect, it } from 'vitest';
import { createLocaliser, shippedCalibration } from '../../../agent/index.js';
import { loadSettings } from '../../../core/config.js';
import { DEFAULT_RANK_CONFIG } from '../../../localisation/index.js';

const settings = loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/fw-create-localiser' });

describe('createLocaliser: the default config is the shipped system', () => {
  it('with no config or the default one, ranks with the learned fusion the shipped calibration was fitted on', () => {
    const ranker = shippedCalibration()!.ranker;
    expect(ranker).toMatch(/^fixwright-learned-/);
    for (const localiser of [
      createLocaliser(settings),
      createLocaliser(settings, { config: DEFAULT_RANK_CONFIG }),
      createLocaliser(settings, { config: structuredClone(DEFAULT_RANK_CONFIG) }),
    ]) {
      expect(localiser.fusion).toBeDefined();
      expect(localiser.rankerName).toBe(ranker);
    }
  });

  it('another config ranks by RRF with it, so the shipped calibration does not match', () => {
    const config = { ...DEFAULT_RANK_CONFIG, weights: { ...DEFAULT_RANK_CONFIG.weights, bm25: 0 } };
    const localiser = createLocaliser(settings, { config });
    expect(localiser.fusion).toBeUndefined();
    expect(localiser.rankerName).not.toBe(shippedCalibration()!.ranker);
    expect(localiser.rankerName).toMatch(/^fixwright-rrf-v2\+lsi-128\+cfg-/);
  });
});
