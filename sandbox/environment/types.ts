import type { EnvironmentSpecInput } from '../images/env-image.js';
import type { ExtensionBuildInput } from './extension-build.js';
import type { LogParserName } from './log-parsers.js';

/** Where an environment came from, first match wins in this order. */
export type EnvironmentSource = 'spec' | 'repository' | 'table' | 'inferred';

/** How the files a test run targets become the test command's arguments. */
export type TestDirectives = 'paths' | 'django_labels';

/**
 * Everything needed to run a repository's tests in its own environment: the agent's baseline,
 * reproduction and regression runs and `eval` all take it from here, so they test in one place.
 */
export interface TestEnvironment {
  source: EnvironmentSource;
  /** Names it in logs and reports: the spec's origin, `owner/name@version` of the table, or `inferred`. */
  key: string;
  /** The image recipe over a fixwright base image; null runs in the base image as it is. */
  image: EnvironmentSpecInput | null;
  /** Repository directories put on PYTHONPATH (how the project becomes importable without an install). */
  pythonpath: string[];
  /** The test command, before the targets (a pytest command accepts pytest's flags). */
  testCmd: string[];
  /** Environment variables of every test run (locale, warning filters). */
  testEnv: Record<string, string>;
  parser: LogParserName;
  directives: TestDirectives;
  /** Files written into the checkout before tests run (generated version files and the like). */
  files: Record<string, string>;
  /** Scripts put in /tmp/fixwright/eval/ (a test command may run them). */
  helpers: Record<string, string>;
  /**
   * How the checkout's C/Cython extensions are built before tests (built once per tree in its own
   * sandbox and cached; built again in a test's sandbox when a patch changes an input).
   */
  build?: ExtensionBuildInput;
  /** Modules that must import for the project to be testable (the health check). */
  imports: string[];
  /** Set when a spec names the imports itself: then every one must import, not only those holding the run's files. */
  importsExplicit?: boolean;
  /** How it was decided, in words, for the event log and the README's "why". */
  notes: string[];
}
