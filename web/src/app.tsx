import { useEffect, useState } from 'react';
import { apiKey, setApiKey } from './api-client.js';
import { Dashboard } from './components/dashboard.js';
import { History } from './components/history.js';
import { SubmitForm } from './components/submit-form.js';
import { TaskView } from './components/task-view.js';

/** The pages, addressed by the URL's hash so a reload (or a shared link) lands on the same one. */
type Route = { page: 'submit' } | { page: 'task'; id: string } | { page: 'history' } | { page: 'dashboard' };

function parseRoute(hash: string): Route {
  const task = /^#\/task\/([^/?#]+)/.exec(hash);
  if (task) return { page: 'task', id: decodeURIComponent(task[1]!) };
  if (hash.startsWith('#/history')) return { page: 'history' };
  if (hash.startsWith('#/dashboard')) return { page: 'dashboard' };
  return { page: 'submit' };
}

/** Goes to a page. */
export function navigate(hash: string): void {
  window.location.hash = hash;
}

/** The API key field (kept in this browser; needed only when the server sets FIXWRIGHT_API_KEYS). */
function KeyField() {
  const [key, setKey] = useState(apiKey());
  return (
    <form
      className="key"
      onSubmit={(e) => {
        e.preventDefault();
        setApiKey(key);
        window.location.reload();
      }}
    >
      <label htmlFor="api-key">API key</label>
      <input
        id="api-key"
        type="password"
        autoComplete="off"
        value={key}
        onChange={(e) => setKey(e.target.value)}
        placeholder="only if the server needs one"
      />
      <button type="submit">Save</button>
    </form>
  );
}

export function App() {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onHash = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const link = (page: Route['page'], hash: string, label: string) => (
    <a href={hash} aria-current={route.page === page ? 'page' : undefined}>
      {label}
    </a>
  );
  return (
    <>
      <header className="top">
        <a className="brand" href="#/">
          fixwright
        </a>
        <nav aria-label="Pages">
          {link('submit', '#/', 'New task')}
          {link('history', '#/history', 'History')}
          {link('dashboard', '#/dashboard', 'Dashboard')}
          <a href="/docs">API docs</a>
        </nav>
        <KeyField />
      </header>
      <main>
        {route.page === 'submit' && <SubmitForm onSubmitted={(id) => navigate(`#/task/${encodeURIComponent(id)}`)} />}
        {route.page === 'task' && <TaskView key={route.id} taskId={route.id} />}
        {route.page === 'history' && <History />}
        {route.page === 'dashboard' && <Dashboard />}
      </main>
    </>
  );
}
