import { useCallback, useEffect, useMemo, useState } from 'react';
import {
  emptySummary,
  foldEvent,
  isFinalEvent,
  TERMINAL_STATUSES,
  type AgentEvent,
  type AttemptView,
  type TaskRecord,
  type TaskSummary,
} from '../../../events/index.js';
import { ApiError, download, followTask, request, type LiveState } from '../api-client.js';
import { formatCost, formatDuration, nodeRuns } from '../timeline.js';
import { CandidateTable } from './candidate-table.js';
import { DiffView } from './diff-view.js';
import { TestTable } from './test-table.js';

/** The task as GET /api/task/:id answers (the summary's fields are flattened in). */
type TaskAnswer = Omit<TaskRecord, 'summary'> & { verdict: string | null; duration_ms: number | null };

const VERDICT_TEXT: Record<string, string> = {
  resolved: 'Resolved: the reproduction test failed before the patch and passes after it, with no regression.',
  unverified: 'Unverified: the best patch is shown, but no attempt passed every check.',
  failed: 'Failed: no usable patch.',
};

function StatusBadge(props: { status: string; verdict: string | null }) {
  const label = props.status === 'finished' && props.verdict ? props.verdict : props.status;
  const tone =
    label === 'resolved'
      ? 'ok'
      : label === 'unverified' || label === 'queued' || label === 'running'
        ? 'warn'
        : label === 'cancelled'
          ? 'muted'
          : 'bad';
  return (
    <span className={`badge big ${tone}`} data-testid="task-status">
      {label}
    </span>
  );
}

function Timeline(props: { events: AgentEvent[]; running: boolean }) {
  const runs = nodeRuns(props.events);
  return (
    <ol className="timeline" aria-label="Timeline of the agent's steps">
      {runs.map((run) => (
        <li key={run.key} className={run.durationMs === null ? (props.running ? 'active' : 'stopped') : 'done'}>
          <span className="node">{run.node}</span>
          {run.attempt > 0 && <span className="attempt">attempt {run.attempt}</span>}
          <span className="duration">
            {run.durationMs === null ? (props.running ? 'running…' : 'stopped') : formatDuration(run.durationMs)}
          </span>
        </li>
      ))}
      {runs.length === 0 && <li className="muted">Waiting for a worker…</li>}
    </ol>
  );
}

