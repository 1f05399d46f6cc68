import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvironmentTable } from '../../benchmarks/eval/environments.js';
import { type ScriptedServer, startScriptedOpenAIServer } from '../../core/scripted-openai-server.js';
import { runCli } from '../helpers/cli.js';
import { FIXTURE_ANSWER, makeSwebenchFixture } from '../helpers/swebench-fixture.js';

// One answer serves both model steps: the reproduce step reads its test, the fix step its edit too.
const ANSWER = FIXTURE_ANSWER;

describe('fixwright solve-dataset: the agent over a dataset, then eval on its predictions', () => {
  let dir: string;
  let reposDir: string;
  let dataset: string;
  let model: ScriptedServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fw-bench-'));
    ({ reposDir, dataset } = makeSwebenchFixture(dir));
    model = await startScriptedOpenAIServer({ replies: [ANSWER] });
  });
  afterAll(async () => {
    await model.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes official-format predictions and trajectories, never shows the model the gold fields, resumes, and its predictions score', async () => {
    const out = join(dir, 'run');
    const env = {
      OPENAI_BASE_URL: model.url,
      OPENAI_API_KEY: 'sk-bench-test-0123456789abcdef',
      FIXWRIGHT_DATA_DIR: join(dir, 'data'),
    };
    const args = [
      'solve-dataset',
      '--dataset',
      dataset,
      '--repos',
      reposDir,
      '--instances',
      'acme__calc-gold,ghost__repo-1',
      '--model',
      'scripted',
      '--workers',
      '2',
      '--out',
      out,
    ];
    const r = await runCli(args, env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 instance\(s\): agent resolved 1, unverified 0, failed 0, errors 1/);
    // fixwright knows no price for the model: its cost is unknown, not $0.
    expect(r.stdout).toMatch(/\d+ tokens, cost unpriced \(no price for scripted: set FIXWRIGHT_PRICES\)/);
    const predictions = readFileSync(join(out, 'predictions.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(predictions.map((p) => Object.keys(p).sort())).toEqual([
      ['instance_id', 'model_name_or_path', 'model_patch'],
      ['instance_id', 'model_name_or_path', 'model_patch'],
    ]);
    const gold = predictions.find((p) => p.instance_id === 'acme__calc-gold');
    expect(gold).toMatchObject({
      model_name_or_path: 'scripted',
      model_patch: expect.stringContaining('+    return a + b'),
    });
    expect(gold.model_patch).not.toContain('test_repro_add'); // the agent's own test is not part of model_patch
    expect(existsSync(join(out, 'trajectories', 'acme__calc-gold.jsonl'))).toBe(true);
    const report = JSON.parse(readFileSync(join(out, 'bench-report.json'), 'utf8'));
    expect(report.localisation.recall_at_1).toBe(0.5); // calc.py first for the one instance whose repository exists
    expect(report.instances.find((i: { instance_id: string }) => i.instance_id === 'ghost__repo-1')).toMatchObject({
      status: 'error',
      message: expect.stringMatching(/not found/),
    });
    // Where the resolved instance's time went; the errored one never reached the agent and records none.
    const solved = report.instances.find((i: { instance_id: string }) => i.instance_id === 'acme__calc-gold');
    expect(solved).toMatchObject({
      attempts: 1,
      own_ms: expect.any(Number),
      model_ms: expect.any(Number),
      test_ms: expect.any(Number),
      own_ms_per_attempt: solved.timing.attempts.own_ms,
    });
    expect(solved.test_ms).toBeGreaterThan(0);
    expect(solved.own_ms + solved.model_ms + solved.test_ms).toBe(solved.timing.wall_ms);
    expect(report.timing).toMatchObject({
      instances: 1,
      median_own_ms: solved.own_ms,
      median_own_ms_per_attempt: solved.own_ms_per_attempt,
    });
    // The agent saw the problem statement and the code, nothing of the gold fields.
    const sent = JSON.stringify(model.requests.map((q) => q.body));
    expect(sent).toContain('add subtracts');
    for (const secret of ['def test_add():', 'FAIL_TO_PASS', 'PASS_TO_PASS', 'test_patch'])
      expect(sent).not.toContain(secret);

    // Resumable: the finished instance is kept, the errored one is tried again.
    // The preflight (GET /v1/models) runs again; no chat request does.
    const chats = () => model.requests.filter((q) => q.path === '/v1/chat/completions').length;
    const calls = chats();
    const again = await runCli(args, env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr + again.stdout).toMatch(/2 instance\(s\)/);
    expect(chats()).toBe(calls);

    // Score the run with the harness.
    const scored = await runCli([
      'eval',
      '--dataset',
      dataset,
      '--predictions',
      join(out, 'predictions.jsonl'),
      '--repos',
      reposDir,
      '--out',
      join(dir, 'eval'),
    ]);
    expect(scored.code, scored.stderr).toBe(0);
    const verdicts = JSON.parse(readFileSync(join(dir, 'eval', 'report.json'), 'utf8'));
    expect(verdicts.resolved_ids).toEqual(['acme__calc-gold']);
    expect(verdicts.empty_patch_ids).toEqual(['ghost__repo-1']);
    // The report puts the run's own figures beside the verdicts.
    expect(verdicts.bench.localisation.recall_at_1).toBe(0.5);
    expect(verdicts.bench.instances.map((i: { instance_id: string }) => i.instance_id).sort()).toEqual([
      'acme__calc-gold',
      'ghost__repo-1',
    ]);
    const markdown = readFileSync(join(dir, 'eval', 'report.md'), 'utf8');
    expect(markdown).toMatch(/## The agent run \(fixwright solve-dataset\)/);
    expect(markdown).toMatch(/\| acme__calc-gold \| resolved \| resolved \| 1 \| 1 \| yes \|/);
  }, 240_000);

  it(
    "--env-table: the agent tests a known instance in the table's entry and --eval grades in it, " +
      'under --grading; a bad table stops the run first',
    async () => {
      const table = join(dir, 'bench-table.json');
      const shipped = loadEnvironmentTable();
      const entry = (conftest: string) =>
        JSON.stringify({
          default: shipped.default,
          repos: {
            'acme/calc': { versions: { '1.0': { test_env: { FW_TABLE: 'yes' }, files: { 'conftest.py': conftest } } } },
          },
        });
      const env = {
        OPENAI_BASE_URL: model.url,
        OPENAI_API_KEY: 'sk-bench-test-0123456789abcdef',
        FIXWRIGHT_DATA_DIR: join(dir, 'data'),
      };
      const args = (out: string) => [
        'solve-dataset',
        '--dataset',
        dataset,
        '--repos',
        reposDir,
        '--instances',
        'acme__calc-gold',
        '--model',
        'scripted',
        '--out',
        join(dir, out),
        '--eval',
        '--eval-timeout',
        '120',
        '--env-table',
        table,
      ];
      // An entry whose files and test environment work: resolved by the agent and by eval, under the rule asked for.
      writeFileSync(
        table,
        entry("import os\nassert os.environ.get('FW_TABLE') == 'yes', 'not the table environment'\n"),
      );
      const ok = await runCli([...args('run-table'), '--grading', 'swebench-4'], env);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/1 instance\(s\): agent resolved 1/);
      expect(JSON.parse(readFileSync(join(dir, 'run-table', 'eval', 'report.json'), 'utf8'))).toMatchObject({
        resolved_ids: ['acme__calc-gold'],
        grading: { name: 'swebench-4' },
        environment_table: { path: table },
      });
      // The same entry with a conftest.py that stops every test run: neither the agent nor eval can pass, so both used the table.
      writeFileSync(table, entry("raise SystemExit('the table conftest stops the tests')\n"));
      const broken = await runCli(args('run-broken-table'), env);
      expect(broken.code, broken.stderr).toBe(0);
      expect(broken.stdout).toMatch(/1 instance\(s\): agent resolved 0/);
      expect(readFileSync(join(dir, 'run-broken-table', 'trajectories', 'acme__calc-gold.jsonl'), 'utf8')).toContain(
        'the table conftest stops the tests',
      );
      expect(
        JSON.parse(readFileSync(join(dir, 'run-broken-table', 'eval', 'report.json'), 'utf8')).resolved_ids,
      ).toEqual([]);
      writeFileSync(table, '{"default": {}}');
      const bad = await runCli(args('run-bad-table'), env);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/environment table .*bench-table\.json is invalid: default\.test_cmd/);
      expect(existsSync(join(dir, 'run-bad-table'))).toBe(false);
    },
    300_000,
  );

  it('--ablate --eval runs the full system and each variant, scores each one officially, and writes the ablation table', async () => {
    const out = join(dir, 'ablate');
    const env = {
      OPENAI_BASE_URL: model.url,
      OPENAI_API_KEY: 'sk-bench-test-0123456789abcdef',
      FIXWRIGHT_DATA_DIR: join(dir, 'data'),
    };
    const r = await runCli(
      [
        'solve-dataset',
        '--dataset',
        dataset,
        '--repos',
        reposDir,
        '--instances',
        'acme__calc-gold',
        '--model',
        'scripted',
        '--model-rpm',
        '600',
        '--ablate',
        'bm25,conformal,reflection',
        '--eval',
        '--eval-timeout',
        '120',
        '--out',
        out,
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\[no-reflection\] official verdicts: resolved 1\/1/);
    for (const variant of ['full', 'no-bm25'])
      expect(JSON.parse(readFileSync(join(out, variant, 'eval', 'report.json'), 'utf8')).resolved_ids, variant).toEqual(
        ['acme__calc-gold'],
      );
    for (const variant of ['full', 'no-bm25', 'no-conformal', 'no-reflection'])
      expect(existsSync(join(out, variant, 'predictions.jsonl')), variant).toBe(true);
    const table = readFileSync(join(out, 'ablation.md'), 'utf8');
    expect(table).toMatch(/\| variant \| official resolved \| agent resolved \|/);
    expect(table).toMatch(/\| full \| 1\/1 \(100\.0%\) \| 1\/1 \|/);
    expect(table).toMatch(/\| no-reflection \| 1\/1 \(100\.0%\) \| 1\/1 \|/);
    const rows = JSON.parse(readFileSync(join(out, 'ablation.json'), 'utf8'));
    expect(rows.map((x: { variant: string }) => x.variant)).toEqual([
      'full',
      'no-bm25',
      'no-conformal',
      'no-reflection',
    ]);
    expect(rows[0].official.resolved_rate).toBe(1);
    // full is the shipped system: the learned fusion cut by the shipped calibration (a conformal set, coverage claimed).
    expect(rows.map((x: { localisation: string }) => x.localisation)).toEqual([
      expect.stringMatching(/^learned fusion, conformal set \(/),
      'RRF (bm25 weight 0), no conformal set (top 3 files)',
      'learned fusion, no conformal set (top 3 files)',
      expect.stringMatching(/^learned fusion, conformal set \(/),
    ]);
    const localised = (variant: string) =>
      readFileSync(join(out, variant, 'trajectories', 'acme__calc-gold.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .find((e) => e.type === 'localised_files')?.data;
    expect(localised('full').coverage).toBeGreaterThan(0);
    expect(localised('no-conformal').coverage).toBeNull();
    const bad = await runCli(
      [
        'solve-dataset',
        '--dataset',
        dataset,
        '--repos',
        reposDir,
        '--model',
        'scripted',
        '--ablate',
        'magic',
        '--out',
        out,
      ],
      env,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--ablate takes some of bm25, embeddings, pagerank, conformal, reflection/);
  }, 240_000);

  it('--ablate selection --samples 2 runs samples-2 (the full run) and samples-1, and the table says samples and cost per resolved', async () => {
    const out = join(dir, 'selection');
    const env = {
      OPENAI_BASE_URL: model.url,
      OPENAI_API_KEY: 'sk-bench-test-0123456789abcdef',
      FIXWRIGHT_DATA_DIR: join(dir, 'data'),
    };
    const r = await runCli(
      [
        'solve-dataset',
        '--dataset',
        dataset,
        '--repos',
        reposDir,
        '--instances',
        'acme__calc-gold',
        '--model',
        'scripted',
        '--max-attempts',
        '1',
        '--samples',
        '2',
        '--ablate',
        'selection',
        '--out',
        out,
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /\[samples-2\] 1 instance\(s\): agent resolved 1, .* \d+ candidate\(s\) drawn \(--samples 2\)/,
    );
    expect(r.stdout).not.toMatch(/\[samples-1\] .*candidate\(s\) drawn/);
    for (const [variant, samples] of [
      ['samples-2', 2],
      ['samples-1', 1],
    ] as const) {
      const report = JSON.parse(readFileSync(join(out, variant, 'bench-report.json'), 'utf8'));
      expect(report.samples, variant).toBe(samples);
      const drawn: number[] = report.instances[0].candidates_drawn;
      expect(drawn, variant).toHaveLength(report.instances[0].attempts);
      // No cost cap here: every attempt draws exactly its samples.
      expect(drawn, variant).toEqual(drawn.map(() => samples));
      expect(report.candidates_drawn, variant).toBe(drawn.reduce((a, b) => a + b, 0));
    }
    const rows = JSON.parse(readFileSync(join(out, 'ablation.json'), 'utf8'));
    expect(rows.map((x: { variant: string; samples: number }) => [x.variant, x.samples])).toEqual([
      ['samples-2', 2],
      ['samples-1', 1],
    ]);
    const table = readFileSync(join(out, 'ablation.md'), 'utf8');
    // The scripted model is unpriced: its cost is unknown, not $0.
    expect(table).toMatch(/\| samples \| drawn \| tokens \| cost \| cost per agent resolved \|/);
    expect(table).toMatch(/\| samples-2 \| 1\/1 \|.*\| 2 \| 2\.0 \| \d+ \| unpriced \| unpriced \|/);
    expect(table).toMatch(/\| samples-1 \| 1\/1 \|.*\| 1 \| 1\.0 \| \d+ \| unpriced \| unpriced \|/);
  }, 240_000);
});
