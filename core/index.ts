// core/: what every stage shares (settings, errors, paths, exit hooks), light enough for the CLI's
// start-up to load whole. The logger (pino), the metrics registry (prom-client) and the local Redis
// for tests (ioredis) are entry points of their own, so that nothing here loads them.
export {
  loadSettings,
  MODEL_RPM_LIMIT,
  redisURLForDisplay,
  redisURLProblem,
  SAMPLES_LIMIT,
  type ModelSettings,
  type SandboxSettings,
  type Settings,
} from './config.js';
export { ERROR_CODES, FixwrightError, isFixwrightError, type ErrorCode } from './errors.js';
export { beforeExit, runExitHooks } from './exit-hooks.js';
export { instanceFileName } from './instance-name.js';
export { ANY_KEY_SHAPE, KEY_SHAPES } from './key-shapes.js';
export type { Logger } from './logger.js';
export { makeDir, OS_REASONS } from './make-dir.js';
export { assetPath } from './paths.js';
export {
  startScriptedOpenAIServer,
  type ScriptedChatRequest,
  type ScriptedReply,
  type ScriptedServer,
} from './scripted-openai-server.js';
export { formatBytes } from './units.js';
