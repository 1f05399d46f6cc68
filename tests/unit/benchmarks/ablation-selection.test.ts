import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shippedCalibration } from '../../../agent/index.js';
import {
  ablationVariants,
  costPerResolved,
  SELECTION_ABLATION_SAMPLES,
  variantLocalisation,
  writeAblationTable,
  type AblationRow,
} from '../../../benchmarks/run/ablation.js';
import { loadSettings } from '../../../core/config.js';
import { benchReport, type BenchInstance } from '../../../benchmarks/run/solve-instances.js';
import type { EvalReport } from '../../../benchmarks/eval/report.js';

const instance = (id: string, status: BenchInstance['status'], costUsd: number, drawn?: number[]): BenchInstance => ({
  instance_id: id,
  repo: 'acme/calc',
  status,
  stopped_by: null,
  message: null,
  attempts: drawn?.length ?? 2,
  ...(drawn ? { candidates_drawn: drawn } : {}),
  tries: 1,
  tokens: { input: 100, output: 10 },
  cost_usd: costUsd,
  wall_ms: 1,
  gold_rank: 1,
  gold_in_set: true,
  set_size: 2,
});
const official = (resolved: string[], submitted: string[]) =>
  ({
    resolved_ids: resolved,
    submitted_ids: submitted,
    resolved_rate: resolved.length / submitted.length,
    per_repo: {},
  }) as unknown as EvalReport;

describe('--ablate selection: samples-N against samples-1', () => {
  it('compares N = --samples with 1, N = 4 when --samples is 1 or not given', () => {
    for (const samples of [undefined, 1]) {
      const v = ablationVariants('selection', samples);
      expect(v.map((x) => [x.name, x.samples])).toEqual([
        [`samples-${SELECTION_ABLATION_SAMPLES}`, SELECTION_ABLATION_SAMPLES],
        ['samples-1', 1],
      ]);
    }
    expect(SELECTION_ABLATION_SAMPLES).toBe(4);
    expect(ablationVariants('selection', 6).map((x) => [x.name, x.samples])).toEqual([
      ['samples-6', 6],
      ['samples-1', 1],
    ]);
    // Nothing else differs between the two: the same localisation, attempts and cost accounting.
    const [n, one] = ablationVariants('selection', 3);
    expect({ ...one, name: n!.name, samples: n!.samples }).toEqual(n);
  });

  it('with other parts, the full run and every other variant sample N; without selection all keep --samples and the old names', () => {
    const mixed = ablationVariants('bm25,selection,reflection', 1);
    expect(mixed.map((x) => [x.name, x.samples, x.maxAttempts])).toEqual([
      ['samples-4', 4, undefined],
      ['no-bm25', 4, undefined],
      ['samples-1', 1, undefined],
      ['no-reflection', 4, 1],
    ]);
    expect(ablationVariants('bm25,conformal', 3).map((x) => [x.name, x.samples])).toEqual([
      ['full', 3],
      ['no-bm25', 3],
      ['no-conformal', 3],
    ]);
    expect(ablationVariants('bm25').map((x) => x.samples)).toEqual([1, 1]);
    expect(() => ablationVariants('selection,magic')).toThrow(
      /--ablate takes some of bm25, embeddings, pagerank, conformal, reflection, selection/,
    );
  });
});

