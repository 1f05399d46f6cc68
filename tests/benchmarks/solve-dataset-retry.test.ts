import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../benchmarks/run/solve-instances.js';
import { freePort } from '../../core/local-redis.js';
import { type ScriptedServer, startScriptedOpenAIServer } from '../../core/scripted-openai-server.js';
import { runCli } from '../helpers/cli.js';
import { FIXTURE_ANSWER, makeSwebenchFixture } from '../helpers/swebench-fixture.js';

// One answer serves both model steps: the reproduce step reads its test, the fix step its edit too.
const ANSWER = FIXTURE_ANSWER;
const KEY = 'sk-bench-test-0123456789abcdef';

describe('fixwright solve-dataset: an instance that ends in error is tried again', () => {
  let dir: string;
  let reposDir: string;
  let dataset: string;
  let model: ScriptedServer | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fw-bench-retry-'));
    ({ reposDir, dataset } = makeSwebenchFixture(dir));
  });
  afterAll(async () => {
    await model?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('retries after a provider error within the run and reports the retry; the retried instance resolves', async () => {
    // The first chat request (the first try's reproduce step) is refused; every later one answers.
    model = await startScriptedOpenAIServer({ replies: [{ status: 401, message: 'key revoked' }, ANSWER] });
    const out = join(dir, 'run');
    const env = { OPENAI_BASE_URL: model.url, OPENAI_API_KEY: KEY, FIXWRIGHT_DATA_DIR: join(dir, 'data') };
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
        out,
      ],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /1 instance\(s\): agent resolved 1, unverified 0, failed 0, errors 0 \(1 instance\(s\) retried after an error\)/,
    );
    const report = JSON.parse(readFileSync(join(out, 'bench-report.json'), 'utf8'));
    expect(report.retried).toBe(1);
    expect(report.instances[0]).toMatchObject({ instance_id: 'acme__calc-gold', status: 'resolved', tries: 2 });
    const predictions = readFileSync(join(out, 'predictions.jsonl'), 'utf8');
    expect(predictions).toContain('+    return a + b');
  }, 240_000);

  it('checks --base-url before any instance runs', async () => {
    const port = await freePort();
    const args = [
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
      join(dir, 'unreachable'),
    ];
    const closed = await runCli([...args, '--base-url', `http://127.0.0.1:${port}/v1`], {
      OPENAI_API_KEY: KEY,
      FIXWRIGHT_DATA_DIR: join(dir, 'data'),
    });
    expect(closed.code).not.toBe(0);
    expect(closed.stderr).toMatch(new RegExp(`could not reach http://127\\.0\\.0\\.1:${port}/v1: connection refused`));
    const malformed = await runCli([...args, '--base-url', 'not a url'], { FIXWRIGHT_DATA_DIR: join(dir, 'data') });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/--base-url must be an http\(s\) URL/);
  }, 60_000);

  it('backs off 2 s, 4 s, … between tries, at most a minute', () => {
    expect([1, 2, 3].map((n) => retryDelayMs(n))).toEqual([2000, 4000, 8000]);
    expect(retryDelayMs(10)).toBe(60_000);
  });
});
