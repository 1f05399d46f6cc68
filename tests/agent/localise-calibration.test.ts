import { afterAll, describe, expect, it } from 'vitest';
import type { AgentDeps } from '../../agent/deps.js';
import { EventLog } from '../../agent/events.js';
import { localiseNode } from '../../agent/nodes/localise.js';
import type { AgentStateType } from '../../agent/state.js';
import { Localiser } from '../../localisation/index.js';
import type { Calibration } from '../../uncertainty/index.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

const FILES = Object.fromEntries(
  Array.from({ length: 8 }, (_, i) => [
    `pkg/m${i}.py`,
    `def helper_${i}(x):\n    """Coupon discount price helper ${i}."""\n    return x\n`,
  ]),
);

/** The agent's localise step alone, with a real localiser and a calibration from some ranker. */
async function localise(calibration: Calibration) {
  const repo = makeRepo(FILES);
  const localiser = new Localiser();
  const events = new EventLog('t');
  const deps = {
    localiser,
    events,
    snapshotSource: { kind: 'dir', path: repo },
    calibration,
    run: {},
  } as unknown as AgentDeps;
  await localiseNode({ issue: 'the coupon discount price helper is wrong' } as AgentStateType, deps);
  return { events: events.events, localiser };
}

describe('the agent cuts with a calibration only when it was fitted on the same ranking', () => {
  afterAll(removeRepos);
  const calibration = (ranker: string): Calibration => ({
    method: 'rank',
    alpha: 0.1,
    qhat: 6,
    n: 98,
    ranker,
    created: '2026-11-26T00:00:00.000Z',
  });

  it('uses a matching calibration: its set and its coverage', async () => {
    const ranker = new Localiser().rankerName;
    const { events } = await localise(calibration(ranker));
    const localised = events.find((e) => e.type === 'localised_files')!.data;
    expect(localised).toMatchObject({ set_size: 6, coverage: 0.9 });
    expect(events.some((e) => e.type === 'log' && e.data.step === 'localise')).toBe(false);
  });

  // ratio with a penalty of 2 per rank past 5 and q̂ 1: the first five files (ratio part at most 1) and no more, whatever their scores.
  const ratio = (ranker: string): Calibration => ({
    method: 'ratio',
    alpha: 0.2,
    qhat: 1,
    params: { lambda: 2, kReg: 5 },
    n: 98,
    ranker,
    created: '2026-11-26T00:00:00.000Z',
  });

  it('cuts with a matching ratio calibration and its penalty', async () => {
    const { events } = await localise(ratio(new Localiser().rankerName));
    const localised = events.find((e) => e.type === 'localised_files')!.data as {
      files: Array<{ in_set: boolean }>;
      set_size: number;
      coverage: number;
    };
    expect(localised).toMatchObject({ set_size: 5, coverage: 0.8 });
    expect(localised.files.map((f) => f.in_set)).toEqual([true, true, true, true, true, false, false, false]);
    expect(events.some((e) => e.type === 'log' && e.data.step === 'localise')).toBe(false);
  });

  it("refuses another ranking's ratio calibration", async () => {
    const { events } = await localise(ratio('fixwright-rrf-v2+lsi-128'));
    expect(events.find((e) => e.type === 'localised_files')!.data).toMatchObject({ set_size: 3, coverage: null });
    expect(events.find((e) => e.type === 'log' && e.data.step === 'localise')!.data.warning).toMatch(
      /fitted on ranker fixwright-rrf-v2\+lsi-128, not .*: no conformal set, the top 3 files instead/,
    );
  });

  it("falls back to the top 3 with no coverage claimed, and says why, when the calibration is another ranking's", async () => {
    const { events, localiser } = await localise(calibration('fixwright-learned-00000000+lsi-128'));
    expect(events.find((e) => e.type === 'localised_files')!.data).toMatchObject({ set_size: 3, coverage: null });
    const warning = events.find((e) => e.type === 'log' && e.data.step === 'localise')!.data.warning;
    expect(warning).toBe(
      `the calibration was fitted on ranker fixwright-learned-00000000+lsi-128, not ${localiser.rankerName}: no conformal set, the top 3 files instead`,
    );
  });
});
