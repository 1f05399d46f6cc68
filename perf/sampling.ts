/**
 * `node dist/perf/sampling.js N`: one `fixwright solve --samples N` on a small repository, with a
 * scripted model that answers at once (so what is timed is fixwright's own work: prompts, parsing,
 * grouping, one sandbox per distinct candidate, selection). Each candidate writes a different
 * correct fix, so none is grouped away: N candidates mean N sandbox runs. Time it with farm-bench,
 * N against 1: (time(N) - time(1)) / (N - 1) is the overhead of one candidate.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startScriptedOpenAIServer } from '../core/index.js';

const samples = Number(process.argv[2] ?? '1');
if (!Number.isInteger(samples) || samples < 1 || samples > 8) {
  console.error('usage: node dist/perf/sampling.js N   (N: candidates per attempt, 1 to 8)');
  process.exit(2);
}
const REPRO =
  '```python\n# tests/test_repro_add.py\nfrom calc import add\n\n\ndef test_add_returns_sum():\n    assert add(2, 3) == 5\n```\n';
const FIXES = ['a + b', 'b + a', 'sum((a, b))', 'a - (-b)', '(a) + (b)', 'b - (-a)', 'sum([a, b])', 'a.__add__(b)'];
const fix = (expr: string) =>
  `${REPRO}\ncalc.py\n\`\`\`python\n<<<<<<< SEARCH\n    return a - b\n=======\n    return ${expr}\n>>>>>>> REPLACE\n\`\`\`\n`;

function run(
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv },
): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fw-bench-sampling-'));
  const repo = join(dir, 'repo');
  mkdirSync(join(repo, 'tests'), { recursive: true });
  writeFileSync(join(repo, 'calc.py'), 'def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n');
  writeFileSync(
    join(repo, 'tests', 'test_calc.py'),
    'from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n',
  );
  for (const args of [
    ['init', '-q'],
    ['add', '-A'],
    ['-c', 'user.email=b@b', '-c', 'user.name=b', 'commit', '-qm', 'init'],
  ])
    spawnSync('git', args, { cwd: repo });
  let drawn = 0;
  const server = await startScriptedOpenAIServer({
    respond: (q) =>
      JSON.stringify(q.messages ?? []).includes('Write only the reproduction test now')
        ? REPRO
        : fix(FIXES[drawn++ % FIXES.length]!),
  });
  try {
    const out = join(dir, 'out');
    const started = Date.now();
    // Not spawnSync: the scripted server answers from this process's event loop.
    const r = await run(
      process.execPath,
      [
        join(import.meta.dirname, '..', 'cli', 'main.js'),
        'solve',
        '--repo',
        repo,
        '--issue',
        'add(2, 3) returns -1 instead of 5',
        '--model',
        'scripted',
        '--base-url',
        server.url,
        '--samples',
        String(samples),
        '--max-attempts',
        '1',
        '--out',
        out,
      ],
      {
        env: { ...process.env, OPENAI_API_KEY: 'sk-bench', FIXWRIGHT_DATA_DIR: join(dir, 'data') },
      },
    );
    const took = Date.now() - started;
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as {
      status: string;
      attempts: Array<{ candidates?: number }>;
    };
    console.log(
      `samples ${samples}: ${result.status}, ${result.attempts[0]?.candidates ?? 0} candidate(s) judged, ${took} ms (exit ${r.status})`,
    );
    if (r.status !== 0) {
      console.error(
        r.stderr
          .split('\n')
          .filter((l) => !l.startsWith('{'))
          .join('\n')
          .slice(-2000),
      );
      process.exitCode = 1;
    }
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
void main();
