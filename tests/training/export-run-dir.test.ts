import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptedServer, startScriptedOpenAIServer } from '../../core/scripted-openai-server.js';
import { runCli } from '../helpers/cli.js';
import { FIXTURE_ANSWER, makeSwebenchFixture } from '../helpers/swebench-fixture.js';

const ANSWER = FIXTURE_ANSWER;

describe('fixwright export --trajectories on a whole bench run folder', () => {
  let dir: string;
  let run: string;
  let model: ScriptedServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fw-export-run-'));
    const { reposDir, dataset } = makeSwebenchFixture(dir);
    model = await startScriptedOpenAIServer({ replies: [ANSWER] });
    run = join(dir, 'run');
    const r = await runCli(
      [
        'bench',
        '--dataset',
        dataset,
        '--repos',
        reposDir,
        '--instances',
        'acme__calc-gold',
        '--model',
        'scripted',
        '--out',
        run,
      ],
      {
        OPENAI_BASE_URL: model.url,
        OPENAI_API_KEY: 'sk-export-run-0123456789abcdef',
        FIXWRIGHT_DATA_DIR: join(dir, 'data'),
      },
    );
    expect(r.code, r.stderr).toBe(0);
  }, 240_000);
  afterAll(async () => {
    await model.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the trajectories and passes over predictions.jsonl (and other JSONL that is not a trajectory) quietly', async () => {
    writeFileSync(join(run, 'notes.jsonl'), '{"note":"mine"}\n');
    const out = join(dir, 'sft.jsonl');
    const r = await runCli(['export', '--trajectories', run, '--format', 'sft', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const card = JSON.parse(readFileSync(join(dir, 'sft.card.json'), 'utf8'));
    expect(card).toMatchObject({
      runs: 1,
      runs_passing: 1,
      files_read: 1,
      problems: 0,
      per_repo: { 'acme/calc': expect.anything() },
    });
  });

  it('a file named on the command line is read whatever it holds, so a wrong one is reported', async () => {
    const r = await runCli([
      'export',
      '--trajectories',
      join(run, 'predictions.jsonl'),
      join(run, 'trajectories'),
      '--format',
      'sft',
      '--out',
      join(dir, 'named.jsonl'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/predictions\.jsonl:1: not an event/);
  });
});