function Files(props: { summary: TaskSummary }) {
  const { localised_files: files, coverage, set_size: setSize } = props.summary;
  if (files.length === 0) return null;
  return (
    <section aria-labelledby="files-title" className="panel">
      <h2 id="files-title">Localised files</h2>
      <p className="muted">
        {setSize !== null && coverage !== null
          ? `The conformal set holds ${setSize} file${setSize === 1 ? '' : 's'}: ` +
            `it contains the file to change with probability ≥ ${Math.round(coverage * 100)}%.`
          : 'Ranked by fused retrieval score.'}
      </p>
      <table className="data files">
        <thead>
          <tr>
            <th scope="col">file</th>
            <th scope="col">score</th>
            <th scope="col">in the set</th>
          </tr>
        </thead>
        <tbody>
          {files.slice(0, 12).map((f) => (
            <tr key={f.path} className={f.in_set ? 'in-set' : undefined}>
              <td className="mono">{f.path}</td>
              <td>{f.score.toFixed(4)}</td>
              <td>{f.in_set ? <span className="badge ok">in set</span> : <span className="muted">–</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/**
 * The attempt's outcome as the run judged it. Only a known `failure: null` is a pass: the last
 * attempt is never reflected on, so "tested and no reflection" says nothing about it.
 */
function Outcome(props: { attempt: AttemptView; running: boolean }) {
  const { failure } = props.attempt;
  if (failure === null)
    return (
      <span className="badge ok" data-testid="attempt-outcome">
        passed
      </span>
    );
  if (failure)
    return (
      <span className="badge bad" data-testid="attempt-outcome">
        {failure.category.replace(/_/g, ' ')}
      </span>
    );
  return props.running ? (
    <span className="badge warn" data-testid="attempt-outcome">
      checking…
    </span>
  ) : null;
}

function Attempt(props: { attempt: AttemptView; chosen: boolean; running: boolean }) {
  const { attempt } = props;
  const apply = attempt.apply as { ok?: boolean; message?: string; method?: string; answer?: string } | undefined;
  const several = (attempt.candidates?.length ?? 0) > 1;
  return (
    <section
      className="panel attempt"
      aria-labelledby={`attempt-${attempt.attempt}`}
      data-testid={`attempt-${attempt.attempt}`}
    >
      <h3 id={`attempt-${attempt.attempt}`}>
        Attempt {attempt.attempt} {props.chosen && <span className="badge ok">final patch</span>}
        <Outcome attempt={attempt} running={props.running} />
      </h3>
      <CandidateTable attempt={attempt} />
      {/* With several candidates, the diff, apply and tests below are the chosen one's. */}
      {several && attempt.diff !== undefined && <h4>Candidate {attempt.candidate ?? 1}'s patch</h4>}
      {attempt.diff !== undefined && (
        <DiffView
          diff={attempt.diff}
          label={
            several ? `Attempt ${attempt.attempt}, candidate ${attempt.candidate ?? 1}` : `Attempt ${attempt.attempt}`
          }
        />
      )}
      {apply && (
        <p className={apply.ok ? 'muted' : 'banner error'}>
          {apply.answer
            ? `The model answered ${apply.answer}.`
            : apply.ok
              ? `Patch applied (${apply.method ?? 'git apply'}).`
              : `The patch did not apply: ${apply.message ?? ''}`}
        </p>
      )}
      {attempt.tests && <TestTable tests={attempt.tests} />}
      {attempt.reflection && (
        <div className="reflection">
          <h4>Reflection</h4>
          <p>{attempt.reflection.message}</p>
        </div>
      )}
      {/* The last attempt's failure is not reflected on (no attempt follows), but it is still why it failed. */}
      {attempt.failure && !attempt.reflection && apply?.ok !== false && (
        <p className="banner error" data-testid="attempt-failure">
          {attempt.failure.message}
        </p>
      )}
    </section>
  );
}

/** One task, live: timeline, files, attempts with diffs and tests, the verdict, downloads, cancel. */
export function TaskView(props: { taskId: string }) {
  const { taskId } = props;
  const [task, setTask] = useState<TaskAnswer>();
  const [loadError, setLoadError] = useState<string>();
  const [events, setEvents] = useState<AgentEvent[]>([]);
  const [live, setLive] = useState<LiveState>('connecting');
  const [actionError, setActionError] = useState<string>();

  const refresh = useCallback(() => {
    request<TaskAnswer>(`/api/task/${encodeURIComponent(taskId)}`).then(setTask, (err: ApiError) =>
      setLoadError(err.status === 404 ? `No task ${taskId}.` : err.message),
    );
  }, [taskId]);

  useEffect(refresh, [refresh]);
  // Follow the events once the task is known to exist (an unknown id is not retried forever).
  const exists = task !== undefined;
  useEffect(() => {
    if (!exists) return;
    return followTask(
      taskId,
      (event) => {
        setEvents((all) => [...all, event]);
        if (event.type === 'status' || isFinalEvent(event)) refresh();
      },
      setLive,
    );
  }, [taskId, exists, refresh]);

  // The clock ticks while the task runs.
  const [now, setNow] = useState(Date.now());
  const ticking = task !== undefined && task.status === 'running';
  useEffect(() => {
    if (!ticking) return;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [ticking]);

  // The final status is written just after the last event: look again until it lands.
  useEffect(() => {
    if (!task || TERMINAL_STATUSES.includes(task.status) || !events.some(isFinalEvent)) return;
    const timer = window.setTimeout(refresh, 500);
    return () => window.clearTimeout(timer);
  }, [task, events, refresh]);

  const summary = useMemo(() => events.reduce((s, e) => foldEvent(s, e), emptySummary()), [events]);
  if (loadError)
    return (
      <p className="banner error" role="alert">
        {loadError}
      </p>
    );
  if (!task) return <p className="muted">Loading…</p>;

  const ended = TERMINAL_STATUSES.includes(task.status);
  const running = !ended && !events.some(isFinalEvent);
  const issue = task.request.issue_text ?? task.request.issue_url ?? '';
  const done = events.find((e) => e.type === 'done');
  const error = events.find((e) => e.type === 'error');
  const chosen = typeof done?.data.chosen_attempt === 'number' ? done.data.chosen_attempt : null;
  const act = (work: Promise<unknown>) => work.catch((err: ApiError) => setActionError(err.message));

  return (
    <div className="task">
      <section className="panel" aria-labelledby="task-title">
        <div className="task-head">
          <h1 id="task-title">
            {issue.split('\n')[0]!.slice(0, 120) || 'Task'}{' '}
            <StatusBadge status={task.status} verdict={task.verdict ?? summary.verdict} />
          </h1>
          <p className="muted mono">
            {task.request.repo_url ?? task.request.repo_path}
            {task.request.commit ? ` @ ${task.request.commit.slice(0, 12)}` : ''} · task {taskId}
          </p>
        </div>
        <dl className="stats">
          <div>
            <dt>Attempts</dt>
            <dd>
              {summary.attempts.length} / {task.request.max_attempts}
            </dd>
          </div>
          <div>
            <dt>Tokens</dt>
            <dd>{(summary.tokens.input + summary.tokens.output).toLocaleString()}</dd>
          </div>
          <div>
            <dt>Cost</dt>
            <dd
              data-testid="cost"
              title={
                summary.unpriced_calls > 0
                  ? `${summary.unpriced_calls} model call(s) to a model with no known price`
                  : undefined
              }
            >
              {formatCost(summary.cost_usd, summary.unpriced_calls)}
            </dd>
          </div>
          <div>
            <dt>Time</dt>
            <dd>{formatDuration(ticking && task.started_at ? now - Date.parse(task.started_at) : task.duration_ms)}</dd>
          </div>
          <div>
            <dt>Live</dt>
            <dd data-testid="live-state">{live}</dd>
          </div>
        </dl>
        <div className="actions">
          <button
            type="button"
            disabled={!summary.final_patch}
            onClick={() => act(download(`/api/task/${encodeURIComponent(taskId)}/patch`, `${taskId}.diff`))}
          >
            Download patch
          </button>
          <button
            type="button"
            onClick={() =>
              act(download(`/api/task/${encodeURIComponent(taskId)}/trajectory`, `${taskId}.trajectory.jsonl`))
            }
          >
            Download trajectory
          </button>
          {!ended && (
            <button
              type="button"
              className="danger"
              onClick={() =>
                act(request(`/api/task/${encodeURIComponent(taskId)}/cancel`, { method: 'POST' }).then(refresh))
              }
            >
              Cancel
            </button>
          )}
        </div>
        {actionError && (
          <p className="banner error" role="alert">
            {actionError}
          </p>
        )}
        <details>
          <summary>Issue</summary>
          <pre className="issue">{issue}</pre>
        </details>
      </section>

      {(done || error || ended) && (
        <section
          className={`panel verdict ${summary.verdict ?? task.status}`}
          aria-labelledby="verdict-title"
          data-testid="verdict"
        >
          <h2 id="verdict-title">Verdict</h2>
          {summary.verdict && <p>{VERDICT_TEXT[summary.verdict]}</p>}
          {summary.stopped_by && <p className="muted">Stopped by: {summary.stopped_by}.</p>}
          {summary.stop_message && <p data-testid="stop-message">{summary.stop_message}</p>}
          {summary.environment && (
            <p className="muted" data-testid="environment">
              Tested in: {summary.environment.key} ({summary.environment.source})
              {summary.baseline ? `; baseline ${summary.baseline.ok ? 'passed' : 'failed'}` : ''}.
              {summary.environment.notes.length > 0 && ` ${summary.environment.notes.join(' ')}`}
            </p>
          )}
          {task.status === 'error' && (
            <p className="banner error">{task.error?.message ?? String(error?.data.message ?? 'The run failed.')}</p>
          )}
          {task.status === 'cancelled' && <p className="muted">Cancelled.</p>}
        </section>
      )}

      <div className="columns">
        <section className="panel" aria-labelledby="timeline-title">
          <h2 id="timeline-title">Timeline</h2>
          <div aria-live="polite">
            <Timeline events={events} running={running} />
          </div>
        </section>
        <Files summary={summary} />
      </div>

      {summary.attempts.map((a) => (
        <Attempt key={a.attempt} attempt={a} chosen={a.attempt === chosen} running={running} />
      ))}
    </div>
  );
}
