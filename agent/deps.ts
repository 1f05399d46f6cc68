import type { ChatOpenAI } from '@langchain/openai';
import type { Localiser, RepoIndex, SnapshotSource } from '../localisation/index.js';
import type { RepoSnapshot } from '../localisation/index.js';
import type {
  EnvironmentRequest,
  PipSettings,
  PytestRunResult,
  RepoSource,
  SandboxRuntime,
  TestEnvironment,
} from '../sandbox/index.js';
import type { Calibration } from '../uncertainty/index.js';
import type { EventLog } from './events.js';
import type { ModelPrice } from './models.js';
import type { RunClock, RunTiming } from './run-clock.js';

/** Runs a model call when a shared rate limit allows it. */
export type ModelGate = <T>(call: () => Promise<T>) => Promise<T>;

/** Everything the nodes use that is not state: concrete parts, wired in the composition roots. */
export interface AgentDeps {
  localiser: Localiser;
  sandbox: SandboxRuntime;
  /** A chat model for an attempt (later attempts may run hotter); a sampled candidate names its own temperature. */
  modelFor(attempt: number, temperature?: number): ChatOpenAI;
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
