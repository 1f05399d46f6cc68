import { useEffect, useState } from 'react';
import { ApiError, request } from '../api-client.js';
import { formatCost } from '../timeline.js';

interface TaskItem {
  task_id: string;
  status: string;
  verdict: string | null;
  created_at: string;
  repo: string;
  issue_title: string;
  attempts: number;
  cost_usd: number;
  unpriced_calls?: number;
}

const STATUSES = ['', 'queued', 'running', 'finished', 'cancelled', 'error'];

/** Recent tasks, newest first, filtered by status, a page at a time. */
export function History() {
  const [status, setStatus] = useState('');
  const [tasks, setTasks] = useState<TaskItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string>();
  const load = (from: string | null, replace: boolean) => {
    const query = new URLSearchParams({
      limit: '25',
      ...(status ? { status } : {}),
      ...(from ? { cursor: from } : {}),
    });
    request<{ tasks: TaskItem[]; next_cursor: string | null }>(`/api/tasks?${query}`).then(
      (page) => {
        setTasks((all) => (replace ? page.tasks : [...all, ...page.tasks]));
        setCursor(page.next_cursor);
        setError(undefined);
      },
      (err: ApiError) => setError(err.message),
    );
  };
  useEffect(() => load(null, true), [status]);
  return (
    <section className="panel" aria-labelledby="history-title">
      <h1 id="history-title">History</h1>
      <div className="field inline">
        <label htmlFor="status-filter">Status</label>
        <select id="status-filter" value={status} onChange={(e) => setStatus(e.target.value)}>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s || 'all'}
            </option>
          ))}
        </select>
      </div>
      {error && (
        <p className="banner error" role="alert">
          {error}
        </p>
      )}
      <table className="data history">
        <thead>
          <tr>
            <th scope="col">issue</th>
            <th scope="col">repository</th>
            <th scope="col">status</th>
            <th scope="col">attempts</th>
            <th scope="col">cost</th>
            <th scope="col">submitted</th>
          </tr>
        </thead>
        <tbody>
          {tasks.map((t) => (
            <tr key={t.task_id}>
              <td>
                <a href={`#/task/${encodeURIComponent(t.task_id)}`}>{t.issue_title || t.task_id}</a>
              </td>
              <td className="mono">{t.repo}</td>
              <td>
                <span className={`badge ${t.verdict === 'resolved' ? 'ok' : t.status === 'error' ? 'bad' : 'muted'}`}>
                  {t.status === 'finished' && t.verdict ? t.verdict : t.status}
                </span>
              </td>
              <td>{t.attempts}</td>
              <td>{formatCost(t.cost_usd, t.unpriced_calls)}</td>
              <td>
                <time dateTime={t.created_at}>{new Date(t.created_at).toLocaleString()}</time>
              </td>
            </tr>
          ))}
          {tasks.length === 0 && !error && (
            <tr>
              <td colSpan={6} className="muted">
                No tasks yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {cursor && (
        <button type="button" onClick={() => load(cursor, false)}>
          Load more
        </button>
      )}
    </section>
  );
}
