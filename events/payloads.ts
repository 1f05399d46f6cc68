import { Type } from 'typebox';

// One schema per event type: the fields the agent, the CLI, the benchmarks and the service write
// today, required where every emitter writes them. Unknown fields are allowed (no
// additionalProperties: false): a record from a newer fixwright still reads here.

const Attempt = Type.Integer({ minimum: 1, description: 'the attempt (from 1)' });
const Candidate = Type.Integer({
  minimum: 1,
  description: 'the candidate of the attempt (from 1; absent before sampling)',
});
const Paths = Type.Array(Type.String());
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

/** What a span of a run spent, in ms (agent/run-clock.ts `Timing`). */
export const TimingSchema = Type.Object(
  {
    wall_ms: Type.Number(),
    model_ms: Type.Number({ description: 'some model call was in flight (parallel calls count once)' }),
    test_ms: Type.Number({ description: "some run of the repository's tests was in flight and no model call was" }),
    own_ms: Type.Number({ description: "the rest: fixwright's own work and waits" }),
  },
  { description: 'ms' },
);

/** A run's timing: in all, per node, one-off steps and attempts (agent/run-clock.ts `RunTiming`). */
export const RunTimingSchema = Type.Intersect(
  [
    TimingSchema,
    Type.Object({
      one_off: TimingSchema,
      attempts: Type.Intersect([
        TimingSchema,
        Type.Object({ count: Type.Integer(), own_ms_per_attempt: Nullable(Type.Number()) }),
      ]),
      nodes: Type.Record(Type.String(), Type.Intersect([TimingSchema, Type.Object({ runs: Type.Integer() })]), {
        description: 'per node name, summed over its runs',
      }),
    }),
  ],
  { description: 'the whole run: in all, one-off steps, attempts, per node (ms)' },
);

/** The nodes of the agent's graph (agent/state.ts `NodeName`). */
const NodeName = Type.Union([
  Type.Literal('localise'),
  Type.Literal('context'),
  Type.Literal('baseline'),
  Type.Literal('reproduce'),
  Type.Literal('generate'),
  Type.Literal('apply'),
  Type.Literal('test'),
  Type.Literal('reflect'),
  Type.Literal('finish'),
]);

/** `status`: the run started, was put back in the queue, or started again after a lost worker. */
export const StatusData = Type.Object(
  {
    status: Type.Union([Type.Literal('running'), Type.Literal('queued')]),
    repo: Type.Optional(
      Type.String({ description: 'owner/name for solve-dataset runs; the path or URL given to solve' }),
    ),
    model: Type.Optional(Type.String()),
    instance_id: Type.Optional(Type.String({ description: 'the benchmark instance (solve-dataset runs)' })),
    base_commit: Type.Optional(Type.String({ description: "the instance's commit (solve-dataset runs)" })),
    retry: Type.Optional(Type.Boolean({ description: "a retried run: the previous run's attempts are void" })),
    reason: Type.Optional(Type.String()),
  },
  { description: 'the run started, was requeued, or started again' },
);

/** `node_start`: a node of the graph begins. */
export const NodeStartData = Type.Object(
  { node: NodeName, attempt: Type.Integer({ minimum: 0, description: 'attempts made so far' }) },
  { description: 'a node of the graph begins' },
);

/** `node_end`: a node ends, with how long it took and where the time went. */
export const NodeEndData = Type.Object(
  {
    node: NodeName,
    attempt: Type.Integer({ minimum: 0, description: 'attempts made so far' }),
    duration_ms: Type.Number(),
    timing: TimingSchema,
  },
  { description: 'a node ends' },
);

/**
 * `log`: the agent's notes along the way. Each step writes fields of its own beyond these (the
 * environment's source, key and notes; the baseline's imports, ok and collected; the selection's
 * winner, reason, judges and candidates; the sampling cap's drawn and wanted): open-ended by design.
 */
