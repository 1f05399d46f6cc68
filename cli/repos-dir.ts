import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRepositories } from '../benchmarks/index.js';
import { reposDirFlag } from './flags.js';

/**
 * Where `solve-dataset` and `eval` read repositories: `--repos DIR` as given (offline mirrors, never
 * touched), or else the clone cache in FIXWRIGHT_DATA_DIR/repos, filled from GitHub as needed.
 */
export async function repositoriesFor(
  rows: ReadonlyArray<{ repo: string; base_commit: string }>,
  reposFlag: string | undefined,
  dataDir: string,
): Promise<string> {
  if (reposFlag !== undefined) return reposDirFlag(reposFlag);
  const cacheDir = join(dataDir, 'repos');
  mkdirSync(cacheDir, { recursive: true });
  const failures = await cacheRepositories(rows, cacheDir, (repo) =>
    process.stderr.write(`fixwright: cloning https://github.com/${repo} into ${cacheDir} …\n`),
  );
  for (const [repo, why] of failures) {
    const count = rows.filter((r) => r.repo === repo).length;
    process.stderr.write(
      `fixwright: ${why}; its ${count} instance(s) go without their repository (pass --repos DIR for offline mirrors)\n`,
    );
  }
  return cacheDir;
}
