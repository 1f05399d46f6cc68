import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { EventLog, solveIssue, type SolveContext, type SolveOutcome } from '../../../agent/index.js';
import { runTask, serviceModelGate, taskSolveContext, type RunnerParts } from '../../../api/run-task.js';
import { DiskTaskStore } from '../../../api/store/disk-store.js';
import { newTask } from '../../../api/task.js';
import { loadSettings } from '../../../core/config.js';
import { createLogger } from '../../../core/logger.js';

// The run itself is replaced: what matters is the context the runner hands it.
vi.mock('../../../agent/index.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../agent/index.js')>()),
  solveIssue: vi.fn(),
}));

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const partsWith = (env: Record<string, string>): RunnerParts => {
  const settings = loadSettings(env);
  // Only the gate and what the context copies matter here: no store, sandbox or localiser is used.
  return {
    settings,
    store: {} as RunnerParts['store'],
    runtime: {} as RunnerParts['runtime'],
    localiser: {} as RunnerParts['localiser'],
    logger: createLogger('silent'),
    modelGate: serviceModelGate(settings),
  };
};

describe("the service's model gate (FIXWRIGHT_MODEL_RPM)", () => {
  it('no setting, no gate: the run gets none', () => {
    const parts = partsWith({});
    expect(parts.modelGate).toBeUndefined();
    expect(taskSolveContext(parts, new EventLog('t1'), new AbortController().signal).modelGate).toBeUndefined();
  });

  it("every task's run gets the process's one gate, which holds the calls of all its tasks to the limit", async () => {
    const parts = partsWith({ FIXWRIGHT_MODEL_RPM: '2' });
    const signal = new AbortController().signal;
    const first = taskSolveContext(parts, new EventLog('t1'), signal);
    const second = taskSolveContext(parts, new EventLog('t2'), signal);
    expect(first.modelGate).toBe(parts.modelGate);
    expect(second.modelGate).toBe(parts.modelGate);
    expect(first.signal).toBe(signal);
    const started: string[] = [];
    const call = (name: string) => async () => (started.push(name), name);
    const done = [first.modelGate!(call('t1 a')), second.modelGate!(call('t2 a'))];
    void first.modelGate!(call('t1 b'));
    expect(await Promise.all(done)).toEqual(['t1 a', 't2 a']);
    await new Promise((r) => setTimeout(r, 300));
    expect(started).toEqual(['t1 a', 't2 a']); // the third call, of either task, waits for the next minute
  });
});

describe('runTask', () => {
  it("hands the process's gate to every task's run", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-model-rpm-'));
    dirs.push(dir);
    const parts = {
      ...partsWith({ FIXWRIGHT_MODEL_RPM: '30', FIXWRIGHT_MODEL: 'scripted' }),
      store: new DiskTaskStore(join(dir, 'tasks')),
    };
    expect(parts.modelGate).toBeTypeOf('function');
    const seen: Array<SolveContext['modelGate']> = [];
    const outcome: SolveOutcome = {
      status: 'failed',
      stoppedBy: null,
      stopMessage: null,
      attempts: [],
      files: [],
      finalPatch: '',
      tokens: { input: 0, output: 0 },
      costUsd: 0,
    };
    vi.mocked(solveIssue).mockImplementation(async (_options, context) => (seen.push(context.modelGate), outcome));
    for (const id of ['task-a', 'task-b']) {
      await parts.store.create(
        newTask(id, { repo_url: 'https://github.com/acme/calc', issue_text: 'add is wrong', max_attempts: 1 }),
      );
      expect(await runTask(id, parts, new AbortController().signal)).toBe('finished');
    }
    expect(seen).toEqual([parts.modelGate, parts.modelGate]);
    expect(seen[0]).toBe(parts.modelGate);
  });
});
