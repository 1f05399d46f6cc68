import { Annotation } from '@langchain/langgraph';
import type { EditFailureCategory, ReproductionTest } from './edits/index.js';

/**
 * How a run ends: `resolved` (its own reproduction test went from failing to passing with no
 * regression), `unverified` (a patch, not proven), `failed` (no patch), or `error` (the run could
 * not be judged: the model or provider failed, or the project's environment does not work).
 */
export type AgentStatus = 'resolved' | 'unverified' | 'failed' | 'error';

/** Why an attempt failed: the reflection prompt is built from this. */
export type FailureCategory =
  | EditFailureCategory
  | 'model_error'
  | 'patch_does_not_apply'
  | 'import_error'
  | 'no_reproduction_test'
  | 'repro_did_not_fail'
  | 'repro_still_fails'
  /** The reproduction test breaks in its own code (a setup error, a name it gets wrong), before and after the patch. */
  | 'repro_broken'
  | 'regression'
  | 'timeout'
  | 'sandbox_error';

/** The nodes of the graph. */
export type NodeName = 'localise' | 'context' | 'baseline' | 'reproduce' | 'generate' | 'apply' | 'test' | 'reflect' | 'finish';

/** Why a run ended before its attempts were spent. */
export type StopReason = 'cost' | 'wall_time' | 'no_edits' | 'keep_previous' | 'environment' | 'model_error';

/** A localised file with its fused score and whether it is in the conformal set. */
export interface LocalisedFile {
  path: string;
  score: number;
  inSet: boolean;
}

/** One attempt: what the model said, the diff, and how the checks went. */
export interface AttemptRecord {
  attempt: number;
  diff?: string;
  tests: ReproductionTest[];
  failure?: { category: FailureCategory; message: string; logs?: string };
  reproFailedBefore?: boolean;
  reproPassedAfter?: boolean;
  regressions?: string[];
  /** The existing tests that ran to look for regressions, with why each was chosen. */
  regressionTests?: Array<{ path: string; reason: string }>;
  /** Programmatic score for choosing the best attempt when none passes everything. */
  score: number;
}

const replace = <T>(initial: () => T) => Annotation<T>({ reducer: (_old, next) => next, default: initial });

/** The graph's state; nodes return partial updates. */
export const AgentState = Annotation.Root({
  issue: replace<string>(() => ''),
  files: replace<LocalisedFile[]>(() => []),
  codeContext: replace<string>(() => ''),
  attempt: replace<number>(() => 0),
  answer: replace<string>(() => ''),
  /** The reproduction test from the reproduce step (the fix step's own test is used only without one). */
  reproTests: replace<ReproductionTest[]>(() => []),
  /** The current attempt as the apply and test nodes fill it in. */
  current: replace<AttemptRecord | undefined>(() => undefined),
  attempts: Annotation<AttemptRecord[]>({ reducer: (all, next) => all.concat(next), default: () => [] }),
  feedback: replace<string | undefined>(() => undefined),
  status: replace<AgentStatus | undefined>(() => undefined),
  /** Set when a budget ends the run before its attempts are spent. */
  stoppedBy: replace<StopReason | undefined>(() => undefined),
  /** What a user needs to know about why the run stopped early (what is missing, what failed). */
  stopMessage: replace<string | undefined>(() => undefined),
  finalPatch: replace<string>(() => ''),
  /** The attempt whose diff is the final patch. */
  chosenAttempt: replace<number | undefined>(() => undefined),
});

/** The state as nodes read it. */
export type AgentStateType = typeof AgentState.State;
/** What a node returns. */
export type AgentUpdate = typeof AgentState.Update;
