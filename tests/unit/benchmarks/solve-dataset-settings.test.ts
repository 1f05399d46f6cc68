import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { meanDrawn, writeAblationTable } from '../../../benchmarks/run/ablation.js';
import {
  benchReport,
  finishedInstances,
  resultSettings,
  resumeLines,
  solveInstances,
  type BenchContext,
  type BenchInstance,
} from '../../../benchmarks/run/solve-instances.js';
import type { EvalRow } from '../../../benchmarks/eval/instances.js';

const row = (id: string) =>
  ({
    instance_id: id,
    repo: 'acme/calc',
    base_commit: 'abc',
    problem_statement: 'add subtracts',
    patch: '',
    test_patch: '',
    FAIL_TO_PASS: [],
    PASS_TO_PASS: [],
  }) as unknown as EvalRow;
const instance = (id: string, extra: Partial<BenchInstance> = {}): BenchInstance & { model_patch: string } => ({
  instance_id: id,
  repo: 'acme/calc',
  status: 'resolved',
  stopped_by: null,
  message: null,
  attempts: 1,
  tries: 1,
  tokens: { input: 100, output: 10 },
  cost_usd: 1,
  wall_ms: 1,
  gold_rank: 1,
  gold_in_set: true,
  set_size: 2,
  model_patch: `patch of ${id}`,
  ...extra,
});

describe('a resumed bench keeps only results drawn with the same settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-bench-settings-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const keep = (out: string, r: BenchInstance) => {
    mkdirSync(join(out, 'results'), { recursive: true });
    writeFileSync(join(out, 'results', `${r.instance_id}.json`), JSON.stringify(r));
  };

  it('reruns, saying so in one line, what was drawn with other samples, max-cost or max-attempts; an old result counts as samples 1', () => {
    const out = join(dir, 'no-bm25');
    const four = resultSettings({ samples: 4, maxCostUsd: 2, maxAttempts: 3 });
    expect(four).toEqual({ samples: 4, max_cost_usd: 2, max_attempts: 3 });
    keep(out, instance('old')); // before settings were recorded: samples 1
    keep(out, instance('same', { settings: four }));
    keep(out, instance('cost', { settings: { ...four, max_cost_usd: null } }));
    keep(out, instance('attempts', { settings: { ...four, max_attempts: 1 } }));
    const rows = ['old', 'same', 'cost', 'attempts', 'new'].map(row);
    expect(finishedInstances(rows, out, four)).toEqual(['same']);
    const lines = resumeLines(rows, out, four, '[no-bm25] ');
    expect(lines).toEqual([
      `fixwright: [no-bm25] resuming ${out}: skipping 1 finished instance(s) of 5; 4 to run\n`,
      `fixwright: [no-bm25] rerunning 3 finished instance(s) ` +
        `of ${out} drawn with other settings (samples 1; samples 4, no max-cost, max-attempts 3; ` +
        `samples 4, max-cost $2.00, max-attempts 1; now samples 4, max-cost $2.00, max-attempts 3)\n`,
    ]);
    // With one sample an old result is kept: its cost cap and attempts are unknown, not compared.
    const one = resultSettings({ samples: 1, maxAttempts: 3 });
    expect(finishedInstances(rows, out, one)).toEqual(['old']);
    expect(resumeLines([row('old')], out, one)).toEqual([
      `fixwright: resuming ${out}: skipping 1 finished instance(s) of 1; 0 to run (none left)\n`,
    ]);
  });

  it('solveInstances runs a result drawn with other settings again and records the settings in each result', async () => {
    const out = join(dir, 'run');
    const now = { samples: 4, maxCostUsd: 2, maxAttempts: 3 };
    keep(out, instance('same', { settings: resultSettings(now) }));
    keep(out, instance('old'));
    // No runtime and no repository: a rerun instance ends in error at once, which is enough here.
    const ctx = {
      solve: { model: 'scripted', temperatures: [0], testTimeoutSeconds: 1, ...now },
      parts: {},
      reposDir: join(dir, 'none'),
      secrets: [],
    } as unknown as BenchContext;
    const kept: string[] = [];
    const { results, report } = await solveInstances([row('same'), row('old')], ctx, {
      out,
      workers: 1,
      modelName: 'scripted',
      errorRetries: 0,
      onDone: (r, k) => k && kept.push(r.instance_id),
    });
    expect(kept).toEqual(['same']);
    expect(results.map((r) => [r.instance_id, r.status])).toEqual([
      ['same', 'resolved'],
      ['old', 'error'],
    ]);
    const rerun = JSON.parse(readFileSync(join(out, 'results', 'old.json'), 'utf8')) as BenchInstance;
    expect(rerun.settings).toEqual({ samples: 4, max_cost_usd: 2, max_attempts: 3 });
    expect(report.samples).toBe(4);
  });
});

describe('the ablation table shows the candidates drawn per attempt beside samples', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-ablation-drawn-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a cost cap that cut sampling short shows as fewer drawn than samples', () => {
    const cut = benchReport(
      [instance('a', { attempts: 2, candidates_drawn: [4, 1] }), instance('b', { attempts: 1, candidates_drawn: [2] })],
      { samples: 4 },
    );
    expect(meanDrawn(cut)).toBeCloseTo(7 / 3);
    expect(meanDrawn(benchReport([instance('a', { attempts: 0, candidates_drawn: [] })]))).toBeNull();
    const table = writeAblationTable(dir, [{ variant: 'samples-4', report: cut }]);
    expect(table).toContain('| mean set | samples | drawn | tokens |');
    expect(table).toContain('| 2.0 | 4 | 2.3 | 220 |');
    const kept = JSON.parse(readFileSync(join(dir, 'ablation.json'), 'utf8'));
    expect(kept[0].mean_candidates_drawn).toBeCloseTo(7 / 3);
  });
});
