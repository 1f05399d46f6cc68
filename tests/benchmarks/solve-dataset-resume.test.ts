import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScriptedServer, startScriptedOpenAIServer } from '../../core/scripted-openai-server.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { FIXTURE_ANSWER, makeSwebenchFixture } from '../helpers/swebench-fixture.js';

const ANSWER = FIXTURE_ANSWER;

describe('fixwright solve-dataset: resuming and its output folder', () => {
  let dir: string;
  let reposDir: string;
  let dataset: string;
  let model: ScriptedServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fw-bench-resume-'));
    ({ reposDir, dataset } = makeSwebenchFixture(dir));
    model = await startScriptedOpenAIServer({ replies: [ANSWER] });
  });
  afterAll(async () => {
    await model.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a rerun says how many finished instances it skips; plain output, no bar, off a terminal', async () => {
    const out = join(dir, 'run');
    const env = {
      OPENAI_BASE_URL: model.url,
      OPENAI_API_KEY: 'sk-bench-resume-0123456789abcdef',
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
      '--error-retries',
      '0',
      '--out',
      out,
    ];
    const first = await runCli(args, env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).not.toMatch(/skipping/);
    const again = await runCli(args, env);
    expect(again.code, again.stderr).toBe(0);
    // The resolved instance is kept; the one that ended in error runs again.
    expect(again.stderr).toContain(`fixwright: resuming ${out}: skipping 1 finished instance(s) of 2; 1 to run\n`);
    // eslint-disable-next-line no-control-regex -- an ANSI escape (ESC [) in the output is what must not appear
    expect(again.stderr).not.toMatch(/\r|\u001b\[/);
    // Drawn with one sample, the kept result does not stand for --samples 2: it runs again, and says so.
    const sampled = await runCli([...args, '--samples', '2'], env);
    expect(sampled.code, sampled.stderr).toBe(0);
    expect(sampled.stderr).not.toMatch(/skipping/);
    expect(sampled.stderr).toContain(
      `fixwright: rerunning 1 finished instance(s) ` +
        `of ${out} drawn with other settings (samples 1, no max-cost, max-attempts 3; now samples 2, no max-cost, max-attempts 3)\n`,
    );
    const report = JSON.parse(readFileSync(join(out, 'bench-report.json'), 'utf8'));
    expect(report.instances.find((i: { instance_id: string }) => i.instance_id === 'acme__calc-gold')).toMatchObject({
      settings: { samples: 2, max_cost_usd: null, max_attempts: 3 },
      candidates_drawn: [2],
    });
  }, 360_000);

  it('Ctrl-C says in one line that it was cancelled and how to resume, not an internal error', async () => {
    const slow = await startScriptedOpenAIServer({ replies: [{ delayMs: 30_000, reply: ANSWER }] });
    try {
      const out = join(dir, 'interrupted');
      const child = spawnCli(
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
          '--out',
          out,
        ],
        { OPENAI_BASE_URL: slow.url, OPENAI_API_KEY: 'sk-x', FIXWRIGHT_DATA_DIR: join(dir, 'data') },
      );
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((res) => child.on('close', res));
      for (let i = 0; i < 300 && !slow.requests.some((q) => q.path === '/v1/chat/completions'); i++)
        await new Promise((res) => setTimeout(res, 100));
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(stderr).not.toMatch(/internal error| {4}at /);
      expect(stderr).toMatch(
        /^fixwright: cancelled; finished instances are kept in .*interrupted: rerun the same command to resume\n/m,
      );
    } finally {
      await slow.close();
    }
  }, 120_000);

  it('an --out under a file is one line, not a stack', async () => {
    writeFileSync(join(dir, 'afile'), '');
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
        '--out',
        join(dir, 'afile', 'run'),
      ],
      { OPENAI_BASE_URL: model.url, OPENAI_API_KEY: 'sk-x', FIXWRIGHT_DATA_DIR: join(dir, 'data') },
    );
    expect(r.code).toBe(2);
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.includes('skipped')),
    ).toEqual([
      expect.stringMatching(
        /^fixwright: --out .*afile\/run: cannot create the folder \(.*afile is a file, not a folder\)/,
      ),
    ]);
  });
});