export const LogData = Type.Intersect(
  [
    Type.Object({
      step: Type.Optional(Type.String({ description: 'the step writing: environment, baseline, select, generate…' })),
      level: Type.Optional(Type.Union([Type.Literal('warn'), Type.Literal('error')])),
      message: Type.Optional(Type.String()),
      attempt: Type.Optional(Type.Integer({ minimum: 1 })),
      candidate: Type.Optional(Candidate),
      stopped_by: Type.Optional(
        Type.String({ description: 'the run (or sampling) stopped: cost, wall_time, environment' }),
      ),
      category: Type.Optional(Type.String({ description: 'a failure category (model_error)' })),
      warning: Type.Optional(Type.String()),
      note: Type.Optional(Type.String()),
    }),
    Type.Record(Type.String(), Type.Unknown()),
  ],
  { description: "the agent's notes; each step adds fields of its own" },
);

/** `localised_files`: the ranked files and the conformal set. */
export const LocalisedFilesData = Type.Object(
  {
    files: Type.Array(
      Type.Object({
        path: Type.String(),
        score: Type.Number(),
        in_set: Type.Boolean({ description: 'in the conformal set (logs before the rename say inSet)' }),
      }),
      { description: 'the top 20, best first' },
    ),
    set_size: Type.Integer(),
    coverage: Nullable(Type.Number({ description: 'the probability the set holds the file to change' })),
    indexed_files: Type.Integer(),
  },
  { description: 'ranked files and the conformal set' },
);

const ShownFile = Type.Object({
  path: Type.String(),
  mode: Type.Union([Type.Literal('whole'), Type.Literal('condensed')]),
  likely_to_change: Type.Array(Type.String()),
  shown_in_full: Type.Optional(Type.Array(Type.String())),
  shown_in_part: Type.Optional(Type.Array(Type.String())),
});

/** `context`: the code the prompt shows. */
export const ContextData = Type.Object(
  {
    files: Type.Array(ShownFile, { description: "the conformal set's cut" }),
    chars: Type.Integer(),
    cuts: Type.Optional(
      Type.Record(Type.String(), Type.Object({ files: Type.Array(ShownFile), chars: Type.Integer() }), {
        description: 'every cut the candidates use, by name (with more than one sample)',
      }),
    ),
  },
  { description: 'the code the prompt shows' },
);

/** `model_call`: the exact messages sent and the answer, usage and cost (never a key). */
export const ModelCallData = Type.Object(
  {
    step: Type.Union([Type.Literal('reproduce'), Type.Literal('generate')]),
    attempt: Attempt,
    candidate: Type.Optional(Candidate),
    context_cut: Type.Optional(Type.String({ description: 'conformal_set, top_file or top_k_functions' })),
    model: Type.String(),
    temperature: Type.Optional(Type.Number()),
    messages: Type.Array(
      Type.Object({
        role: Type.Union([Type.Literal('system'), Type.Literal('user'), Type.Literal('assistant')]),
        content: Type.String(),
      }),
      { description: 'exactly as sent to the provider' },
    ),
    response: Type.Optional(Type.String({ description: 'the answer (absent when the call failed)' })),
    error: Type.Optional(Type.String({ description: 'why the call failed' })),
    usage: Type.Optional(Type.Object({ input_tokens: Type.Integer(), output_tokens: Type.Integer() })),
    cost_usd: Type.Optional(Type.Number()),
    priced: Type.Optional(Type.Boolean({ description: 'false: the model has no known price, its cost is unknown' })),
    duration_ms: Type.Optional(Type.Number()),
  },
  { description: 'one model call: messages, answer, usage, cost' },
);

/** `patch`: a candidate's change as a unified diff. */
export const PatchData = Type.Object(
  {
    attempt: Attempt,
    candidate: Candidate,
    group: Type.Optional(
      Type.Integer({ description: "the lowest candidate whose normalised change equals this one's" }),
    ),
    diff: Type.String(),
    files: Paths,
    tests: Paths,
  },
  { description: "a candidate's change" },
);

/** `apply_result`: whether a candidate's change applied (or why there was none). */
export const ApplyResultData = Type.Object(
  {
    attempt: Attempt,
    candidate: Candidate,
    ok: Type.Boolean(),
    method: Type.Optional(Type.String({ description: 'how it applied (git apply, …)' })),
    answer: Type.Optional(Type.Union([Type.Literal('NO_EDITS'), Type.Literal('KEEP_PREVIOUS')])),
    category: Type.Optional(Type.String({ description: 'the failure category when not ok' })),
    message: Type.Optional(Type.String()),
  },
  { description: "whether a candidate's change applied" },
);

