import { Annotation } from '@langchain/langgraph';
import type { EventData } from '../events/index.js';
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

/** The nodes of the graph, as the event schema names them (node_start, node_end). */
export type NodeName = EventData<'node_start'>['node'];

/** Why a run ended before its attempts were spent. */
export type StopReason = 'cost' | 'wall_time' | 'no_edits' | 'keep_previous' | 'environment' | 'model_error';

/** A localised file with its fused score and whether it is in the conformal set. */
export interface LocalisedFile {
  path: string;
  score: number;
  inSet: boolean;
}

/** Which code a candidate's prompt shows: the conformal set, the top file alone, or the top files cut to the functions the issue names. */
export type ContextCut = 'conformal_set' | 'top_file' | 'top_k_functions';

/** A reproduction test that judges every candidate of an attempt. */
export interface JudgeTest {
  path: string;
  /** Where it came from: `reproduce` (the reproduction step) or `candidate N` (that candidate's answer). */
  source: string;
  /** It failed without any patch, for a reason of the code, not of its own: only such a test can prove a fix. */
  valid: boolean;
  /** Why it does not judge, when it does not. */
  why?: string;
}

/** One candidate fix of an attempt, as the judges rated it. */
export interface CandidateRecord {
  candidate: number;
  temperature: number;
  context: ContextCut;
  diff?: string;
  /** Candidates whose normalised changes are equal share a group, named by its lowest candidate number. */
  group?: number;
  /** Candidates in its group (itself included). */
  votes: number;
  /** Valid judge tests it makes pass. */
  testsPassed: number;
  regressions: string[];
  failure?: { category: FailureCategory; message: string };
  score: number;
  tokens: { input: number; output: number };
  costUsd: number;
}

/** A candidate as drawn: its plan, the model's answer and what the call spent; apply adds its change. */
export interface CandidateDraft {
  candidate: number;
  temperature: number;
  context: ContextCut;
  answer: string;
  tokens: { input: number; output: number };
  costUsd: number;
  /** Filled by apply: the diff, the post-change files' normalised key, and the answer's tests. */
  diff?: string;
  key?: string;
  /** The files the diff changes. */
  changed?: string[];
  tests?: ReproductionTest[];
  failure?: { category: FailureCategory; message: string };
}

/** Which candidate an attempt keeps, and why. */
export interface Selection {
  winner?: number;
  reason: string;
  /** Candidate numbers, best first. */
  ranking: number[];
  judges: JudgeTest[];
}

/** One attempt: what the model said, the diff, and how the checks went. */
export interface AttemptRecord {
  attempt: number;
  /** The candidate this record is (the selected one when an attempt drew several). */
  candidate?: number;
  /** Every candidate of the attempt with its results (one when sampling is off). */
  candidates?: CandidateRecord[];
  selection?: Selection;
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
  /** The prompt code of each context cut the candidates use (the conformal set's is codeContext). */
  contexts: replace<Partial<Record<ContextCut, string>>>(() => ({})),
  attempt: replace<number>(() => 0),
  /** The chosen candidate's answer (the one a reflection continues from). */
  answer: replace<string>(() => ''),
  /** This attempt's candidates as the model answered them, before they are applied and judged. */
  drafts: replace<CandidateDraft[]>(() => []),
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
