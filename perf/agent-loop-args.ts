/**
 * The command line of `perf:agent`: which builds to measure, how many runs, where to write the
 * per-run records. Returns the options or a list of problems a user can act on.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** What one bench invocation measures. */
export interface AgentBenchOptions {
  /** Build directories (each holds cli/main.js), the first being the reference the others are compared with. */
  builds: string[];
  /** Measured runs per build. */
  runs: number;
  /** Unmeasured runs per build first (caches, the environment image). */
  warmup: number;
  /** Where to write every run's figures as JSON, if anywhere. */
  json?: string;
  /** Keep the runs' temporary directories (fixture, output, log) for inspection. */
  keep: boolean;
}

/** The usage text. */
export const USAGE = `usage: node dist/perf/agent-loop.js --build DIR [--build DIR ...] [--runs N] [--warmup N] [--json FILE] [--keep]
  --build DIR   a build of fixwright (a folder holding cli/main.js, such as dist); the first is the
                reference, the others are compared with it; runs alternate between builds
  --runs N      measured runs per build, 1-50 (default 5)
  --warmup N    unmeasured runs per build before them, 0-10 (default 1)
  --json FILE   also write every run's figures to FILE
  --keep        keep each run's fixture, output folder and log`;

function whole(
  value: string | undefined,
  flag: string,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    problems.push(`${flag} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
    return fallback;
  }
  return n;
}

/** Parses the bench's arguments: the options, or every problem found. */
export function parseAgentBenchArgs(argv: readonly string[]): { options: AgentBenchOptions } | { problems: string[] } {
  let values: { build?: string[]; runs?: string; warmup?: string; json?: string; keep?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        build: { type: 'string', multiple: true },
        runs: { type: 'string' },
        warmup: { type: 'string' },
        json: { type: 'string' },
        keep: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return { problems: [(err as Error).message] };
  }
  const problems: string[] = [];
  const runs = whole(values.runs, '--runs', 5, 1, 50, problems);
  const warmup = whole(values.warmup, '--warmup', 1, 0, 10, problems);
  const builds = (values.build ?? []).map((b) => resolve(b));
  if (builds.length === 0) problems.push('give at least one --build DIR (a folder holding cli/main.js, such as dist)');
  for (const [i, build] of builds.entries()) {
    const given = values.build![i]!;
    if (!existsSync(build) || !statSync(build).isDirectory()) problems.push(`--build ${given}: no such directory`);
    else if (!existsSync(join(build, 'cli', 'main.js')))
      problems.push(
        `--build ${given}: no cli/main.js in it (build it first: npx tsc -p tsconfig.json --outDir ${given})`,
      );
  }
  if (new Set(builds).size !== builds.length) problems.push('each --build must be a different directory');
  if (problems.length > 0) return { problems };
  return {
    options: {
      builds,
      runs,
      warmup,
      json: values.json === undefined ? undefined : resolve(values.json),
      keep: values.keep === true,
    },
  };
}
