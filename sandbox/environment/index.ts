/** The environment layer: one way to run a repository's tests, used by the agent and by eval alike. */
export type { EnvironmentSource, TestDirectives, TestEnvironment } from './types.js';
export { LOG_PARSER_NAMES, parseTestLog, type LogParserName, type LogStatus } from './log-parsers.js';
export { readProjectFiles, type ProjectFiles } from './project-files.js';
export {
  isPytestCommand,
  parseUserSpec,
  parseUserSpecText,
  PYTHON_BASES,
  specToEnvironment,
  userSpecSchema,
  type SpecTrust,
  type UserSpec,
} from './spec.js';
export { inferEnvironment, layoutDefaults, requirementName, type Inferred } from './infer.js';
export { REPOSITORY_SPEC_PATHS, resolveEnvironment, type EnvironmentRequest } from './resolve.js';
export { prepareEnvironmentImage, type PipSettings } from './prepare.js';
export {
  checkImports,
  HELPERS_DIR,
  prepareCheckout,
  runEnvironmentTests,
  testDirectives,
  testRunEnv,
  type HealthResult,
} from './run-tests.js';
export {
  checkExtensionBuild,
  cleanOutputsTar,
  DEFAULT_BUILD_INPUTS,
  defaultBuildCacheDir,
  extensionBuildKey,
  extensionBuildLimits,
  extensionBuildSchema,
  inputMatcher,
  prepareExtensionBuild,
  putExtensionBuild,
  type BuildRuntime,
  type BuiltExtensions,
  type ExtensionBuild,
  type ExtensionBuildInput,
  type RebuildResult,
} from './extension-build.js';
