/** One test's outcome as the sandbox's pytest plugin reports it. */
interface Outcome {
  status: string;
  duration?: number;
  message?: string;
}

interface Run {
  outcomes?: Record<string, Outcome>;
  exit_code?: number | null;
  timed_out?: boolean;
  output?: string;
}

const PASSING = new Set(['PASSED', 'XFAIL']);

function Badge(props: { status: string | undefined }) {
  const status = props.status ?? 'MISSING';
  const tone = PASSING.has(status) ? 'ok' : status === 'SKIPPED' ? 'muted' : 'bad';
  return <span className={`badge ${tone}`}>{status}</span>;
}

/**
 * An attempt's tests: the reproduction test before and after the patch, the existing tests of the
 * touched modules after it (regressions marked), and the raw output folded away.
 */
export function TestTable(props: { tests: Record<string, unknown> }) {
  const before = props.tests.before as Run | undefined;
  const after = props.tests.after as Run | undefined;
  const existing = props.tests.existing_after as Run | undefined;
  const regressions = new Set((props.tests.regressions as string[] | undefined) ?? []);
  const why = (props.tests.existing_why as Array<{ path: string; reason: string }> | undefined) ?? [];
  const ids = [...new Set([...Object.keys(before?.outcomes ?? {}), ...Object.keys(after?.outcomes ?? {})])];
  const existingIds = Object.keys(existing?.outcomes ?? {});
  return (
    <div className="tests">
      {ids.length > 0 ? (
        <table className="data">
          <caption>Reproduction test</caption>
          <thead>
            <tr>
              <th scope="col">test</th>
              <th scope="col">before the patch</th>
              <th scope="col">after the patch</th>
            </tr>
          </thead>
          <tbody>
            {ids.map((id) => (
              <tr key={id}>
                <td className="mono">{id}</td>
                <td>
                  <Badge status={before?.outcomes?.[id]?.status} />
                </td>
                <td>
                  <Badge status={after?.outcomes?.[id]?.status} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">No reproduction test ran.</p>
      )}
      {existingIds.length > 0 && (
        <table className="data">
          <caption>
            Existing tests of the touched modules (
            {existingIds.filter((id) => PASSING.has(existing!.outcomes![id]!.status)).length}/{existingIds.length}{' '}
            passing
            {regressions.size ? `, ${regressions.size} newly failing` : ''})
          </caption>
          <thead>
            <tr>
              <th scope="col">test</th>
              <th scope="col">after the patch</th>
            </tr>
          </thead>
          <tbody>
            {existingIds.map((id) => (
              <tr key={id} className={regressions.has(id) ? 'regression' : undefined}>
                <td className="mono">
                  {id}
                  {regressions.has(id) && <span className="badge bad">regression</span>}
                </td>
                <td>
                  <Badge status={existing!.outcomes![id]!.status} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {why.length > 0 && (
        <details data-testid="regression-why">
          <summary>Why these existing tests ran ({why.length} files)</summary>
          <ul>
            {why.map((w) => (
              <li key={w.path}>
                <span className="mono">{w.path}</span>: {w.reason}
              </li>
            ))}
          </ul>
        </details>
      )}
      {after?.timed_out && <p className="banner error">The tests ran past their time limit.</p>}
      {(before?.output || after?.output) && (
        <details>
          <summary>Test output</summary>
          {before?.output && (
            <>
              <h4>Before the patch (exit {before.exit_code ?? '–'})</h4>
              <pre>{before.output}</pre>
            </>
          )}
          {after?.output && (
            <>
              <h4>After the patch (exit {after.exit_code ?? '–'})</h4>
              <pre>{after.output}</pre>
            </>
          )}
        </details>
      )}
    </div>
  );
}
