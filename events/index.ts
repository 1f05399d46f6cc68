// The one event log's contract (ARCHITECTURE.md, "One event log"): the envelope, one payload schema
// per event type, their static types and validators, and the task summary the log folds into. The
// agent emits through it, the API documents it, the exporter and the web UI read it. It imports
// nothing but typebox, so the browser builds it too.

export { EVENT_TYPES, type EventType } from './event-types.js';
export {
  ApplyResultData,
  ContextData,
  DoneData,
  ErrorData,
  EventPayloads,
  LocalisedFilesData,
  LogData,
  ModelCallData,
  NodeEndData,
  NodeStartData,
  PatchData,
  ReflectionData,
  RunTimingSchema,
  StatusData,
  TestResultData,
  TimingSchema,
} from './payloads.js';
export {
  AgentEventSchema,
  EventRecordSchema,
  EventTypeSchema,
  eventSchemaOf,
  type AgentEvent,
  type CurrentEvent,
  type EmitData,
  type EventData,
  type EventRecord,
  type RecordedData,
} from './envelope.js';
export { eventRecordProblem, isCurrentEvent, isEventRecord, type EventProblem } from './validate.js';
export {
  changesSummary,
  emptySummary,
  foldEvent,
  isFinalEvent,
  newTask,
  TASK_STATUSES,
  TERMINAL_STATUSES,
  type AttemptView,
  type CandidateView,
  type JudgeView,
  type SelectionView,
  type TaskRecord,
  type TaskRequest,
  type TaskStatus,
  type TaskSummary,
  type Verdict,
} from './task-summary.js';
