import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { finishNode } from '../../agent/nodes/finish.js';
import type { AgentDeps } from '../../agent/deps.js';
import type { AgentStateType, AttemptRecord } from '../../agent/state.js';
import { freePort } from '../../core/local-redis.js';
import { type ScriptedServer, startScriptedOpenAIServer } from '../../core/scripted-openai-server.js';
import { runCli } from '../helpers/cli.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

const REPO = {
  'calc.py': 'def add(a, b):\n    """Return the sum of a and b."""\n    return a - b\n',
  'tests/test_calc.py': 'from calc import add\n\n\ndef test_exists():\n    assert callable(add)\n',
};
const REPRO =
  '```python\n# tests/test_repro_add.py\nfrom calc import add\n\n\ndef test_add_returns_sum():\n    assert add(2, 3) == 5\n```\n';
const KEY = 'sk-test-secret-key-123456';
const chats = (server: ScriptedServer) => server.requests.filter((q) => q.path === '/v1/chat/completions');

describe('model and provider failures end a run in error, with a reason a user can act on', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    removeRepos();
  });

  async function solve(baseURL: string, env: Record<string, string> = {}, extra: string[] = []) {
    const repo = makeRepo(REPO, { git: true });
    const out = join(repo, '..', `${repo.split('/').pop()}-out`);
    const r = await runCli(
      [
        'solve',
        '--repo',
        repo,
        '--issue',
        'add(2, 3) returns -1 instead of 5',
        '--model',
        'scripted',
        '--base-url',
        baseURL,
        '--out',
        out,
        '--test-timeout',
        '60',
        ...extra,
      ],
      {
        OPENAI_API_KEY: KEY,
        FIXWRIGHT_DATA_DIR: join(out, 'data'),
        ...env,
      },
    );
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    return { r, out, result };
  }

  it('a provider that answers 401 ends the run in error with the reason and no fix attempts (exit 3)', async () => {
    server = await startScriptedOpenAIServer({
      replies: [{ status: 401, message: 'Incorrect API key provided' }],
      apiKey: KEY,
    });
    const { r, out, result } = await solve(server.url);
    expect(result).toMatchObject({
      status: 'error',
      stopped_by: 'model_error',
      attempts: [],
      message: expect.stringMatching(/refused the API key \(401\)/),
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/refused the API key \(401\)/);
    expect(chats(server)).toHaveLength(1); // the reproduce step's call; no fix attempt follows
    const events = readFileSync(join(out, 'trajectory.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.at(-1)).toMatchObject({
      type: 'done',
      data: { status: 'error', stopped_by: 'model_error', message: expect.stringMatching(/401/) },
    });
    expect(readFileSync(join(out, 'patch.diff'), 'utf8')).toBe('');
  }, 120_000);

  it('a model server that keeps timing out ends the run in error, not as a failed attempt', async () => {
    server = await startScriptedOpenAIServer({ replies: [REPRO, { delayMs: 4000, reply: 'too late' }], apiKey: KEY });
    const { r, result } = await solve(server.url, { FIXWRIGHT_REQUEST_TIMEOUT: '0.5' }, ['--max-attempts', '1']);
    expect(result).toMatchObject({
      status: 'error',
      stopped_by: 'model_error',
      attempts: [],
      message: expect.stringMatching(/timed out/),
    });
    expect(r.code).toBe(3);
  }, 120_000);

  it('checks the endpoint before any work: a closed port, a wrong key, a malformed --base-url', async () => {
    const port = await freePort();
    const closed = await solve(`http://127.0.0.1:${port}/v1`);
    expect(closed.r.code).toBe(3);
    expect(closed.r.stderr).toMatch(
      new RegExp(`could not reach http://127\\.0\\.0\\.1:${port}/v1: connection refused`),
    );
    expect(closed.result).toMatchObject({ status: 'error', stopped_by: 'model_error', attempts: [] });
    expect(closed.r.stderr).not.toMatch(/localise/); // nothing ran

    server = await startScriptedOpenAIServer({ replies: [REPRO], apiKey: 'sk-the-right-key-000000' });
    const wrongKey = await solve(server.url);
    expect(wrongKey.r.code).toBe(3);
    expect(wrongKey.r.stderr).toMatch(/refused the API key \(401\); check OPENAI_API_KEY/);
    expect(chats(server)).toHaveLength(0);
    expect(server.requests.map((q) => q.path)).toEqual(['/v1/models']);

    const repo = makeRepo(REPO);
    const malformed = await runCli([
      'solve',
      '--repo',
      repo,
      '--issue',
      'x',
      '--model',
      'scripted',
      '--base-url',
      'localhost:8000/v1',
    ]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/--base-url must be an http\(s\) URL/);
  }, 60_000);
});

describe('finish: a run stopped by a model or environment failure', () => {
  const deps = {} as AgentDeps;
  const attempt = (n: number, over: Partial<AttemptRecord> = {}): AttemptRecord => ({
    attempt: n,
    diff: `diff ${n}`,
    tests: [],
    score: n,
    ...over,
  });
  const state = (over: Partial<AgentStateType>) => ({ attempts: [], stoppedBy: undefined, ...over }) as AgentStateType;

  it('is an error, keeping an earlier unproven patch; an earlier proven fix stays resolved', async () => {
    const unproven = attempt(1, { failure: { category: 'repro_still_fails', message: '' } });
    expect(await finishNode(state({ stoppedBy: 'model_error', attempts: [unproven] }), deps)).toMatchObject({
      status: 'error',
      finalPatch: 'diff 1',
      chosenAttempt: 1,
    });
    expect(await finishNode(state({ stoppedBy: 'environment' }), deps)).toMatchObject({
      status: 'error',
      finalPatch: '',
    });
    expect(await finishNode(state({ stoppedBy: 'model_error', attempts: [unproven, attempt(2)] }), deps)).toMatchObject(
      { status: 'resolved', finalPatch: 'diff 2' },
    );
    // Other stops are not errors.
    expect(await finishNode(state({ stoppedBy: 'cost', attempts: [unproven] }), deps)).toMatchObject({
      status: 'unverified',
    });
    expect(await finishNode(state({ stoppedBy: 'no_edits' }), deps)).toMatchObject({ status: 'failed' });
  });
});
