import type { AttemptView, CandidateView } from '../../../events/index.js';
import { formatCost } from '../timeline.js';

const CONTEXT_CUT: Record<string, string> = {
  conformal_set: 'conformal set',
  top_file: 'top file',
  top_k_functions: 'top functions',
};

const dash = <span className="muted">–</span>;

/** Its group (equal changes are tested once and vote together) and the group's size. */
function groupText(c: CandidateView) {
  if (c.group === null) return <span className="muted">no change</span>;
  if (c.group === undefined) return dash;
  const votes = c.votes ?? 1;
  return `${c.group === c.candidate ? 'own' : `as ${c.group}`} · ${votes} vote${votes === 1 ? '' : 's'}`;
}

/** Its model call's tokens, in and out (the select log's `input_tokens`, `output_tokens`). */
function tokensText(c: CandidateView) {
  if (c.input_tokens === undefined && c.output_tokens === undefined) return dash;
  const n = (x: number | undefined) => (x === undefined ? '–' : x.toLocaleString('en-US'));
  return `${n(c.input_tokens)} / ${n(c.output_tokens)}`;
}

/**
 * The failure's message without its category in front: the agent writes `regression: …`, and the
 * category is already shown as a badge beside it.
 */
export function failureDetail(category: string, message: string | null | undefined): string {
  if (!message) return '';
  for (const prefix of [category, category.replace(/_/g, ' ')]) {
    if (message.toLowerCase().startsWith(`${prefix.toLowerCase()}:`)) return message.slice(prefix.length + 1).trim();
  }
  return message;
}

/** What its model call cost; a model with no known price costs "unpriced", never $0. */
function costText(c: CandidateView) {
  if (c.unpriced) return 'unpriced';
  return c.cost_usd === undefined ? dash : formatCost(c.cost_usd);
}

/** The caption's end: a run still testing its candidates has not picked, which is not "none was picked". */
function selectionText(selection: AttemptView['selection']): string {
  if (!selection) return '; not judged yet';
  return selection.winner !== null ? `; the tests picked candidate ${selection.winner}` : '; none was picked';
}

/**
 * An attempt's candidates (issue 17's sampling): one row each, best first, the winner marked, then
 * why it won and the judge tests that rated every candidate. The table shows only when the attempt
 * drew more than one; the selection shows whenever the run made one.
 */
export function CandidateTable(props: { attempt: AttemptView }) {
  const { attempt } = props;
  const candidates = attempt.candidates ?? [];
  const selection = attempt.selection;
  if (candidates.length < 2 && !selection) return null;
  const winner = selection?.winner ?? null;
  const id = `candidates-${attempt.attempt}`;
  // The chosen candidate's diff is the attempt's, shown below; the others are folded away here.
  const others = candidates.filter((c) => c.candidate !== (attempt.candidate ?? 1) && c.diff);
  return (
    <section className="candidates" aria-labelledby={id} data-testid={id}>
      <h4 id={id}>Candidates</h4>
      {attempt.sampling && (
        <p className="muted" data-testid="sampling-stopped">
          {attempt.sampling.drawn} of {attempt.sampling.wanted} candidates drawn: the{' '}
          {attempt.sampling.stopped_by === 'cost' ? 'cost cap' : attempt.sampling.stopped_by} stopped sampling.
        </p>
      )}
      {candidates.length > 1 && (
        <div className="table-scroll">
          <table className="data candidates">
            <caption>
              {candidates.length} candidates{selectionText(selection)}
            </caption>
            <thead>
              <tr>
                <th scope="col">candidate</th>
                <th scope="col">temperature</th>
                <th scope="col">context</th>
                <th scope="col">group</th>
                <th scope="col">judge tests passed</th>
                <th scope="col">regressions</th>
                <th scope="col">failure</th>
                <th scope="col">tokens (in / out)</th>
                <th scope="col">cost</th>
              </tr>
            </thead>
            <tbody>
              {candidates.map((c) => (
                <tr
                  key={c.candidate}
                  className={c.candidate === winner ? 'winner' : undefined}
                  aria-current={c.candidate === winner ? 'true' : undefined}
                >
                  <th scope="row">
                    {c.candidate}
                    {c.candidate === winner && <span className="badge ok">chosen</span>}
                  </th>
                  <td>{c.temperature ?? dash}</td>
                  <td>{c.context_cut ? (CONTEXT_CUT[c.context_cut] ?? c.context_cut) : dash}</td>
                  <td>{groupText(c)}</td>
                  <td>
                    {c.tests_passed !== undefined && c.tests_valid !== undefined
                      ? `${c.tests_passed} of ${c.tests_valid}`
                      : dash}
                  </td>
                  <td className="mono">
                    {c.regressions === undefined
                      ? dash
                      : c.regressions.length === 0
                        ? 'none'
                        : c.regressions.join(', ')}
                  </td>
                  <td>
                    {c.failure ? (
                      <>
                        <span className="badge bad">{c.failure.replace(/_/g, ' ')}</span>
                        {failureDetail(c.failure, c.message) && (
                          <span className="detail"> {failureDetail(c.failure, c.message)}</span>
                        )}
                      </>
                    ) : c.failure === null ? (
                      'none'
                    ) : (
                      dash
                    )}
                  </td>
                  <td>{tokensText(c)}</td>
                  <td>{costText(c)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {selection && (
        <>
          <p data-testid="selection-reason">
            <strong>{winner !== null ? `Chosen: candidate ${winner}.` : 'No candidate chosen.'}</strong>{' '}
            {selection.reason}
          </p>
          {selection.judges.length > 0 && (
            <details data-testid="judges" open={candidates.length > 1}>
              <summary>
                Judge tests ({selection.judges.filter((j) => j.valid).length} of {selection.judges.length} valid)
              </summary>
              <ul>
                {selection.judges.map((j) => (
                  <li key={`${j.source}:${j.path}`}>
                    <span className="mono">{j.path}</span> from {j.source}:{' '}
                    {j.valid ? <span className="badge ok">valid</span> : <span className="badge muted">not valid</span>}
                    {j.why && <span className="muted"> ({j.why})</span>}
                  </li>
                ))}
              </ul>
            </details>
          )}
        </>
      )}
      {others.length > 0 && (
        <details>
          <summary>The other candidates' diffs</summary>
          {others.map((c) => (
            <div key={c.candidate}>
              <h5>Candidate {c.candidate}</h5>
              <pre>{c.diff}</pre>
            </div>
          ))}
        </details>
      )}
    </section>
  );
}
