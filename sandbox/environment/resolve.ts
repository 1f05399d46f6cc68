import { inferEnvironment, layoutDefaults } from './infer.js';
import type { ProjectFiles } from './project-files.js';
import { parseUserSpecText, specToEnvironment, type SpecTrust, type UserSpec } from './spec.js';
import type { TestEnvironment } from './types.js';

/** Where a committed environment spec may live in a repository, first found wins. */
export const REPOSITORY_SPEC_PATHS = [
  '.fixwright/environment.yml',
  '.fixwright/environment.yaml',
  '.fixwright/environment.json',
] as const;

/** What the caller knows before looking at the repository. */
export interface EnvironmentRequest {
  /** A spec the user gave (`--env FILE` or the API's `environment` field), already validated. */
  given?: { spec: UserSpec; origin: string; trust: SpecTrust };
  /** The SWE-bench table's environment, when a known instance runs. */
  table?: TestEnvironment;
}

/**
 * Resolves the environment for a repository at a commit; first match wins: the user's spec, a spec
 * committed in the repository, the SWE-bench table, inference from the repository's own files.
 * A committed spec is validated like one sent over the API (no base image, no build commands).
 */
export function resolveEnvironment(request: EnvironmentRequest, files: ProjectFiles): TestEnvironment {
  const defaults = layoutDefaults(files);
  if (request.given) {
    return specToEnvironment(
      request.given.spec,
      'spec',
      request.given.origin,
      defaults,
      [`given by the user (${request.given.origin})`],
      {
        trusted: request.given.trust === 'operator',
      },
    );
  }
  const committed = REPOSITORY_SPEC_PATHS.find((p) => files.texts[p] !== undefined);
  if (committed) {
    const spec = parseUserSpecText(files.texts[committed]!, committed, 'untrusted');
    return specToEnvironment(spec, 'repository', committed, defaults, [`committed in the repository (${committed})`]);
  }
  if (request.table) {
    const imports = request.table.imports.length > 0 ? request.table.imports : defaults.imports;
    return {
      ...request.table,
      imports,
      notes: [...request.table.notes, `the SWE-bench environment table (${request.table.key})`],
    };
  }
  const inferred = inferEnvironment(files);
  return specToEnvironment(inferred.spec, 'inferred', 'inferred', inferred.defaults, inferred.notes, {
    bestEffort: true,
  });
}
