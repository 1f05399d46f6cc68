import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScriptedServer } from '../../core/scripted-openai-server.js';
import { runCli } from './cli.js';
import { makeRepo } from './fixture-repo.js';

/** The issue the calc fixtures are about. */
export const ADD_ISSUE = 'add(2, 3) returns -1 instead of 5';

/**
 * Runs `fixwright solve` on a new git repository of `files` against a scripted model server, and
 * reads back what the run wrote: result.json, the trajectory's events and patch.diff.
 */
export async function solveWithScriptedModel(
  server: ScriptedServer,
  files: Record<string, string>,
  apiKey: string,
  extra: string[] = [],
  env: Record<string, string> = {},
) {
  const repo = makeRepo(files, { git: true });
  const out = join(repo, '..', `${repo.split('/').pop()}-out`);
  const r = await runCli(
    [
      'solve',
      '--repo',
      repo,
      '--issue',
      ADD_ISSUE,
      '--model',
      'scripted',
      '--base-url',
      server.url,
      '--out',
      out,
      '--test-timeout',
      '60',
      ...extra,
    ],
    {
      OPENAI_API_KEY: apiKey,
      FIXWRIGHT_DATA_DIR: join(out, 'data'),
      ...env,
    },
  );
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  const events = readFileSync(join(out, 'trajectory.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  return { r, out, result, events, patch: readFileSync(join(out, 'patch.diff'), 'utf8') };
}
