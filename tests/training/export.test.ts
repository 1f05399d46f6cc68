import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport } from '../../benchmarks/eval/report.js';
import { gradingRule } from '../../benchmarks/eval/grading.js';
import { type ScriptedReply, startScriptedOpenAIServer } from '../../core/scripted-openai-server.js';
import { runCli } from '../helpers/cli.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

const REPO = {
  'calc.py':
    'def add(a, b):\n    """Return the sum of a and b."""\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n',
  'tests/test_calc.py': 'from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n',
};
const REPRO =
  '```python\n# tests/test_repro_add.py\nfrom calc import add\n\n\ndef test_add_returns_sum():\n    assert add(2, 3) == 5\n```\n';
const fix = (replacement: string) =>
  `${REPRO}\ncalc.py\n\`\`\`python\n<<<<<<< SEARCH\n    return a - b\n=======\n    return ${replacement}\n>>>>>>> REPLACE\n\`\`\`\n`;
const KEY = 'sk-export-test-secret-0123456789';
type Row = Record<string, unknown> & {
  kind: string;
  repo: string;
  split: string;
  messages?: Array<{ role: string; content: string }>;
  chosen?: Array<{ content: string }>;
  rejected?: Array<{ content: string }>;
};
const readRows = (file: string): Row[] =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Row);
const python = (args: string[]) => spawnSync('python3', args, { encoding: 'utf8' });
type Event = { type: string; data: Record<string, unknown> };
const events = (runDir: string): Event[] =>
  readFileSync(join(runDir, 'trajectory.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Event);
const donePatch = (runDir: string) => String(events(runDir).find((e) => e.type === 'done')!.data.patch);

/** A copy of a solve run's trajectory as a bench run of `instanceId` records it (its status event names the instance). */
function asInstance(runDir: string, dest: string, instanceId: string): string {
  mkdirSync(dest, { recursive: true });
  const lines = events(runDir).map((e) =>
    e.type === 'status' ? { ...e, data: { ...e.data, instance_id: instanceId } } : e,
  );
  writeFileSync(join(dest, 'trajectory.jsonl'), lines.map((e) => `${JSON.stringify(e)}\n`).join(''));
  return dest;
}

/** An evaluation directory as `fixwright eval --out DIR` leaves it: report.json, and per instance the patch it judged. */
function evalDir(dest: string, instanceId: string, patch: string, status: 'resolved' | 'unresolved'): string {
  const result = {
    instance_id: instanceId,
    repo: 'acme/calc',
    version: null,
    status,
    reason: status === 'resolved' ? null : 'FAIL_TO_PASS failed',
    environment: 'test',
    tests: {},
    fail_to_pass: null,
    pass_to_pass: null,
    log: '',
    duration_ms: 1,
  };
  mkdirSync(join(dest, 'instances', instanceId), { recursive: true });
  writeFileSync(join(dest, 'instances', instanceId, 'result.json'), JSON.stringify({ ...result, model_patch: patch }));
  writeFileSync(join(dest, 'instances', instanceId, 'patch.diff'), patch);
  writeFileSync(
    join(dest, 'report.json'),
    JSON.stringify(
      buildReport([result], {
        dataset: 'rows.jsonl',
        predictions: 'predictions.jsonl',
        grading: gradingRule(),
        environmentTable: { path: 'environments.json', sha256: '0'.repeat(64) },
        selectedIds: [instanceId],
      }),
    ),
  );
  return join(dest, 'report.json');
}

/** Three real `fixwright solve` runs with the scripted model: resolved at once, resolved after reflection, never resolved. */
describe('fixwright export on trajectories of real solve runs', () => {
  let dir: string;
  const runs: Record<string, string> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fw-export-'));
    const scripts: Record<string, ScriptedReply[]> = {
      first: [REPRO, fix('a + b')],
      second: [REPRO, fix('a * b'), fix('a + b')],
      never: [REPRO, fix('a * b'), fix('b - a'), fix('a - b - 0')],
    };
    for (const [name, replies] of Object.entries(scripts)) {
      const server = await startScriptedOpenAIServer({ replies, apiKey: KEY });
      try {
        const repo = makeRepo(REPO, { git: true });
        const out = join(dir, 'runs', name);
        await runCli(
          [
            'solve',
            '--repo',
            repo,
            '--issue',
            `add(2, 3) returns -1 instead of 5 (${name})`,
            '--model',
            'scripted',
            '--base-url',
            server.url,
            '--out',
            out,
            '--test-timeout',
            '60',
          ],
          { OPENAI_API_KEY: KEY, FIXWRIGHT_DATA_DIR: join(dir, 'data') },
        );
        runs[name] = out;
      } finally {
        await server.close();
      }
    }
  }, 240_000);
  afterAll(() => {
    removeRepos();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'SFT: a positive pair for the first-attempt fix, a reflection pair for the second-attempt fix, ' +
      'a negative pair per reflected failure, nowhere else',
    async () => {
      const out = join(dir, 'sft.jsonl');
      const r = await runCli(
        ['export', '--trajectories', join(dir, 'runs'), '--format', 'sft', '--val-fraction', '0.34', '--out', out],
        { OPENAI_API_KEY: KEY },
      );
      expect(r.code, r.stderr).toBe(0);
      const rows = readRows(out);
      const bySource = (name: string) =>
        rows
          .filter((row) => String(row.repo).length > 0 && JSON.stringify(row.messages).includes(`(${name})`))
          .map((row) => row.kind)
          .sort();
      expect(bySource('first')).toEqual(['positive']);
      expect(bySource('second')).toEqual(['negative_with_context', 'reflection']);
      expect(bySource('never')).toEqual(['negative_with_context', 'negative_with_context']);
      // The exact messages the model received: system prompt first, the answer last.
      const positive = rows.find((row) => row.kind === 'positive')!;
      expect(positive.messages![0]!.role).toBe('system');
      expect(positive.messages![0]!.content).toMatch(/^You are fixwright/);
      expect(positive.messages!.at(-1)).toEqual({ role: 'assistant', content: fix('a + b') });
      const reflection = rows.find((row) => row.kind === 'reflection')!;
      expect(reflection.messages!.at(-2)!.content).toMatch(/Your previous attempt failed \(repro_still_fails\)/);
      expect(reflection.messages!.at(-1)!.content).toContain('return a + b');
      const negative = rows.find(
        (row) => row.kind === 'negative_with_context' && JSON.stringify(row.messages).includes('(second)'),
      )!;
      expect(negative.messages!.at(-3)!.content).toContain('return a * b'); // the failing edit …
      expect(negative.messages!.at(-2)!.content).toMatch(/What went wrong\?/); // … its test output …
      expect(negative.messages!.at(-1)!.content).toMatch(/^Failure \(repro_still_fails\): /); // … the diagnosis reflection recorded
      // Split by repository, the card's counts match the file, no key anywhere.
      const splits = new Map<string, Set<string>>();
      for (const row of rows) splits.set(row.repo, (splits.get(row.repo) ?? new Set()).add(row.split));
      expect([...splits.values()].every((s) => s.size === 1)).toBe(true);
      expect(new Set(rows.map((row) => row.split))).toEqual(new Set(['train', 'validation']));
      const card = JSON.parse(readFileSync(join(dir, 'sft.card.json'), 'utf8'));
      // The figures of this 3-run fixture export, for the record (README, "Training data").
      console.log(
        `export of the 3-run fixture set: ${r.stdout.split('\n')[0]}; card tokens ${JSON.stringify(card.tokens)}`,
      );
      expect(card).toMatchObject({
        rows: 5,
        per_kind: { positive: 1, reflection: 1, negative_with_context: 3 },
        runs: 3,
        runs_passing: 2,
      });
      expect(card.trust).toMatch(/agent's own verdict/);
      expect(readFileSync(join(dir, 'sft.card.md'), 'utf8')).toMatch(/\| positive \| 1 \|/);
      for (const file of ['sft.jsonl', 'sft.card.json', 'sft.card.md'])
        expect(readFileSync(join(dir, file), 'utf8')).not.toContain(KEY);
      // check_data.py (standard library only) passes on it and fails precisely on a corrupted copy.
      const ok = python(['training/check_data.py', out]);
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/5 rows; kinds .*'positive': 1/);
      const broken = rows.map((row, i) =>
        i === 1 ? { ...row, messages: [...row.messages!.slice(0, -1), { role: 'assistant', content: ' ' }] } : row,
      );
      writeFileSync(join(dir, 'broken.jsonl'), broken.map((row) => JSON.stringify(row)).join('\n'));
      cpSync(join(dir, 'sft.card.json'), join(dir, 'broken.card.json'));
      const bad = python(['training/check_data.py', join(dir, 'broken.jsonl')]);
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain(`broken.jsonl:2: messages: the assistant's answer is empty`);
      expect(bad.stderr).toMatch(/says 5 rows, the file has 4 valid rows/);
    },
  );

  it('DPO: one pair from the run that failed then passed, chosen the passing edit and rejected the failing one, on the first prompt', async () => {
    const out = join(dir, 'dpo.jsonl');
    const r = await runCli(['export', '--trajectories', join(dir, 'runs'), '--format', 'dpo', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const rows = readRows(out);
    console.log(`DPO export of the 3-run fixture set: ${r.stdout.split('\n')[0]}`);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.chosen![0]!.content).toContain('return a + b');
    expect(rows[0]!.rejected![0]!.content).toContain('return a * b');
    expect((rows[0]!.prompt as unknown[]).length).toBe(2);
    expect(python(['training/check_data.py', out]).status).toBe(0);
  });

  it('with --eval-report, only runs the official verdict resolved count as passing', async () => {
    writeFileSync(join(dir, 'report.json'), JSON.stringify({ resolved_ids: ['some__other-1'] }));
    const out = join(dir, 'trusted.jsonl');
    const r = await runCli([
      'export',
      '--trajectories',
      join(dir, 'runs'),
      '--eval-report',
      join(dir, 'report.json'),
      '--format',
      'sft',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(new Set(readRows(out).map((row) => row.kind))).toEqual(new Set(['negative_with_context']));
    expect(JSON.parse(readFileSync(join(dir, 'trusted.card.json'), 'utf8')).trust).toMatch(/fixwright eval/);
  });

  it('with several --eval-report files, a run takes the verdict on its own patch, not one given to another run of the same instance', async () => {
    const id = 'acme__calc-7';
    const pool = join(dir, 'one-instance');
    const good = asInstance(runs.first!, join(pool, 'good'), id);
    const bad = asInstance(runs.never!, join(pool, 'bad'), id);
    expect(donePatch(bad)).not.toBe(donePatch(good));
    const resolvedGood = evalDir(join(dir, 'eval-good'), id, donePatch(good), 'resolved');
    const unresolvedBad = evalDir(join(dir, 'eval-bad'), id, donePatch(bad), 'unresolved');
    const out = join(dir, 'per-run.jsonl');
    const r = await runCli([
      'export',
      '--trajectories',
      pool,
      '--eval-report',
      resolvedGood,
      unresolvedBad,
      '--format',
      'sft',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const rows = readRows(out);
    const kinds = (name: string) =>
      rows
        .filter((row) => JSON.stringify(row.messages).includes(`(${name})`))
        .map((row) => row.kind)
        .sort();
    expect(kinds('first')).toEqual(['positive']);
    // The unresolved run teaches only its diagnoses: no fix of it is learnt as a good one.
    expect(kinds('never')).toEqual(['negative_with_context', 'negative_with_context']);
    expect(JSON.parse(readFileSync(join(dir, 'per-run.card.json'), 'utf8')).runs_passing).toBe(1);

    // A report that evaluated the instance but not this run's patch says nothing about this run.
    const onlyGood = await runCli([
      'export',
      '--trajectories',
      bad,
      '--eval-report',
      resolvedGood,
      '--format',
      'sft',
      '--out',
      join(dir, 'unjudged.jsonl'),
    ]);
    expect(onlyGood.code, onlyGood.stderr).toBe(0);
    expect(readRows(join(dir, 'unjudged.jsonl')).map((row) => row.kind)).toEqual([
      'negative_with_context',
      'negative_with_context',
    ]);
    expect(onlyGood.stderr).toMatch(
      new RegExp(`note: .*bad/trajectory\\.jsonl: ${id} was evaluated, but not this run's patch`),
    );
    // The run was read and used (as not passing), so it is not among the problems skipped.
    expect(onlyGood.stdout).toMatch(/; 0 problem\(s\) skipped/);
  });

  it('DPO: the last attempt, which failed and was never reflected on, is a rejected answer too', async () => {
    // The agent left the run unverified; the official verdict resolved its chosen patch.
    const id = 'acme__calc-8';
    const run = asInstance(runs.never!, join(dir, 'officially-fixed', 'run'), id);
    const done = events(run).find((e) => e.type === 'done')!.data;
    const attempts = events(run)
      .filter((e) => e.type === 'model_call' && e.data.step === 'generate')
      .map((e) => Number(e.data.attempt));
    const reflected = events(run)
      .filter((e) => e.type === 'reflection')
      .map((e) => Number(e.data.attempt));
    const last = Math.max(...attempts);
    expect(reflected).not.toContain(last);
    expect(done.chosen_attempt).not.toBe(last);
    const report = evalDir(join(dir, 'eval-never'), id, donePatch(run), 'resolved');
    const out = join(dir, 'last.jsonl');
    const r = await runCli(['export', '--trajectories', run, '--eval-report', report, '--format', 'dpo', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const rows = readRows(out);
    expect(rows.every((row) => row.chosen_attempt === done.chosen_attempt)).toBe(true);
    expect(rows.map((row) => row.rejected_attempt).sort()).toEqual(
      attempts.filter((a) => a !== done.chosen_attempt).sort(),
    );
    expect(rows.map((row) => row.rejected_attempt)).toContain(last);
    expect(python(['training/check_data.py', out]).status).toBe(0);
  });

  it('reports truncated and old-format lines with file and line and skips them; an unfinished run is skipped; bad input is a clear error', async () => {
    const copy = join(dir, 'damaged');
    cpSync(join(dir, 'runs', 'first'), copy, { recursive: true });
    appendFileSync(
      join(copy, 'trajectory.jsonl'),
      '{"event": "patch", "payload": {}}\n{"task_id": "t", "seq": 99, "ts": "x", "type": "pat',
    );
    mkdirSync(join(dir, 'unfinished'));
    writeFileSync(
      join(dir, 'unfinished', 'trajectory.jsonl'),
      readFileSync(join(runs.second!, 'trajectory.jsonl'), 'utf8').split('\n').slice(0, 12).join('\n'),
    );
    const out = join(dir, 'damaged.jsonl');
    const r = await runCli([
      'export',
      '--trajectories',
      copy,
      join(dir, 'unfinished'),
      '--format',
      'sft',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(join(runs.first!, 'trajectory.jsonl'), 'utf8').trim().split('\n').length;
    expect(r.stderr).toContain(
      `damaged/trajectory.jsonl:${lines + 1}: not an event of this fixwright's trajectory format`,
    );
    expect(r.stderr).toContain(`damaged/trajectory.jsonl:${lines + 2}: not JSON`);
    expect(r.stderr).toMatch(/unfinished\/trajectory\.jsonl: the run has no done event/);
    expect(readRows(out).map((row) => row.kind)).toEqual(['positive']);

    mkdirSync(join(dir, 'empty'));
    const empty = await runCli([
      'export',
      '--trajectories',
      join(dir, 'empty'),
      '--format',
      'sft',
      '--out',
      join(dir, 'x.jsonl'),
    ]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no trajectory files \(\*\.jsonl\) under/);
    const missing = await runCli([
      'export',
      '--trajectories',
      join(dir, 'nope'),
      '--format',
      'sft',
      '--out',
      join(dir, 'x.jsonl'),
    ]);
    expect(missing.stderr).toMatch(/--trajectories .*nope does not exist/);
    const flags = await runCli([
      'export',
      '--trajectories',
      join(dir, 'runs'),
      '--format',
      'sft',
      '--val-fraction',
      '2',
      '--out',
      join(dir, 'x.jsonl'),
    ]);
    expect(flags.stderr).toMatch(/--val-fraction must be a number from 0 to below 1/);
  });

  it('reads a trajectory that holds two runs (one --out used twice, before that was refused) as two runs', async () => {
    const both = join(dir, 'two-runs');
    mkdirSync(both);
    const text = (run: string) => readFileSync(join(run, 'trajectory.jsonl'), 'utf8');
    writeFileSync(join(both, 'trajectory.jsonl'), text(runs.first!) + text(runs.second!));
    const separate = await runCli([
      'export',
      '--trajectories',
      runs.first!,
      runs.second!,
      '--format',
      'sft',
      '--out',
      join(dir, 'separate.jsonl'),
    ]);
    expect(separate.code, separate.stderr).toBe(0);
    const r = await runCli(['export', '--trajectories', both, '--format', 'sft', '--out', join(dir, 'two-runs.jsonl')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/note: .*two-runs\/trajectory\.jsonl: holds 2 runs one after another/);
    expect(r.stdout).toMatch(/from 2 runs \(2 passing/);
    expect(r.stdout).toMatch(/; 0 problem\(s\) skipped/);
    expect(
      readRows(join(dir, 'two-runs.jsonl'))
        .map((row) => row.kind)
        .sort(),
    ).toEqual(
      readRows(join(dir, 'separate.jsonl'))
        .map((row) => row.kind)
        .sort(),
    );
  });

  it('drops pairs over the token budget and says how many', async () => {
    const r = await runCli([
      'export',
      '--trajectories',
      join(dir, 'runs'),
      '--format',
      'sft',
      '--max-tokens',
      '64',
      '--out',
      join(dir, 'small.jsonl'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dropped 0 duplicate, 5 over 64 tokens/);
    expect(JSON.parse(readFileSync(join(dir, 'small.card.json'), 'utf8')).dropped.over_budget).toBe(5);
  });

  it('refuses any pair holding a key or a benchmark gold patch', async () => {
    const leaky = join(dir, 'leaky');
    cpSync(join(dir, 'runs', 'first'), leaky, { recursive: true });
    const file = join(leaky, 'trajectory.jsonl');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('return a + b', 'return a + b  # sk-live-abcdefghijklmnopqrstuvwxyz012345'),
    );
    const r = await runCli(['export', '--trajectories', leaky, '--format', 'sft', '--out', join(dir, 'leaky.jsonl')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/1 with a key/);
    expect(readFileSync(join(dir, 'leaky.jsonl'), 'utf8')).toBe('');
    // GitHub, Hugging Face and AWS access key shapes, which no setting names, are refused too.
    // The last one starts a line: in the JSON text a newline escape (\\n) stands right before it.
    const shapes = [
      '# token ghp_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8',
      '# token hf_' + 'aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH',
      '# token AKIA' + 'IOSFODNN7EXAMPLE',
      '\\nASIA' + 'IOSFODNN7EXAMPLE',
    ];
    for (const [i, shape] of shapes.entries()) {
      const copy = join(dir, 'shaped', String(i));
      cpSync(join(dir, 'runs', 'first'), copy, { recursive: true });
      const t = join(copy, 'trajectory.jsonl');
      writeFileSync(t, readFileSync(t, 'utf8').replace('return a + b', `return a + b  ${shape}`));
    }
    const shaped = await runCli([
      'export',
      '--trajectories',
      join(dir, 'shaped'),
      '--format',
      'sft',
      '--out',
      join(dir, 'shaped.jsonl'),
    ]);
    expect(shaped.code, shaped.stderr).toBe(0);
    expect(shaped.stdout).toMatch(/4 with a key/);
    expect(readFileSync(join(dir, 'shaped.jsonl'), 'utf8')).toBe('');
    const dataset = join(dir, 'rows.jsonl');
    const gold = readFileSync(join(runs.first!, 'patch.diff'), 'utf8');
    writeFileSync(
      dataset,
      `${JSON.stringify({
        instance_id: 'acme__calc-1',
        repo: 'acme/calc',
        base_commit: 'abcdef1',
        problem_statement: 'x',
        patch: 'unrelated',
        test_patch: REPRO,
        FAIL_TO_PASS: '[]',
        PASS_TO_PASS: '[]',
        version: '1.0',
        gold,
      })}\n`,
    );
    const g = await runCli([
      'export',
      '--trajectories',
      join(dir, 'runs', 'first'),
      '--dataset',
      dataset,
      '--format',
      'sft',
      '--out',
      join(dir, 'gold.jsonl'),
    ]);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout).toMatch(/1 with gold data/);
  });

  it('the trainers: the dry run trains a tiny Llama where torch, transformers and peft exist, and says what is missing where they do not', () => {
    const probe = python(['-c', 'import torch, transformers, peft']);
    if (probe.status !== 0) {
      // This machine has no torch/transformers/peft and no PyPI: the scripts must say so clearly.
      const sft = python(['training/train_sft.py', join(dir, 'sft.jsonl'), '--dry-run']);
      expect(sft.status).toBe(3);
      expect(sft.stderr).toMatch(/train_sft: needs torch, transformers, peft; not installed here/);
      const dpo = python(['training/train_dpo.py', join(dir, 'dpo.jsonl')]);
      expect(dpo.status).toBe(3);
      expect(dpo.stderr).toMatch(/train_dpo: DPO runs on trl's DPOTrainer, which needs/);
      console.log(
        'skip: trainer dry run: torch, transformers and peft are not installed on this machine (run ' +
          'it where they are: python3 training/train_sft.py FILE --dry-run)',
      );
      return;
    }
    const run = execFileSync(
      'python3',
      ['training/train_sft.py', join(dir, 'sft.jsonl'), '--dry-run', '--out', join(dir, 'dry')],
      { encoding: 'utf8' },
    );
    expect(run).toMatch(/dry run passed: the loss fell/);
  }, 600_000);
});
