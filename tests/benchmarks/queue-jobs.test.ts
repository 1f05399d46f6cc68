import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { environmentFor, loadEnvironmentTable } from '../../benchmarks/eval/environments.js';
import {
  benchJobSchema,
  evalJobSchema,
  jobId,
  packText,
  queueRunId,
  tableFor,
  unpackText,
  type BenchJob,
} from '../../benchmarks/queue/jobs.js';
import { goldFigures } from '../../benchmarks/run/solve-instances.js';
import { queueFlag } from '../../cli/queue-flag.js';
import { loadSettings, redisURLForDisplay } from '../../core/config.js';
import type { FixwrightError } from '../../core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'fw-queue-jobs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const job = (over: Partial<BenchJob> = {}): BenchJob => ({
  run_id: 'run-1',
  fixwright: '1.0.0',
  row: {
    instance_id: 'acme__calc-1',
    repo: 'acme/calc',
    base_commit: 'abc1234',
    problem_statement: 'add subtracts',
    version: '1.0',
  },
  solve: { model: 'm', maxAttempts: 3, samples: 1, testTimeoutSeconds: 300, temperatures: [0] },
  table: null,
  variant: null,
  error_retries: 2,
  retry_backoff_ms: 2000,
  ...over,
});

describe('instance jobs', () => {
  it('a job id is stable for the same inputs and changes with any of them, and never holds a colon (BullMQ refuses those)', () => {
    expect(jobId('bench', job())).toBe(jobId('bench', job()));
    expect(jobId('bench', job())).toMatch(/^bench-[0-9a-f]{40}$/);
    expect(jobId('bench', job({ run_id: 'run-2' }))).not.toBe(jobId('bench', job()));
    expect(jobId('bench', job({ solve: { ...job().solve, samples: 4 } }))).not.toBe(jobId('bench', job()));
    expect(jobId('bench', job({ row: { ...job().row, problem_statement: 'other' } }))).not.toBe(jobId('bench', job()));
    // Another fixwright version is another job: results depend on it.
    expect(jobId('bench', job({ fixwright: '1.0.1' }))).not.toBe(jobId('bench', job()));
  });

  it('a bench job refuses the gold fields and a repository name that leaves the repositories folder', () => {
    const withGold = benchJobSchema.safeParse({ ...job(), row: { ...job().row, patch: 'diff', FAIL_TO_PASS: '[]' } });
    // Unknown fields are dropped, so nothing of the gold patch reaches the agent's row.
    expect(withGold.success && Object.keys(withGold.data.row).sort()).toEqual([
      'base_commit',
      'instance_id',
      'problem_statement',
      'repo',
      'version',
    ]);
    expect(benchJobSchema.safeParse({ ...job(), row: { ...job().row, repo: '../etc' } }).success).toBe(false);
    expect(benchJobSchema.safeParse({ ...job(), row: { ...job().row, repo: 'a/..' } }).success).toBe(false);
  });

  it('an eval job carries only a timeout and a grading rule name as its settings, and a version', () => {
    const evalJob = {
      run_id: 'r',
      fixwright: '1.0.0',
      row: {},
      prediction: { instance_id: 'a', model_name_or_path: 'm', model_patch: '' },
      table: { default: {}, repos: {} },
      settings: { timeoutSeconds: 60, grading: 'swebench-5' },
    };
    expect(evalJobSchema.safeParse(evalJob).success).toBe(true);
    expect(evalJobSchema.safeParse({ ...evalJob, settings: { ...evalJob.settings, reposDir: '/etc' } }).success).toBe(
      false,
    );
    expect(evalJobSchema.safeParse({ ...evalJob, settings: { ...evalJob.settings, grading: 'lenient' } }).success).toBe(
      false,
    );
    expect(evalJobSchema.safeParse({ ...evalJob, fixwright: undefined }).success).toBe(false);
  });

  it('a malformed Redis URL is one clear line (--queue and REDIS_URL), not a stack from ioredis', () => {
    const bad = (url: string) => {
      try {
        queueFlag(url, undefined, () => undefined);
      } catch (err) {
        return `${(err as FixwrightError).code}: ${(err as Error).message}`;
      }
      return 'accepted';
    };
    expect(bad('redis://127.0.0.1:notaport')).toMatch(
      /^FW_ERR_BAD_INPUT: --queue redis:\/\/127.0.0.1:notaport: not a Redis URL .*not a URL/,
    );
    expect(bad('redis://127.0.0.1:70000')).toMatch(/FW_ERR_BAD_INPUT: .*not a URL .*port 1 to 65535/);
    expect(bad('redis://127.0.0.1:6379/x')).toMatch(/\/x is not a database number/);
    expect(bad('http://127.0.0.1:6379')).toMatch(/not a Redis URL/);
    expect(bad('redis://:secret@127.0.0.1:6379/1')).toBe('accepted');
    // A password in a queue URL (REDIS_PASSWORD in compose) is never printed.
    expect(bad('redis://:secret@127.0.0.1:notaport')).not.toContain('secret');
    expect(redisURLForDisplay('redis://:secret@h:6379/1')).toBe('redis://:***@h:6379/1');
    expect(redisURLForDisplay('redis://h:6379')).toBe('redis://h:6379');
    expect(() => loadSettings({ REDIS_URL: 'redis://:secret@127.0.0.1:notaport' })).toThrow(/^(?![\s\S]*secret)/);
    expect(() => loadSettings({ REDIS_URL: 'redis://127.0.0.1:notaport' })).toThrow(
      /REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL .*\(not a URL/,
    );
    expect(loadSettings({ REDIS_URL: 'redis://h:6379/2' }).service.redisURL).toBe('redis://h:6379/2');
    expect(() => loadSettings({ FIXWRIGHT_WORKER_BASE_URLS: 'http://a:1/v1,ftp://b' })).toThrow(
      /FIXWRIGHT_WORKER_BASE_URLS: must be http\(s\) URLs/,
    );
    expect(loadSettings({ FIXWRIGHT_WORKER_BASE_URLS: 'http://a:1/v1, https://b/v1' }).service.workerBaseURLs).toEqual([
      'http://a:1/v1',
      'https://b/v1',
    ]);
  });

  it("the run directory's queue id is made once and kept", () => {
    const out = join(dir, 'run');
    const first = queueRunId(out);
    expect(queueRunId(out)).toBe(first);
    expect(JSON.parse(readFileSync(join(out, 'queue-run.json'), 'utf8')).run_id).toBe(first);
    expect(queueRunId(join(dir, 'other'))).not.toBe(first);
  });

  it('the table cut to one row resolves that row as the whole table does', () => {
    const table = loadEnvironmentTable();
    for (const [repo, version] of [
      ['pallets/flask', '2.3'],
      ['pytest-dev/pytest', '5.4'],
      ['pytest-dev/pytest', '99.9'],
      ['nobody/unknown', '1.0'],
      ['django/django', undefined],
    ] as const) {
      expect(environmentFor(tableFor(table, repo, version), repo, version), `${repo}@${version}`).toEqual(
        environmentFor(table, repo, version),
      );
    }
    expect(Object.keys(tableFor(table, 'pallets/flask', '2.3').repos)).toEqual(['pallets/flask']);
  });

  it('texts travel gzipped and come back byte for byte', () => {
    const text = `${'événement\n'.repeat(10_000)}\u0000end`;
    expect(unpackText(packText(text))).toBe(text);
    expect(packText(text).length).toBeLessThan(text.length / 10);
  });

  it('gold figures come from the localised files and the gold patch', () => {
    const patch = 'diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-a\n+b\n';
    expect(
      goldFigures(
        [
          { path: 'x.py', inSet: true },
          { path: 'calc.py', inSet: false },
        ],
        patch,
      ),
    ).toEqual({ gold_rank: 2, gold_in_set: false, set_size: 1 });
    expect(goldFigures([{ path: 'calc.py', inSet: true }], '')).toEqual({
      gold_rank: null,
      gold_in_set: false,
      set_size: 1,
    });
  });
});
