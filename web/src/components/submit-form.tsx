import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, request } from '../api-client.js';
import { describedBy, Field } from './field.js';

/** What the server allows (GET /api/config). */
interface ServerConfig {
  default_model: string | null;
  repo_path_allowed: boolean;
  repo_roots: string[];
  max_attempts: { min: number; max: number; default: number };
  /** Candidate fixes per attempt a request may ask for (absent from servers older than sampling). */
  samples?: { min: number; max: number; default: number };
  /** Demo mode (`fixwright serve --demo`): the bundled task the demo button submits. */
  demo?: { repo_path: string; issue_text: string; model: string } | null;
}

type Fields = 'repo' | 'commit' | 'issue' | 'model' | 'max_attempts' | 'samples';
type Errors = Partial<Record<Fields, string>>;

const REPO_URL = /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+?(\.git)?\/?$/;
const ISSUE_URL = /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+\/issues\/\d+\/?(?:[?#]\S*)?$/;
const COMMIT = /^[A-Za-z0-9._/][A-Za-z0-9._/~^-]{0,199}$/;

/** The server's field names, mapped onto the form's. */
const SERVER_FIELD: Record<string, Fields> = {
  repo_url: 'repo',
  repo_path: 'repo',
  commit: 'commit',
  issue_text: 'issue',
  issue_url: 'issue',
  model: 'model',
  max_attempts: 'max_attempts',
  samples: 'samples',
};

/** Checks the form as the server would, so most mistakes show before a request is sent. */
function validate(
  v: { source: 'url' | 'path'; repo: string; commit: string; issue: string; maxAttempts: string; samples: string },
  config: ServerConfig | undefined,
): Errors {
  const errors: Errors = {};
  const repo = v.repo.trim();
  if (!repo) errors.repo = 'Give the repository.';
  else if (v.source === 'url' && !REPO_URL.test(repo))
    errors.repo = 'Use a GitHub URL like https://github.com/owner/name.';
  else if (v.source === 'path' && !repo.startsWith('/'))
    errors.repo = 'Use an absolute path on the server, like /srv/repos/project.';
  if (v.commit.trim() && !COMMIT.test(v.commit.trim()))
    errors.commit = 'A commit is a SHA or a revision such as main or HEAD~1 (letters, digits, . _ / - ~ ^).';
  const issue = v.issue.trim();
  if (!issue) errors.issue = 'Describe the issue, or paste a GitHub issue URL.';
  else if (/^https?:\/\//.test(issue) && !issue.includes('\n') && !ISSUE_URL.test(issue))
    errors.issue = 'An issue URL looks like https://github.com/owner/name/issues/123.';
  const n = Number(v.maxAttempts);
  const { min, max } = config?.max_attempts ?? { min: 1, max: 10 };
  if (!Number.isInteger(n) || n < min || n > max) errors.max_attempts = `A whole number from ${min} to ${max}.`;
  const k = Number(v.samples);
  const samples = config?.samples ?? { min: 1, max: 8 };
  if (!Number.isInteger(k) || k < samples.min || k > samples.max)
    errors.samples = `A whole number from ${samples.min} to ${samples.max}${config?.samples ? " (this server's limit)" : ''}.`;
  return errors;
}

/** What the model field says of the server's default, which only a loaded config can tell. */
function modelHint(config: ServerConfig | undefined, needsKey: boolean): string {
  if (config)
    return config.default_model ? `Default: ${config.default_model}` : 'The server has no default model: name one.';
  if (needsKey) return "Enter the API key to see the server's default model; leave empty to use it.";
  return "Leave empty to use the server's default model.";
}

/** The submit page: repository, commit, issue, model, attempts, candidates per attempt; errors shown next to their field. */
export function SubmitForm(props: { onSubmitted: (taskId: string) => void }) {
  const [config, setConfig] = useState<ServerConfig>();
  const [configError, setConfigError] = useState<string>();
  // The server's settings are behind the API key when it sets FIXWRIGHT_API_KEYS: until the key is
  // given they are unknown, which is not the same as "none".
  const [needsKey, setNeedsKey] = useState(false);
  const [source, setSource] = useState<'url' | 'path'>('url');
  const [repo, setRepo] = useState('');
  const [commit, setCommit] = useState('');
  const [issue, setIssue] = useState('');
  const [model, setModel] = useState('');
  const [maxAttempts, setMaxAttempts] = useState('3');
  const [samples, setSamples] = useState('1');
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState<string>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    request<ServerConfig>('/api/config').then(
      (c) => {
        setConfig(c);
        setMaxAttempts(String(c.max_attempts.default));
        if (c.samples) setSamples(String(c.samples.default));
        if (c.repo_path_allowed) setSource('path');
      },
      (err: ApiError) => {
        if (err.status === 401) {
          setNeedsKey(true);
          setConfigError(`This server needs an API key: enter it under "API key" above and save (${err.message}).`);
        } else setConfigError(err.message);
      },
    );
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const found = validate({ source, repo, commit, issue, maxAttempts, samples }, config);
    setErrors(found);
    setFormError(undefined);
    if (Object.keys(found).length > 0) {
      document.getElementById(`f-${Object.keys(found)[0]}`)?.focus();
      return;
    }
    const text = issue.trim();
    await send({
      ...(source === 'url' ? { repo_url: repo.trim() } : { repo_path: repo.trim() }),
      ...(commit.trim() ? { commit: commit.trim() } : {}),
      ...(ISSUE_URL.test(text) ? { issue_url: text } : { issue_text: issue }),
      ...(model.trim() ? { model: model.trim() } : {}),
      max_attempts: Number(maxAttempts),
      samples: Number(samples),
    });
  };

  const send = async (body: Record<string, unknown>) => {
    setBusy(true);
    try {
      const accepted = await request<{ task_id: string }>('/api/solve', { body });
      props.onSubmitted(accepted.task_id);
    } catch (err) {
      const apiError = err as ApiError;
      const field = apiError.field ? SERVER_FIELD[apiError.field] : undefined;
      if (field) {
        setErrors({ [field]: apiError.message });
        document.getElementById(`f-${field}`)?.focus();
      } else setFormError(apiError.message);
    } finally {
      setBusy(false);
    }
  };

  // The form shows what the demo submits, so a newcomer sees a task is nothing more than these fields.
  const runDemo = async (demo: NonNullable<ServerConfig['demo']>) => {
    setSource('path');
    setRepo(demo.repo_path);
    setIssue(demo.issue_text);
    setModel(demo.model);
    setErrors({});
    setFormError(undefined);
    // The demo needs its second attempt (the first is rejected by design), whatever the field holds.
    const attempts = config?.max_attempts.default ?? 3;
    setMaxAttempts(String(attempts));
    await send({ repo_path: demo.repo_path, issue_text: demo.issue_text, model: demo.model, max_attempts: attempts });
  };

  return (
    <section aria-labelledby="submit-title" className="panel">
      <h1 id="submit-title">Fix an issue</h1>
      <p className="lead">
        fixwright finds the files the issue is about, asks the model for a fix and a test that reproduces the bug, and
        proves the fix in a locked-down sandbox.
      </p>
      {configError && (
        <p className="banner error" role="alert">
          {configError}
        </p>
      )}
      {config?.demo && (
        <div className="banner demo" data-testid="demo">
          <p>
            <strong>Demo mode.</strong> A bundled buggy repository and a scripted model on this server: no key, no
            network. Watch fixwright localise the bug, have a first patch rejected for breaking a neighbouring test,
            reflect, and prove the right fix.
          </p>
          <button type="button" className="primary" disabled={busy} onClick={() => void runDemo(config.demo!)}>
            Run the demo
          </button>
        </div>
      )}
      <form onSubmit={submit} noValidate>
        <fieldset className="source">
          <legend>Repository</legend>
          <label>
            <input
              type="radio"
              name="source"
              value="url"
              checked={source === 'url'}
              onChange={() => setSource('url')}
            />{' '}
            GitHub URL
          </label>
          <label title={config && !config.repo_path_allowed ? 'This server sets no FIXWRIGHT_REPO_ROOTS' : undefined}>
            <input
              type="radio"
              name="source"
              value="path"
              checked={source === 'path'}
              disabled={config !== undefined && !config.repo_path_allowed}
              onChange={() => setSource('path')}
            />{' '}
            Path on the server
          </label>
        </fieldset>
        <Field
          id="f-repo"
          label={source === 'url' ? 'Repository URL' : 'Repository path'}
          error={errors.repo}
          hint={
            source === 'url'
              ? 'https://github.com/owner/name (cloned by the worker)'
              : config?.repo_roots.length
                ? `Inside ${config.repo_roots.join(' or ')}`
                : 'An absolute path on the server'
          }
        >
          <input
            id="f-repo"
            name="repo"
            value={repo}
            onChange={(e) => setRepo(e.target.value)}
            placeholder={source === 'url' ? 'https://github.com/owner/name' : '/srv/repos/project'}
            autoComplete="off"
            spellCheck={false}
            {...describedBy('f-repo', errors.repo)}
          />
        </Field>
        <Field
          id="f-commit"
          label="Commit (optional)"
          error={errors.commit}
          hint="Work on this commit; empty means the checkout as it is."
        >
          <input
            id="f-commit"
            name="commit"
            value={commit}
            onChange={(e) => setCommit(e.target.value)}
            placeholder="e.g. 3f2a9c1"
            autoComplete="off"
            spellCheck={false}
            {...describedBy('f-commit', errors.commit)}
          />
        </Field>
        <Field id="f-issue" label="Issue" error={errors.issue} hint="The issue's text, or a GitHub issue URL.">
          <textarea
            id="f-issue"
            name="issue"
            rows={9}
            value={issue}
            onChange={(e) => setIssue(e.target.value)}
            placeholder={'add(2, 3) returns -1 instead of 5\n\nSteps to reproduce: …'}
            {...describedBy('f-issue', errors.issue)}
          />
        </Field>
        <div className="row">
          <Field id="f-model" label="Model" error={errors.model} hint={modelHint(config, needsKey)}>
            <input
              id="f-model"
              name="model"
              value={model}
              onChange={(e) => setModel(e.target.value)}
              placeholder={config?.default_model ?? 'gpt-4o-mini'}
              autoComplete="off"
              spellCheck={false}
              {...describedBy('f-model', errors.model)}
            />
          </Field>
          <Field
            id="f-max_attempts"
            label="Max attempts"
            error={errors.max_attempts}
            hint="Each failed attempt is reflected on and retried."
          >
            <input
              id="f-max_attempts"
              name="max_attempts"
              type="number"
              inputMode="numeric"
              min={config?.max_attempts.min ?? 1}
              max={config?.max_attempts.max ?? 10}
              value={maxAttempts}
              onChange={(e) => setMaxAttempts(e.target.value)}
              {...describedBy('f-max_attempts', errors.max_attempts)}
            />
          </Field>
          <Field
            id="f-samples"
            label="Candidates per attempt"
            error={errors.samples}
            hint={`Each candidate is one more model call; the tests pick one.${config?.samples ? ` At most ${config.samples.max} here.` : ''}`}
          >
            <input
              id="f-samples"
              name="samples"
              type="number"
              inputMode="numeric"
              min={config?.samples?.min ?? 1}
              max={config?.samples?.max ?? 8}
              value={samples}
              onChange={(e) => setSamples(e.target.value)}
              {...describedBy('f-samples', errors.samples)}
            />
          </Field>
        </div>
        {formError && (
          <p className="banner error" role="alert">
            {formError}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Submitting…' : 'Fix it'}
        </button>
      </form>
    </section>
  );
}
