import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ScriptedReply,
  type ScriptedServer,
  startScriptedOpenAIServer,
} from '../../core/scripted-openai-server.js';
import { type CliResult, runCli, spawnCli } from '../helpers/cli.js';
import { makeRepo, removeRepos } from '../helpers/fixture-repo.js';

const REPO = {
  'calc.py': 'def add(a, b):\n    """Return the sum of a and b."""\n    return a - b\n',
  'tests/test_calc.py': 'from calc import add\n\n\ndef test_add_zero():\n    assert add(0, 0) == 0\n',
};
const REPRO =
  '```python\n# tests/test_repro_add.py\nfrom calc import add\n\n\ndef test_add_returns_sum():\n    assert add(2, 3) == 5\n```\n';
const FIX = `${REPRO}\ncalc.py\n\`\`\`python\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n\`\`\`\n`;
const KEY = 'sk-solve-cli-test-0123456789';
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

/** Runs the CLI from a working directory (for `--repo .`). */
function runCliIn(cwd: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const lines = (text: string) => text.trim().split('\n').filter(Boolean);
const taskIds = (file: string) =>
  new Set(lines(readFileSync(file, 'utf8')).map((l) => (JSON.parse(l) as { task_id: string }).task_id));
const statusEvent = (file: string) =>
  lines(readFileSync(file, 'utf8'))
    .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> })
    .find((e) => e.type === 'status')!;

