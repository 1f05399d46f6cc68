import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const TRACE = join(import.meta.dirname, '..', 'fixtures', 'trace-imports.mjs');
// What the agent's model clients, the API server, the queue and the sandbox load: none of it is localisation's.
const HEAVY = /@langchain|fastify|dockerode|bullmq|ioredis|\/dist\/(api|sandbox)\//;

/** The module URLs a CLI run imported, as the tracing hook wrote them. */
const imported = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('imported '))
    .map((l) => l.split(' ')[1]!);

describe('commands load only their own modules', () => {
  it('runs localise without loading the agent, the server, the queue or Docker', async () => {
    const r = await runCli(['localise', '--help'], { NODE_OPTIONS: `--import ${TRACE}` });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: fixwright localise/);
    const urls = imported(r.stderr);
    expect(urls.length).toBeGreaterThan(10);
    expect(urls.filter((u) => HEAVY.test(u))).toEqual([]);
  });

  it('lists every command in the help, suggests a mistyped one, and prints the version alone', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const name of [
      'sandbox',
      'localise',
      'solve',
      'demo',
      'serve',
      'worker',
      'eval',
      'solve-dataset',
      'edit',
      'edit-bench',
      'export',
    ])
      expect(help.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    // The old names keep working for scripts written before the rename.
    for (const [alias, name] of [
      ['bench', 'solve-dataset'],
      ['bench-edits', 'edit-bench'],
    ]) {
      const r = await runCli([alias!, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: fixwright ${name}\\|${alias} `, 'm'));
    }
    const typo = await runCli(['lokalise']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown command 'lokalise'[\s\S]*Did you mean localise\?/);
    const version = await runCli(['--version'], { NODE_OPTIONS: `--import ${TRACE}` });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(imported(version.stderr).filter((u) => u.includes('/dist/cli/commands/'))).toEqual([]);
  });
});