describe('--ablate localisation: full is the shipped system, a signal switched off is RRF without a set', () => {
  const settings = loadSettings({ FIXWRIGHT_DATA_DIR: '/tmp/fw-ablation-localisation' });
  const byName = (list: string) =>
    Object.fromEntries(ablationVariants(list).map((v) => [v.name, variantLocalisation(settings, v)]));

  it('full ranks with the learned fusion and cuts with the shipped calibration, as the plain bench does', () => {
    const { full } = byName('bm25,conformal');
    const shipped = shippedCalibration()!;
    expect(full!.localiser.fusion).toBeDefined();
    expect(full!.localiser.rankerName).toBe(shipped.ranker);
    expect(full!.calibration).toEqual(shipped);
    expect(full!.description).toBe(`learned fusion, conformal set (${shipped.method}, α ${shipped.alpha})`);
    expect(variantLocalisation(settings).localiser.rankerName).toBe(shipped.ranker);
  });

  it('no-conformal ranks as full does with no set; no-<signal> ranks by RRF with no set, and says so', () => {
    const v = byName('bm25,embeddings,pagerank,conformal');
    expect(v['no-conformal']!.localiser.rankerName).toBe(v.full!.localiser.rankerName);
    expect(v['no-conformal']!.calibration).toBeNull();
    expect(v['no-conformal']!.description).toBe('learned fusion, no conformal set (top 3 files)');
    for (const signal of ['bm25', 'embeddings', 'pagerank']) {
      const x = v[`no-${signal}`]!;
      expect(x.localiser.fusion, signal).toBeUndefined();
      expect(x.calibration, signal).toBeNull();
      expect(x.description, signal).toBe(
        `RRF (${signal} weight 0)${signal === 'embeddings' ? ', no embedder' : ''}, no conformal set (top 3 files)`,
      );
    }
  });

  it("the table and ablation.json carry each variant's localisation", () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-ablation-loc-'));
    try {
      const report = benchReport([instance('a', 'resolved', 1)]);
      const table = writeAblationTable(dir, [
        { variant: 'full', localisation: 'learned fusion, conformal set (prob, α 0.1)', report },
        { variant: 'no-bm25', localisation: 'RRF (bm25 weight 0), no conformal set (top 3 files)', report },
      ]);
      expect(table).toContain(
        'Localisation: full: learned fusion, conformal set (prob, α 0.1); no-bm25: RRF (bm25 weight ' +
          '0), no conformal set (top 3 files). A variant that switches a signal off ranks by RRF',
      );
      const kept = JSON.parse(readFileSync(join(dir, 'ablation.json'), 'utf8'));
      expect(kept.map((k: { localisation: string }) => k.localisation)).toEqual([
        'learned fusion, conformal set (prob, α 0.1)',
        'RRF (bm25 weight 0), no conformal set (top 3 files)',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bench report and ablation table: samples, candidates drawn, cost per resolved', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-ablation-table-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('bench-report records the samples setting and the candidates drawn (old results count one per attempt)', () => {
    const report = benchReport(
      [instance('a', 'resolved', 1, [4, 3]), instance('b', 'failed', 1, []), instance('c', 'failed', 1)],
      { samples: 4 },
    );
    expect(report.samples).toBe(4);
    expect(report.candidates_drawn).toBe(4 + 3 + 0 + 2);
    expect(benchReport([instance('a', 'resolved', 1)]).samples).toBe(1);
  });

  it('with --eval: samples and cost per official resolved beside the official resolved column', () => {
    const sampled = benchReport([instance('a', 'resolved', 3), instance('b', 'resolved', 1.5)], { samples: 4 });
    const single = benchReport([instance('a', 'resolved', 1), instance('b', 'failed', 0.5)], { samples: 1 });
    const rows: AblationRow[] = [
      { variant: 'samples-4', report: sampled, official: official(['a'], ['a', 'b']) },
      { variant: 'samples-1', report: single, official: official([], ['a', 'b']) },
    ];
    const table = writeAblationTable(dir, rows);
    expect(table).toContain(
      '| variant | official resolved | agent resolved | unverified | failed | errors | R@1 | R@5 | ' +
        'conformal coverage | mean set | samples | drawn | tokens | cost | cost per official resolved |',
    );
    // 4.50 over 1 official resolved (not the agent's 2); none resolved: no figure.
    expect(table).toContain(
      '| samples-4 | 1/2 (50.0%) | 2/2 | 0 | 0 | 0 | 100.0% | 100.0% | 100.0% | 2.0 | 4 | 1.0 | 220 | $4.50 | $4.50 |',
    );
    expect(table).toContain(
      '| samples-1 | 0/2 (0.0%) | 1/2 | 0 | 1 | 0 | 100.0% | 100.0% | 100.0% | 2.0 | 1 | 1.0 | 220 | $1.50 | – |',
    );
    expect(readFileSync(join(dir, 'ablation.md'), 'utf8')).toBe(table);
    const kept = JSON.parse(readFileSync(join(dir, 'ablation.json'), 'utf8'));
    expect(
      kept.map((k: { variant: string; samples: number; cost_per_resolved: unknown }) => [
        k.variant,
        k.samples,
        k.cost_per_resolved,
      ]),
    ).toEqual([
      ['samples-4', 4, { basis: 'official', usd: 4.5 }],
      ['samples-1', 1, { basis: 'official', usd: null }],
    ]);
  });

  it('without --eval: cost per agent resolved; an unpriced model says unpriced, not $0', () => {
    const rows: AblationRow[] = [
      {
        variant: 'full',
        report: benchReport([instance('a', 'resolved', 3), instance('b', 'resolved', 1)], { samples: 2 }),
      },
    ];
    expect(costPerResolved(rows[0]!, false)).toBe(2);
    const table = writeAblationTable(dir, rows);
    expect(table).toContain('| samples | drawn | tokens | cost | cost per agent resolved |');
    expect(table).not.toContain('| official resolved |');
    expect(table).toContain(
      '| full | 2/2 | 0 | 0 | 0 | 100.0% | 100.0% | 100.0% | 2.0 | 2 | 1.0 | 220 | $4.00 | $2.00 |',
    );
    expect(writeAblationTable(dir, rows, { priced: false })).toContain('| 2 | 1.0 | 220 | unpriced | unpriced |');
  });
});