describe('fixwright solve: output folders, repository names and expected errors', () => {
  let server: ScriptedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    removeRepos();
  });

  async function scripted(replies: ScriptedReply[] = [REPRO, FIX]) {
    server = await startScriptedOpenAIServer({ replies, apiKey: KEY });
    return server;
  }

  it('refuses a second run into an --out that already holds one (one run, one trajectory)', async () => {
    const model = await scripted();
    const repo = makeRepo(REPO, { git: true });
    const out = join(repo, '..', `${repo.split('/').pop()}-out`);
    const args = [
      'solve',
      '--repo',
      repo,
      '--issue',
      'add(2, 3) returns -1 instead of 5',
      '--model',
      'scripted',
      '--base-url',
      model.url,
      '--out',
      out,
      '--test-timeout',
      '60',
    ];
    const env = { OPENAI_API_KEY: KEY, FIXWRIGHT_DATA_DIR: join(out, 'data') };
    const first = await runCli(args, env);
    expect(first.code, first.stderr).toBe(0);
    const result = readFileSync(join(out, 'result.json'), 'utf8');
    const chats = () => model.requests.filter((q) => q.path === '/v1/chat/completions').length;
    const before = chats();

    const second = await runCli(args, env);
    expect(second.code).toBe(2);
    expect(lines(second.stderr)).toEqual([
      expect.stringMatching(
        /--out .* already holds a run \(.*trajectory\.jsonl.*\): pass a fresh folder with --out, or remove it/,
      ),
    ]);
    expect(chats()).toBe(before); // refused before any model call (the preflight only lists models)
    expect(taskIds(join(out, 'trajectory.jsonl')).size).toBe(1);
    expect(readFileSync(join(out, 'result.json'), 'utf8')).toBe(result);
  });

  it('records the repository by its origin (owner/name) or its absolute path, never as "."', async () => {
    const model = await scripted();
    const plain = makeRepo(REPO, { git: true });
    const cloned = makeRepo(REPO, { git: true });
    execFileSync('git', ['remote', 'add', 'origin', 'https://user:ghp_secret0123456789@github.com/acme/shop.git'], {
      cwd: cloned,
    });
    for (const [repo, expected] of [
      [plain, plain],
      [cloned, 'acme/shop'],
    ] as const) {
      const out = join(repo, '..', `${repo.split('/').pop()}-out`);
      const r = await runCliIn(
        repo,
        [
          'solve',
          '--repo',
          '.',
          '--issue',
          'add(2, 3) returns -1 instead of 5',
          '--model',
          'scripted',
          '--base-url',
          model.url,
          '--out',
          out,
          '--test-timeout',
          '60',
        ],
        {
          OPENAI_API_KEY: KEY,
          FIXWRIGHT_DATA_DIR: join(out, 'data'),
        },
      );
      expect(r.code, r.stderr).not.toBe(125);
      expect(statusEvent(join(out, 'trajectory.jsonl')).data.repo).toBe(expected);
      expect(readFileSync(join(out, 'trajectory.jsonl'), 'utf8')).not.toContain('ghp_secret');
    }
  });

  it('prints plain lines, no spinner, when stderr is not a terminal', async () => {
    const model = await scripted();
    const repo = makeRepo(REPO, { git: true });
    const out = join(repo, '..', `${repo.split('/').pop()}-out`);
    const r = await runCli(
      [
        'solve',
        '--repo',
        repo,
        '--issue',
        'add(2, 3) returns -1',
        '--model',
        'scripted',
        '--base-url',
        model.url,
        '--out',
        out,
        '--test-timeout',
        '60',
      ],
      { OPENAI_API_KEY: KEY, FIXWRIGHT_DATA_DIR: join(out, 'data') },
    );
    expect(r.code, r.stderr).toBe(0);
    // eslint-disable-next-line no-control-regex -- an ANSI escape (ESC [) in the output is what must not appear
    expect(r.stderr).not.toMatch(/\r|\u001b\[/);
    // Every stderr line is an event line: no "- waiting for …" spinner leftovers.
    for (const line of lines(r.stderr)) expect(line).toMatch(/^\[ *\d+\] /);
    // One candidate per attempt (the default): each attempt is candidate 1 of 1, and no selection line is printed.
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    expect(result.samples).toBe(1);
    expect(result.attempts[0]).toMatchObject({ attempt: 1, candidate: 1, candidates: 1 });
    expect(r.stdout).not.toMatch(/^attempt \d+: /m);
  });

  it('Ctrl-C mid-run ends with one line saying it was cancelled, not an internal error', async () => {
    const model = await scripted([REPRO, { delayMs: 20_000, reply: FIX }]);
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
        model.url,
        '--out',
        out,
      ],
      { OPENAI_API_KEY: KEY, FIXWRIGHT_DATA_DIR: join(out, 'data') },
    );
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((res) => child.on('close', res));
    for (let i = 0; i < 200 && !stderr.includes('generate…'); i++) await new Promise((res) => setTimeout(res, 100));
    const before = stderr.length;
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const after = stderr.slice(before);
    expect(after).not.toMatch(/internal error| {4}at /);
    expect(after).toMatch(/^fixwright: cancelled/m);
    expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'))).toMatchObject({
      status: 'failed',
      stopped_by: 'cancelled',
    });
  });

  it('an --out that cannot be made is one line (under a file, in /proc), and never spins', async () => {
    const repo = makeRepo(REPO, { git: true });
    const file = join(repo, 'calc.py');
    const env = { OPENAI_API_KEY: KEY, FIXWRIGHT_DATA_DIR: join(repo, '..', 'fw-data-out-errors') };
    const model = await scripted();
    for (const out of [join(file, 'out'), '/proc/fixwright-nope/out']) {
      const started = Date.now();
      const r = await runCli(
        [
          'solve',
          '--repo',
          repo,
          '--issue',
          'add is wrong',
          '--model',
          'scripted',
          '--base-url',
          model.url,
          '--out',
          out,
        ],
        env,
      );
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(r.code).toBe(2);
      expect(lines(r.stderr)).toEqual([expect.stringMatching(/^fixwright: --out .*: cannot create the folder/)]);
    }
    expect(model.requests.filter((q) => q.path === '/v1/chat/completions')).toHaveLength(0);
  }, 60_000);

  it('--base-url that is not a URL is refused at once, before any attempt, naming the flag', async () => {
    const repo = makeRepo(REPO, { git: true });
    const out = join(repo, '..', `${repo.split('/').pop()}-out`);
    const started = Date.now();
    const r = await runCli(
      [
        'solve',
        '--repo',
        repo,
        '--issue',
        'add is wrong',
        '--model',
        'scripted',
        '--base-url',
        'not-a-url',
        '--out',
        out,
      ],
      { OPENAI_API_KEY: KEY, FIXWRIGHT_DATA_DIR: join(out, 'data') },
    );
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([
      'fixwright: --base-url must be an http(s) URL such as http://127.0.0.1:8000/v1 (got "not-a-url")',
    ]);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(() => readFileSync(join(out, 'result.json'))).toThrow(); // no run, no attempts
  });
});

describe('remoteName', () => {
  it('names GitHub remotes owner/name in every URL form, other hosts host/path, and drops credentials', async () => {
    const { remoteName } = await import('../../agent/repository-name.js');
    expect(remoteName('git@github.com:acme/shop.git')).toBe('acme/shop');
    expect(remoteName('ssh://git@github.com/acme/shop')).toBe('acme/shop');
    expect(remoteName('https://x-access-token:ghs_abc@github.com/acme/shop.git/')).toBe('acme/shop');
    expect(remoteName('https://gitlab.example.org/group/sub/tool.git')).toBe('gitlab.example.org/group/sub/tool');
    expect(remoteName('/srv/mirrors/shop.git')).toBeUndefined();
    expect(remoteName('file:///srv/mirrors/shop.git')).toBeUndefined();
  });
});
