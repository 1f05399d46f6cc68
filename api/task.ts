// A task and the summary its events fold into. The fold is part of the event log's contract (the
// API, the worker and the web UI rebuild the same view from a replay), so it lives in events/;
// the API's modules keep importing it from here.
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
} from '../events/index.js';