const Outcomes = Type.Record(
  Type.String(),
  Type.Object({
    status: Type.String({ description: 'PASSED, FAILED, ERROR, SKIPPED, XFAIL or XPASS' }),
    message: Type.Optional(Type.String()),
  }),
  { description: 'by test id' },
);

const JudgeRun = Type.Object({
  outcomes: Outcomes,
  exit_code: Type.Optional(Type.Integer()),
  timed_out: Type.Optional(Type.Boolean()),
  output: Type.Optional(Type.String({ description: 'the tail of the output' })),
});

/** `test_result`: the judges and the existing tests before and after a group's change. */
export const TestResultData = Type.Object(
  {
    attempt: Attempt,
    candidate: Candidate,
    candidates: Type.Array(Type.Integer(), { description: 'every candidate of the group this run judged' }),
    environment: Type.String({ description: "the environment's key" }),
    reproduction: Paths,
    judges: Type.Array(
      Type.Object({
        path: Type.String(),
        source: Type.String(),
        failed_before: Type.Boolean(),
        passed_after: Type.Boolean(),
        failure: Nullable(Type.String()),
      }),
    ),
    before: Type.Optional(JudgeRun),
    after: Type.Optional(JudgeRun),
    existing: Paths,
    existing_why: Type.Array(Type.Object({ path: Type.String(), reason: Type.String() })),
    existing_unchecked: Type.Array(Type.Object({ path: Type.String(), reason: Type.String() })),
    existing_after: Type.Optional(JudgeRun),
    regressions: Paths,
    superseded: Paths,
  },
  { description: "the tests before and after a group's change" },
);

/** `reflection`: why an attempt failed, for the next one. */
export const ReflectionData = Type.Object(
  {
    attempt: Attempt,
    category: Type.String({ description: 'the failure category' }),
    message: Type.String(),
  },
  { description: 'why an attempt failed' },
);

/** `done`: the run's end, its status and its patch. */
export const DoneData = Type.Object(
  {
    status: Type.Union([
      Type.Literal('resolved'),
      Type.Literal('unverified'),
      Type.Literal('failed'),
      Type.Literal('error'),
    ]),
    attempts: Type.Optional(Type.Integer()),
    chosen_attempt: Type.Optional(Nullable(Type.Integer())),
    chosen_candidate: Type.Optional(Nullable(Type.Integer())),
    attempt_results: Type.Optional(
      Type.Array(
        Type.Object({
          attempt: Type.Integer(),
          candidate: Nullable(Type.Integer()),
          candidates: Type.Integer(),
          failure: Nullable(Type.String()),
          message: Nullable(Type.String()),
          score: Type.Optional(Type.Number()),
        }),
        { description: "how each attempt ended, as result.json's attempts" },
      ),
    ),
    stopped_by: Type.Optional(Nullable(Type.String({ description: 'cost, wall_time, cancelled, environment, …' }))),
    message: Type.Optional(Type.String()),
    patch: Type.Optional(Type.String()),
    timing: Type.Optional(RunTimingSchema),
  },
  { description: "the run's end (cancelled runs: status failed, stopped_by cancelled)" },
);

/** `error`: the run could not finish. */
export const ErrorData = Type.Object(
  {
    status: Type.Literal('failed'),
    code: Type.Optional(Type.String({ description: 'FW_ERR_…' })),
    stopped_by: Type.Optional(Type.String()),
    message: Type.String(),
  },
  { description: 'the run could not finish' },
);

/** The payload schema of every event type. */
export const EventPayloads = {
  status: StatusData,
  node_start: NodeStartData,
  node_end: NodeEndData,
  log: LogData,
  localised_files: LocalisedFilesData,
  context: ContextData,
  model_call: ModelCallData,
  patch: PatchData,
  apply_result: ApplyResultData,
  test_result: TestResultData,
  reflection: ReflectionData,
  done: DoneData,
  error: ErrorData,
} as const;
