import type { BaseMessageLike } from '@langchain/core/messages';
import type { RepoIndex, SnapshotSource } from '../localisation/index.js';
import type { RepoSnapshot } from '../localisation/index.js';
import type {
  BuiltExtensions,
  EnvironmentRequest,
  PipSettings,
  PytestRunResult,
  RepoSource,
  SandboxLimits,
  SandboxOptions,
  SandboxSession,
  TestEnvironment,
} from '../sandbox/index.js';
import type { Calibration } from '../uncertainty/index.js';
import type { EventLog } from './events.js';
import type { ModelPrice } from './models.js';
import type { RunClock, RunTiming } from './run-clock.js';

/** What a chat model answers: its text (a string, or parts of which the text ones count) and the tokens the call used. */
export interface ChatAnswer {
  content: string | readonly object[];
  usage_metadata?: { input_tokens: number; output_tokens: number };
}

/**
 * A chat model as the nodes use it: one call with the messages and the run's abort signal, and the
 * settings they read to price a call and bound its cost. LangChain's ChatOpenAI is one as it is.
 */
export interface ChatModel {
  /** The model's name: what a call is priced by and what its events report. */
  readonly model: string;
  /** The temperature it samples at (undefined: the provider's default). */
  readonly temperature?: number;
  /** The longest answer it may write, in tokens: the output side of a call's worst-case cost. */
  readonly maxTokens?: number;
  invoke(messages: BaseMessageLike[], options: { signal?: AbortSignal }): Promise<ChatAnswer>;
}

/** A chat model for an attempt (later attempts may run hotter); a sampled candidate names its own temperature. */
export type ModelFactory = (attempt: number, temperature?: number) => ChatModel;

/** Ranks a repository's files for an issue, as the localise node uses it; the Localiser is one as it is. */
export interface Ranker {
  /** The ranking's name: a calibration cuts a set only for the ranker it was fitted on. */
  readonly rankerName: string;
  /** Every file of the repository (tests included), read once. */
  snapshot(source: SnapshotSource): Promise<RepoSnapshot>;
  /** The repository's index (cached), which the context node reads as well. */
  index(source: SnapshotSource): Promise<RepoIndex>;
  /** The files for the issue, best first, with the scores the calibration's cut reads. */
  rank(index: RepoIndex, issue: string): Promise<{ files: ReadonlyArray<{ path: string; score: number }> }>;
}

/**
 * The sandbox as the nodes use it: fresh locked-down containers over a copy of the repository, and
 * the environment's image and extension build they start from. The Docker client stays behind it.
 */
export interface Sandbox {
  /** Opens a sandbox when a slot is free, runs `task` in it, and always removes it. */
  withSandbox<T>(options: SandboxOptions, task: (session: SandboxSession) => Promise<T>): Promise<T>;
  /** Builds the environment's image, or finds it cached (undefined image: the base image serves). */
  prepareEnvironmentImage(
    environment: Pick<TestEnvironment, 'image' | 'key'>,
    options: { pip?: PipSettings },
  ): Promise<{ image: string | undefined; built: boolean }>;
  /** Builds the project's extensions once per tree, or finds them cached; undefined when it has none. */
  prepareExtensionBuild(
    environment: TestEnvironment,
    options: { image?: string; repo: RepoSource; signal?: AbortSignal },
  ): Promise<BuiltExtensions | undefined>;
  /** The limits of a sandbox a build may run in (a build needs more memory and disk than a test). */
  extensionBuildLimits(): Partial<SandboxLimits>;
}

/** Runs a model call when a shared rate limit allows it. */
export type ModelGate = <T>(call: () => Promise<T>) => Promise<T>;

/** Everything the nodes use that is not state: parts seen through interfaces, wired in the composition roots. */
export interface AgentDeps {
  localiser: Ranker;
  sandbox: Sandbox;
  modelFor: ModelFactory;
  events: EventLog;
  snapshotSource: SnapshotSource;
  /** The same repository as the sandbox copies it. */
  repo: RepoSource;
  calibration?: Calibration;
  /** What the caller knows of the project's environment (a user's spec, the SWE-bench table's entry). */
  environmentRequest?: EnvironmentRequest;
  /** Where pip may look while an environment image builds. */
  pip?: PipSettings;
  maxAttempts: number;
  /** Candidate fixes drawn per attempt (1: no sampling); the judges pick one. */
  samples: number;
  testTimeoutSeconds: number;
  /** Characters of source code the prompt may hold. */
  contextBudget: number;
  prices?: Readonly<Record<string, ModelPrice>>;
  /** Passes every model call through a shared limit (requests per minute across a bench's workers). */
  modelGate?: ModelGate;
  /** Spending cap for the run's model calls, in USD (priced models only). */
  maxCostUsd?: number;
  /** Epoch ms after which no new attempt starts. */
  deadline?: number;
  signal?: AbortSignal;
  /** Filled by the localise node: the index and every file of the snapshot (tests included). */
  run: {
    index?: RepoIndex;
    snapshot?: RepoSnapshot;
    /** Filled by the baseline node: the environment every test run of this run uses, and its image. */
    environment?: { environment: TestEnvironment; image: string | undefined };
    /** Outcomes of existing test sets before any patch, by the set (they cannot change between attempts). */
    regressionBefore?: Map<string, { run: PytestRunResult; checked: string[] }>;
    /** Outcomes of judge tests without any patch, by path and normalised content (run once per run). */
    judgeBefore?: Map<string, PytestRunResult>;
    tokens: { input: number; output: number };
    costUsd: number;
    /** Worst-case cost of the model calls in flight, held against the cap (see sampling/budget.ts). */
    reservedUsd?: number;
    /** Where the run's time goes: set by runAgent before the first node (model calls and test runs record on it). */
    clock?: RunClock;
    /** The run's timing, set when runAgent ends (also when it throws: what it spent up to then). */
    timing?: RunTiming;
  };
}
