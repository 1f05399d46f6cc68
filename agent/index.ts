/** The agent stage: the repair loop, its events and the one entry that runs it. */
export { EventLog, redact, type AgentEvent, type EmitData, type EventType } from './events.js';
export { cloneRepository, isIssueUrl, isCloneableRepoUrl, readGithubIssue } from './github.js';
export { runAgent } from './graph.js';
export { callModel, createChatModel, DEFAULT_PRICES, isPriced, type ModelProvider } from './models.js';
export {
  applyLineRangeEdits,
  EditFailure,
  parseAnswer,
  parseLineRangeEdits,
  toUnifiedDiff,
  type LineRangeEdit,
} from './edits/index.js';
export type { ChatAnswer, ChatModel, ModelFactory, ModelGate, Ranker, Sandbox } from './deps.js';
export {
  chatModels,
  checkModel,
  createLocaliser,
  defaultAgentParts,
  sandboxOf,
  sharedAgentParts,
  shippedCalibration,
  type AgentParts,
  type GivenParts,
  type ModelChoice,
} from './parts.js';
export {
  DEFAULT_SAMPLES,
  DEFAULT_TEMPERATURES,
  DEFAULT_TEST_TIMEOUT_SECONDS,
  MAX_SAMPLES,
  modelRateLimit,
  repositorySources,
  solveIssue,
  type RepoSpec,
  type SolveContext,
  type SolveOptions,
  type SolveOutcome,
} from './solve-issue.js';
export type {
  AgentStatus,
  AttemptRecord,
  CandidateRecord,
  ContextCut,
  JudgeTest,
  LocalisedFile,
  NodeName,
  Selection,
  StopReason,
} from './state.js';
export { DEMO_MODEL, demoReply } from './demo/demo-model.js';
export { DEMO_FILES, DEMO_ISSUE, writeDemoRepository } from './demo/demo-repo.js';
export {
  openDemoModel,
  prepareDemoService,
  runDemo,
  type DemoModel,
  type DemoOutcome,
  type DemoRunOptions,
  type DemoService,
  type DemoTask,
} from './demo/run-demo.js';
export { remoteName, repositoryName } from './repository-name.js';
export type { RunTiming, Timing } from './run-clock.js';
