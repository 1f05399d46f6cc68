import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { afterApply, afterReflect, afterTest } from '../../agent/routers.js';
import type { AgentStateType } from '../../agent/state.js';
import {
  type ScriptedReply,
  type ScriptedServer,
  startScriptedOpenAIServer,
} from '../../core/scripted-openai-server.js';
import { containersOf, runCli, spawnCli } from '../helpers/cli.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';
import { solveWithScriptedModel } from '../helpers/solve-run.js';

const REPO = {
  'calc.py':
    'def add(a, b):\n    """Return the sum of a and b."""\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n',
  'tests/test_calc.py': 'from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n',
};
const REPRO =
  '```python\n# tests/test_repro_add.py\nfrom calc import add\n\n\ndef test_add_returns_sum():\n    assert add(2, 3) == 5\n```\n';
const fix = (replacement: string) =>
  `${REPRO}\ncalc.py\n\`\`\`python\n<<<<<<< SEARCH\n    return a - b\n=======\n    return ${replacement}\n>>>>>>> REPLACE\n\`\`\`\n`;
const KEY = 'sk-test-secret-key-123456';

describe('fixwright solve (scripted model over HTTP, real sandbox)', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    removeRepos();
  });

  async function solve(replies: ScriptedReply[], extra: string[] = [], env: Record<string, string> = {}) {
    server = await startScriptedOpenAIServer({ replies, apiKey: KEY });
    return solveWithScriptedModel(server, REPO, KEY, extra, env);
  }

  it('fixes the bug on the first attempt, writes patch, trajectory and result, and leaks no key', async () => {
    const { r, out, result, events, patch } = await solve([REPRO, fix('a + b')]);
    const first = server!.requests.filter((q) => q.path === '/v1/chat/completions')[0]!.body as {
      messages: Array<{ content: string }>;
    };
    expect(first.messages.at(-1)!.content).toMatch(/Write only the reproduction test now/);
    expect(r.code).toBe(0);
    expect(result).toMatchObject({ status: 'resolved', attempts: [{ attempt: 1, failure: null }] });
    expect(result.localised_files[0].path).toBe('calc.py');
    // snake_case on disk, in result.json and the log alike, as in the API.
    expect(Object.keys(result.localised_files[0]).sort()).toEqual(['in_set', 'path', 'score']);
    expect(
      Object.keys(events.find((e: { type: string }) => e.type === 'localised_files').data.files[0]).sort(),
    ).toEqual(['in_set', 'path', 'score']);
    // The log's last event says how each attempt ended, as result.json does.
    expect(events.at(-1).data.attempt_results).toEqual([
      { attempt: 1, candidate: 1, candidates: 1, failure: null, message: null, score: result.attempts[0].score },
    ]);
    expect(result.tokens.input).toBeGreaterThan(0);
    expect(patch).toContain('+    return a + b');
    expect(patch).not.toContain('test_repro_add'); // the agent's own test is not part of the patch
    expect(events.map((e: { seq: number }) => e.seq)).toEqual(events.map((_: unknown, i: number) => i + 1));
    expect(new Set(events.map((e: { type: string }) => e.type))).toEqual(
      new Set([
        'status',
        'node_start',
        'node_end',
        'localised_files',
        'context',
        'model_call',
        'log',
        'patch',
        'apply_result',
        'test_result',
        'done',
      ]),
    );
    const test = events.find((e: { type: string }) => e.type === 'test_result').data;
    expect(test.before.outcomes['tests/test_repro_add.py::test_add_returns_sum'].status).toBe('FAILED');
    expect(test.after.outcomes['tests/test_repro_add.py::test_add_returns_sum'].status).toBe('PASSED');
    expect(test.existing).toEqual(['tests/test_calc.py']);
    // Where the time went: each node_end splits its wall time into model calls, the repository's
    // tests and fixwright's own time, which add up to it; the done event sums the run.
    type Timing = { wall_ms: number; model_ms: number; test_ms: number; own_ms: number };
    const ends = events
      .filter((e: { type: string }) => e.type === 'node_end')
      .map((e: { data: { node: string; duration_ms: number; timing: Timing } }) => e.data);
    for (const end of ends) {
      expect(end.timing.wall_ms).toBe(end.duration_ms);
      expect(end.timing.model_ms + end.timing.test_ms + end.timing.own_ms).toBe(end.timing.wall_ms);
      expect(Math.min(end.timing.model_ms, end.timing.test_ms, end.timing.own_ms)).toBeGreaterThanOrEqual(0);
    }
    const nodeTiming = (node: string) => ends.find((e: { node: string }) => e.node === node)!.timing;
    expect(nodeTiming('localise')).toMatchObject({ model_ms: 0, test_ms: 0 });
    expect(nodeTiming('generate').model_ms).toBeGreaterThan(0);
    expect(nodeTiming('test')).toMatchObject({ model_ms: 0, test_ms: expect.any(Number) });
    expect(nodeTiming('test').test_ms).toBeGreaterThan(0);
    expect(nodeTiming('baseline').test_ms).toBeGreaterThan(0);
    const total = events.at(-1).data.timing;
    // result.json keeps the same account.
    expect(result.timing).toEqual(total);
    expect(total.model_ms).toBe(ends.reduce((s: number, e: { timing: Timing }) => s + e.timing.model_ms, 0));
    expect(total.own_ms).toBeGreaterThanOrEqual(
      ends.reduce((s: number, e: { timing: Timing }) => s + e.timing.own_ms, 0),
    );
    expect(total.attempts).toMatchObject({ count: 1, own_ms_per_attempt: total.attempts.own_ms });
    expect(total.nodes.test).toEqual({ ...nodeTiming('test'), runs: 1 });
    expect(total.one_off.own_ms + total.attempts.own_ms).toBeLessThanOrEqual(total.own_ms);
    for (const file of readdirSync(out))
      if (!file.startsWith('data')) expect(readFileSync(join(out, file), 'utf8')).not.toContain(KEY);
  });

  it('reflects on a wrong first edit and fixes it on the second attempt', async () => {
    const { r, result, events } = await solve([REPRO, fix('a * b'), fix('a + b')]);
    expect(r.code).toBe(0);
    expect(result.status).toBe('resolved');
    expect(result.attempts.map((a: { failure: string | null }) => a.failure)).toEqual(['repro_still_fails', null]);
    expect(events.find((e: { type: string }) => e.type === 'reflection').data.category).toBe('repro_still_fails');
    // Requests: the reproduce step, attempt 1, attempt 2.
    const second = server!.requests.filter((q) => q.path === '/v1/chat/completions')[2]!.body as {
      messages: Array<{ content: string }>;
      temperature: number;
    };
    expect(second.messages.at(-1)!.content).toMatch(/Your previous attempt failed \(repro_still_fails\)/);
    expect(second.temperature).toBe(0.4);
  });

  it('returns the best attempt as unverified after three failures, never as a success', async () => {
    const { r, result, patch } = await solve([REPRO, fix('a * b'), fix('b - a'), fix('a - b - 0')]);
    expect(r.code).toBe(1);
    expect(result.status).toBe('unverified');
    expect(result.attempts).toHaveLength(3);
    expect(patch).toMatch(/^\+ {4}return /m);
  });

  it('fails cleanly on malformed output, after retrying a 500', async () => {
    const { r, result, patch, events } = await solve(
      [{ status: 500 }, 'I think the bug is somewhere in calc.py.'],
      ['--max-attempts', '2'],
    );
    expect(r.code).toBe(1);
    // The reproduce step's call succeeded on the client's retry after the 500.
    expect(
      events.filter(
        (e: { type: string; data: { step?: string; error?: string } }) =>
          e.type === 'model_call' && e.data.step === 'reproduce' && !e.data.error,
      ),
    ).toHaveLength(1);
    expect(result.status).toBe('failed');
    expect(result.attempts.map((a: { failure: string }) => a.failure)).toEqual([
      'malformed_output',
      'malformed_output',
    ]);
    // No candidate produced a change: none won.
    expect(result.attempts.map((a: { candidate: number | null }) => a.candidate)).toEqual([null, null]);
    expect(patch).toBe('');
  });

  const weak =
    '```python\n# tests/test_repro_add.py\nfrom calc import add\n\n\ndef test_add_exists():\n    assert callable(add)\n```\n';
  it('rewrites a reproduction test that does not fail before the fix', async () => {
    const { r, result, events } = await solve([weak, fix('a + b').replace(REPRO, ''), REPRO, fix('a + b')]);
    expect(result.attempts.map((a: { failure: string | null }) => a.failure)).toEqual(['repro_did_not_fail', null]);
    expect(
      events.filter(
        (e: { type: string; data: { node?: string } }) => e.type === 'node_start' && e.data.node === 'reproduce',
      ),
    ).toHaveLength(2);
    expect(r.code).toBe(0);
  });

  it("judges with the fix answer's own reproduction test too: a weak first test does not sink a fix another test proves", async () => {
    const { r, result, events } = await solve([weak, fix('a + b')]);
    expect(r.code).toBe(0);
    expect(result.attempts.map((a: { failure: string | null }) => a.failure)).toEqual([null]);
    const select = events.find(
      (e: { type: string; data: { step?: string } }) => e.type === 'log' && e.data.step === 'select',
    ).data;
    // Both tests are named tests/test_repro_add.py: the second is renamed beside the first.
    expect(select.judges).toEqual([
      {
        path: 'tests/test_repro_add.py',
        source: 'reproduce',
        valid: false,
        why: 'passes without any patch, so it shows no bug',
      },
      { path: 'tests/test_repro_add_2.py', source: 'candidate 1', valid: true },
    ]);
    expect(select.candidates).toMatchObject([{ candidate: 1, tests_passed: 1, tests_valid: 1, failure: null }]);
  });

  it('stops on SIGINT mid-run, leaving no sandbox behind', async () => {
    server = await startScriptedOpenAIServer({
      replies: [REPRO, { delayMs: 20_000, reply: fix('a + b') }],
      apiKey: KEY,
    });
    const repo = makeRepo(REPO, { git: true });
    const out = join(repo, '..', `${repo.split('/').pop()}-out`);
    const child = spawnCli(
      [
        'solve',
        '--repo',
        repo,
        '--issue',
        'add is wrong',
        '--model',
        'scripted',
        '--base-url',
        server.url,
        '--out',
        out,
      ],
      { OPENAI_API_KEY: KEY, FIXWRIGHT_DATA_DIR: join(out, 'data') },
    );
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((res) => child.on('close', res));
    for (let i = 0; i < 200 && !stderr.includes('generate…'); i++) await new Promise((res) => setTimeout(res, 100));
    expect(stderr).toContain('generate…');
    const started = Date.now();
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await containersOf(child.pid!)).toEqual([]);
    expect(readFileSync(join(out, 'trajectory.jsonl'), 'utf8')).toContain('"node":"generate"');
    expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'))).toMatchObject({
      status: 'failed',
      stopped_by: 'cancelled',
    });
  });

  it('ends in error (stopped_by model_error, exit 3) when the model server keeps timing out', async () => {
    const { r, result, events } = await solve(
      [REPRO, { delayMs: 4000, reply: fix('a + b') }],
      ['--max-attempts', '1'],
      { FIXWRIGHT_REQUEST_TIMEOUT: '0.5' },
    );
    expect(result).toMatchObject({
      status: 'error',
      stopped_by: 'model_error',
      attempts: [],
      message: expect.stringMatching(/timed out/),
    });
    expect(
      events.some(
        (e: { type: string; data: { error?: string } }) =>
          e.type === 'model_call' && /timed? ?out/i.test(e.data.error ?? ''),
      ),
    ).toBe(true);
    expect(r.code).toBe(3);
  });

  it('takes NO_EDITS as an answer: the run ends at once, with no patch', async () => {
    const { r, result, patch } = await solve([REPRO, 'Nothing to change here.\n```\nNO_EDITS\n```']);
    expect(result).toMatchObject({ status: 'failed', stopped_by: 'no_edits', attempts: [] });
    expect(server!.requests.filter((q) => q.path === '/v1/chat/completions')).toHaveLength(2);
    expect(patch).toBe('');
    expect(r.code).toBe(1);
  });

  it('stops at the cost cap with a typed reason', async () => {
    server = await startScriptedOpenAIServer({ replies: [REPRO, fix('a + b')], apiKey: KEY });
    const repo = makeRepo(REPO, { git: true });
    const out = join(repo, '..', `${repo.split('/').pop()}-out`);
    const r = await runCli(
      [
        'solve',
        '--repo',
        repo,
        '--issue',
        'add is wrong',
        '--model',
        'gpt-4o-mini',
        '--base-url',
        server.url,
        '--out',
        out,
        '--max-cost',
        '0',
      ],
      {
        OPENAI_API_KEY: KEY,
        FIXWRIGHT_DATA_DIR: join(out, 'data'),
      },
    );
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    // A cap of 0 spends nothing: no paid call starts.
    expect(result).toMatchObject({ status: 'failed', stopped_by: 'cost', attempts: [], cost_usd: 0 });
    expect(server!.requests.filter((q) => q.path === '/v1/chat/completions')).toHaveLength(0);
    expect(r.code).toBe(1);
    const bad = await runCli(['solve', '--repo', repo, '--issue', 'x', '--model', 'm', '--provider', 'magic']);
    expect(bad.stderr).toMatch(/--provider must be openai, deepseek or compatible/);
    const noKey = await runCli(['solve', '--repo', repo, '--issue', 'x', '--model', 'gpt-4o', '--provider', 'openai'], {
      OPENAI_API_KEY: '',
    });
    expect(noKey.stderr).toMatch(/the openai provider needs an API key/);
  });

  it('reads a GitHub issue URL through the REST API (a local stand-in here) and refuses other URLs', async () => {
    const { createServer } = await import('node:http');
    const github = createServer((req, res) => {
      const found = req.url === '/repos/acme/shop/issues/7' && req.headers['user-agent'] === 'fixwright';
      res.writeHead(found ? 200 : 404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          found ? { title: 'add() subtracts', body: 'add(2, 3) returns -1 instead of 5' } : { message: 'Not Found' },
        ),
      );
    });
    await new Promise<void>((res) => github.listen(0, '127.0.0.1', res));
    const api = `http://127.0.0.1:${(github.address() as { port: number }).port}`;
    try {
      server = await startScriptedOpenAIServer({ replies: [REPRO, fix('a + b')], apiKey: KEY });
      const repo = makeRepo(REPO, { git: true });
      const out = join(repo, '..', `${repo.split('/').pop()}-out`);
      const env = { OPENAI_API_KEY: KEY, FIXWRIGHT_DATA_DIR: join(out, 'data'), FIXWRIGHT_GITHUB_API: api };
      const r = await runCli(
        [
          'solve',
          '--repo',
          repo,
          '--issue',
          'https://github.com/acme/shop/issues/7',
          '--model',
          'scripted',
          '--base-url',
          server.url,
          '--out',
          out,
        ],
        env,
      );
      expect(r.code).toBe(0);
      const first = server.requests.find((q) => q.path === '/v1/chat/completions')!.body as {
        messages: Array<{ content: string }>;
      };
      expect(first.messages.at(-1)!.content).toContain('add() subtracts\n\nadd(2, 3) returns -1 instead of 5');
      const missing = await runCli(
        [
          'solve',
          '--repo',
          repo,
          '--issue',
          'https://github.com/acme/shop/issues/8',
          '--model',
          'scripted',
          '--base-url',
          server.url,
          '--out',
          out,
        ],
        env,
      );
      expect(missing.stderr).toMatch(/issue acme\/shop#8 not found/);
      const other = await runCli(
        [
          'solve',
          '--repo',
          repo,
          '--issue',
          'https://example.com/issues/1',
          '--model',
          'scripted',
          '--base-url',
          server.url,
        ],
        env,
      );
      expect(other.stderr).toMatch(/not a GitHub issue URL/);
      const otherRepo = await runCli(
        ['solve', '--repo', 'file:///etc', '--issue', 'x', '--model', 'scripted', '--base-url', server.url],
        env,
      );
      expect(otherRepo.stderr).toMatch(/only https:\/\/github\.com\/OWNER\/NAME repository URLs can be cloned/);
    } finally {
      github.close();
    }
  });

  it('without a model, localises and names the settings to set', async () => {
    const repo = makeRepo(REPO);
    const r = await runCli(['solve', '--repo', repo, '--issue', 'add returns the wrong sum'], {
      FIXWRIGHT_MODEL: '',
      FIXWRIGHT_DATA_DIR: join(repo, '.data'),
    });
    expect(r.stdout).toMatch(/calc\.py/);
    expect(r.stderr).toMatch(/no model configured: set FIXWRIGHT_MODEL/);
    expect(r.code).toBe(2);
  });
});

