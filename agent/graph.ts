import { END, START, StateGraph } from '@langchain/langgraph';
import type { AgentDeps } from './deps.js';
import { applyNode } from './nodes/apply.js';
import { baselineNode } from './nodes/baseline.js';
import { contextNode } from './nodes/context.js';
import { finishNode } from './nodes/finish.js';
import { generateNode } from './nodes/generate.js';
import { localiseNode } from './nodes/localise.js';
import { reflectNode } from './nodes/reflect.js';
import { reproduceNode } from './nodes/reproduce.js';
import { testNode } from './nodes/test.js';
import { RunClock } from './run-clock.js';
import { afterApply, afterBaseline, afterGenerate, afterReflect, afterTest } from './routers.js';
import { AgentState, type AgentStateType, type AgentUpdate, type NodeName } from './state.js';

/**
 * Wraps a node so every run of it emits node_start / node_end with its duration and its timing:
 * how much of it was model calls, the repository's tests, and fixwright's own work.
 */
function timed(
  name: NodeName,
  deps: AgentDeps,
  node: (state: AgentStateType, deps: AgentDeps) => Promise<AgentUpdate>,
) {
  return async (state: AgentStateType): Promise<AgentUpdate> => {
    deps.signal?.throwIfAborted();
    deps.events.emit('node_start', { node: name, attempt: state.attempt });
    const clock = (deps.run.clock ??= new RunClock());
    const started = clock.now();
    try {
      return await node(state, deps);
    } finally {
      const ended = clock.now();
      const timing = clock.nodeEnded(name, state.attempt, started, ended);
      deps.events.emit('node_end', { node: name, attempt: state.attempt, duration_ms: ended - started, timing });
    }
  };
}

/**
 * The repair loop: localise → context → baseline (the environment works, or the run stops) →
 * reproduce → generate → apply → test, with reflect → generate (or reproduce, when the
 * reproduction test itself is at fault) up to maxAttempts.
 */
export function buildAgentGraph(deps: AgentDeps) {
  return new StateGraph(AgentState)
    .addNode('localise', timed('localise', deps, localiseNode))
    .addNode('context', timed('context', deps, contextNode))
    .addNode('baseline', timed('baseline', deps, baselineNode))
    .addNode('reproduce', timed('reproduce', deps, reproduceNode))
    .addNode('generate', timed('generate', deps, generateNode))
    .addNode('apply', timed('apply', deps, applyNode))
    .addNode('test', timed('test', deps, testNode))
    .addNode('reflect', timed('reflect', deps, reflectNode))
    .addNode('finish', timed('finish', deps, finishNode))
    .addEdge(START, 'localise')
    .addEdge('localise', 'context')
    .addEdge('context', 'baseline')
    .addConditionalEdges('baseline', afterBaseline, ['reproduce', 'finish'])
    .addEdge('reproduce', 'generate')
    .addConditionalEdges('generate', afterGenerate, ['apply', 'finish'])
    .addConditionalEdges('apply', (s) => afterApply(s, deps.maxAttempts), ['test', 'reflect', 'finish'])
    .addConditionalEdges('test', (s) => afterTest(s, deps.maxAttempts), ['reflect', 'finish'])
    .addConditionalEdges('reflect', afterReflect, ['reproduce', 'generate'])
    .addEdge('finish', END)
    .compile();
}

/**
 * Runs the graph to its end; the recursion limit bounds it whatever the routers say. `done` is
 * the run's last event (after the finish node's node_end), so a follower may stop at it.
 */
export async function runAgent(deps: AgentDeps, issue: string): Promise<AgentStateType> {
  const graph = buildAgentGraph(deps);
  // A clock of this run's own: a run object handed in twice must not count the first run's calls.
  const clock = (deps.run.clock = new RunClock());
  const started = clock.now();
  let final: AgentStateType | undefined;
  try {
    final = await graph.invoke({ issue }, { recursionLimit: 12 + deps.maxAttempts * 7, signal: deps.signal });
  } finally {
    // A run that throws still says where its time went up to then (the caller's error record may show it).
    deps.run.timing = clock.summary(started, clock.now(), final?.attempts.length ?? 0);
  }
  deps.events.emit('done', {
    status: final.status ?? 'failed',
    attempts: final.attempts.length,
    chosen_attempt: final.chosenAttempt ?? null,
    chosen_candidate: final.attempts.find((a) => a.attempt === final.chosenAttempt)?.candidate ?? null,
    // How each attempt ended, as result.json records it: the last attempt is never reflected on, so
    // without this a reader of the log could not tell that it failed.
    attempt_results: final.attempts.map((a) => ({
      attempt: a.attempt,
      candidate: a.candidate ?? null,
      candidates: a.candidates?.length ?? 1,
      failure: a.failure?.category ?? null,
      message: a.failure?.message ?? null,
      score: a.score,
    })),
    stopped_by: final.stoppedBy ?? null,
    ...(final.stopMessage ? { message: final.stopMessage } : {}),
    patch: final.finalPatch,
    timing: deps.run.timing,
  });
  return final;
}
