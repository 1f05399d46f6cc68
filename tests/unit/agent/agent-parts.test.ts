import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentDeps, ChatAnswer, ChatModel, ModelFactory, Ranker, Sandbox } from '../../../agent/deps.js';
import { EventLog } from '../../../agent/events.js';
import { baselineNode } from '../../../agent/nodes/baseline.js';
import { generateNode } from '../../../agent/nodes/generate.js';
import { localiseNode } from '../../../agent/nodes/localise.js';
import type { AgentStateType, CandidateDraft } from '../../../agent/state.js';
import type { RepoSnapshot } from '../../../localisation/index.js';
import { buildRepoIndex } from '../../../localisation/repo-index.js';
import { readDirSnapshot } from '../../../localisation/snapshot.js';
import type { Calibration } from '../../../uncertainty/index.js';

// The nodes run here on hand-written parts: no Docker, no HTTP, no LangChain client. The agent's
// integration tests drive the same nodes with the real parts (scripted model server, real sandbox).

const dir = mkdtempSync(join(tmpdir(), 'fw-agent-parts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FILES = ['calc.py', 'report.py', 'store.py', 'util.py'];
for (const f of FILES) writeFileSync(join(dir, f), `def ${f.replace('.py', '')}(x):\n    return x\n`);

/** A ranker that ranks by a fixed list, recording what it was asked. */
function fakeRanker(order: readonly string[]): Ranker & { asked: string[] } {
  const asked: string[] = [];
  let snapshot: RepoSnapshot | undefined;
  return {
    asked,
    rankerName: 'fake-ranker-v1',
    snapshot: async (source) => {
      asked.push(`snapshot ${source.kind}`);
      return (snapshot = readDirSnapshot(dir));
    },
    index: async (source) => {
      asked.push(`index ${source.kind}`);
      return buildRepoIndex(snapshot ?? readDirSnapshot(dir));
    },
    rank: async (_index, issue) => {
      asked.push(`rank ${issue}`);
      return { files: order.map((path, i) => ({ path, score: 1 / (i + 2) })) };
    },
  };
}

/** A model that answers every call with the same text and usage, recording each call. */
function fakeModels(answer: string): {
  modelFor: ModelFactory;
  calls: Array<{ temperature?: number; signal?: AbortSignal }>;
} {
  const calls: Array<{ temperature?: number; signal?: AbortSignal }> = [];
  const modelFor: ModelFactory = (attempt, temperature) => {
    const model: ChatModel = {
      model: 'fake-coder',
      temperature: temperature ?? [0, 0.4][attempt - 1],
      maxTokens: 1000,
      invoke: async (_messages, options): Promise<ChatAnswer> => {
        calls.push({ temperature: model.temperature, signal: options.signal });
        return { content: [{ type: 'text', text: answer }], usage_metadata: { input_tokens: 200, output_tokens: 50 } };
      },
    };
    return model;
  };
  return { modelFor, calls };
}

/** A sandbox that cannot build any image. */
const brokenSandbox: Sandbox & { imagesAsked: string[] } = {
  imagesAsked: [],
  withSandbox: () => Promise.reject(new Error('no sandbox in a unit test')),
  prepareEnvironmentImage: async (environment) => {
    brokenSandbox.imagesAsked.push(environment.key);
    throw new Error('no space left on device');
  },
  prepareExtensionBuild: async () => undefined,
  extensionBuildLimits: () => ({}),
};

function depsWith(parts: Partial<Pick<AgentDeps, 'localiser' | 'modelFor' | 'sandbox' | 'calibration'>>): AgentDeps {
  return {
    localiser: fakeRanker(FILES),
    sandbox: brokenSandbox,
    modelFor: fakeModels('').modelFor,
    events: new EventLog('t-parts'),
    snapshotSource: { kind: 'dir', path: dir },
    repo: { kind: 'dir', path: dir },
    maxAttempts: 2,
    samples: 1,
    testTimeoutSeconds: 10,
    contextBudget: 10_000,
    prices: { 'fake-coder': { inputPerMTok: 1, outputPerMTok: 2 } },
    signal: new AbortController().signal,
    run: { tokens: { input: 0, output: 0 }, costUsd: 0 },
    ...parts,
  };
}

describe('the nodes run on the interfaces alone', () => {
  it('localise: ranks with the given Ranker and cuts with a calibration fitted on it', async () => {
    const ranker = fakeRanker(['store.py', 'calc.py', 'util.py', 'report.py']);
    const calibration: Calibration = {
      method: 'rank',
      alpha: 0.1,
      qhat: 2,
      n: 50,
      ranker: 'fake-ranker-v1',
      created: '2026-11-27T00:00:00.000Z',
    };
    const deps = depsWith({ localiser: ranker, calibration });
    const update = await localiseNode({ issue: 'store loses a record' } as AgentStateType, deps);
    expect(ranker.asked).toEqual(['snapshot dir', 'index dir', 'rank store loses a record']);
    expect(update.files).toEqual([
      { path: 'store.py', score: 1 / 2, inSet: true },
      { path: 'calc.py', score: 1 / 3, inSet: true },
      { path: 'util.py', score: 1 / 4, inSet: false },
      { path: 'report.py', score: 1 / 5, inSet: false },
    ]);
    expect(deps.run.snapshot?.files.map((f) => f.path).sort()).toEqual(FILES);
    expect(deps.events.events.find((e) => e.type === 'localised_files')?.data).toMatchObject({
      set_size: 2,
      coverage: 0.9,
      indexed_files: 4,
    });
  });

  it('generate: draws each candidate from the ModelFactory at its temperature and counts what it cost', async () => {
    const answer =
      'calc.py\n```python\n<<<<<<< SEARCH\n    return x\n=======\n    return x + 1\n>>>>>>> REPLACE\n```\n';
    const { modelFor, calls } = fakeModels(answer);
    const deps = { ...depsWith({ modelFor }), samples: 2, maxCostUsd: 1 };
    const state = {
      issue: 'calc is off by one',
      attempt: 0,
      codeContext: 'calc.py\n1 def calc(x):\n2     return x\n',
      contexts: {},
    } as unknown as AgentStateType;
    const update = await generateNode(state, deps);
    expect((update.drafts as CandidateDraft[]).map((d) => [d.candidate, d.temperature, d.answer])).toEqual([
      [1, 0, answer],
      [2, 0.8, answer],
    ]);
    expect(calls.map((c) => c.temperature).sort()).toEqual([0, 0.8]);
    expect(calls.every((c) => c.signal === deps.signal)).toBe(true);
    expect(deps.run.tokens).toEqual({ input: 400, output: 100 });
    expect(deps.run.costUsd).toBeCloseTo((2 * (200 * 1 + 50 * 2)) / 1e6);
    // Nothing stays held against the cap once the calls have ended.
    expect(deps.run.reservedUsd).toBe(0);
    const modelCalls = deps.events.events.filter((e) => e.type === 'model_call').map((e) => e.data);
    expect(modelCalls).toHaveLength(2);
    expect(modelCalls[0]).toMatchObject({ step: 'generate', attempt: 1, model: 'fake-coder', response: answer });
  });

  it('baseline: builds the environment image through the Sandbox, and stops the run when it cannot', async () => {
    brokenSandbox.imagesAsked.length = 0;
    const deps = depsWith({});
    const update = await baselineNode({ files: [], attempt: 0 } as unknown as AgentStateType, deps);
    expect(brokenSandbox.imagesAsked).toHaveLength(1);
    expect(update.stoppedBy).toBe('environment');
    expect(update.stopMessage).toBe(
      `the environment (${brokenSandbox.imagesAsked[0]}) did not build: no space left on device`,
    );
  });
});