describe('routers', () => {
  it('after reflect, rewrite a test that did not reproduce the issue, else fix again', () => {
    const failed = (category: 'repro_did_not_fail' | 'regression') => ({
      attempt: 1,
      tests: [],
      failure: { category, message: '' },
      score: 0,
    });
    expect(afterReflect({ attempt: 1, attempts: [failed('repro_did_not_fail')] } as unknown as AgentStateType)).toBe(
      'reproduce',
    );
    expect(afterReflect({ attempt: 1, attempts: [failed('regression')] } as unknown as AgentStateType)).toBe(
      'generate',
    );
  });

  const state = (over: Partial<AgentStateType>) => ({ attempt: 1, attempts: [], ...over }) as AgentStateType;
  it('send a clean diff to test, a failure to reflect while attempts remain, else finish', () => {
    expect(afterApply(state({ current: { attempt: 1, diff: 'd', tests: [], score: 0 } }), 3)).toBe('test');
    expect(
      afterApply(
        state({
          current: { attempt: 1, tests: [], failure: { category: 'search_not_found', message: '' }, score: -1 },
        }),
        3,
      ),
    ).toBe('reflect');
    expect(
      afterApply(
        state({
          attempt: 3,
          current: { attempt: 3, tests: [], failure: { category: 'search_not_found', message: '' }, score: -1 },
        }),
        3,
      ),
    ).toBe('finish');
  });
  it('finish on success or when attempts are spent', () => {
    expect(afterTest(state({ attempts: [{ attempt: 1, diff: 'd', tests: [], score: 5 }] }), 3)).toBe('finish');
    expect(
      afterTest(
        state({
          attempts: [{ attempt: 1, diff: 'd', tests: [], failure: { category: 'regression', message: '' }, score: 1 }],
        }),
        3,
      ),
    ).toBe('reflect');
    expect(
      afterTest(
        state({
          attempt: 3,
          attempts: [{ attempt: 3, diff: 'd', tests: [], failure: { category: 'regression', message: '' }, score: 1 }],
        }),
        3,
      ),
    ).toBe('finish');
  });
});
