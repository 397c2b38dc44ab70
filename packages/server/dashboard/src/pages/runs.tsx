// Runs: every run of the server, newest first, with filters and pages, kept live by the
// server's change stream.
import { useEffect, useState } from 'preact/hooks';
import { api, changesUrl, type RunRecord, type RunSummary } from '../api.js';
import { runDuration, time, trigger } from '../format.js';
import { href } from '../router.js';
import { EXECUTION_STATUSES, StatusBadge } from '../status.js';

const PAGE_SIZE = 25;
type Row = Omit<RunRecord, 'nodes' | 'outputs' | 'metrics'>;

export function RunsPage() {
  const [pipelines, setPipelines] = useState<string[]>([]);
  const [pipeline, setPipeline] = useState('');
  const [status, setStatus] = useState('');
  // The cursors of the pages before this one (the first page has none).
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [rows, setRows] = useState<Row[] | undefined>();
  const [next, setNext] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [, setTick] = useState(0);
  const cursor = cursors[cursors.length - 1];

  useEffect(() => {
    api
      .pipelines()
      .then((p) => setPipelines(p.pipelines.map((x) => x.name)))
      .catch(() => {});
  }, []);

  useEffect(() => {
    let live = true;
    setRows(undefined);
    api
      .runs({
        ...(pipeline === '' ? {} : { pipeline }),
        ...(status === '' ? {} : { status }),
        limit: PAGE_SIZE,
        ...(cursor === undefined ? {} : { cursor }),
      })
      .then((page) => {
        if (!live) return;
        setRows(page.runs);
        setNext(page.nextCursor);
        setError(undefined);
      })
      .catch((e: Error) => live && setError(e.message));
    return () => {
      live = false;
    };
  }, [pipeline, status, cursor]);

  // Live: a changed run is updated in place; a new one that matches the filters comes first
  // (on the first page only: later pages stay as they were when opened).
  useEffect(() => {
    const source = new EventSource(changesUrl);
    source.addEventListener('run', (event) => {
      const run = JSON.parse((event as MessageEvent<string>).data) as RunSummary;
      const { nodeCount: _n, ...row } = run;
      setRows((current) => {
        if (current === undefined) return current;
        const at = current.findIndex((r) => r.jobId === run.jobId);
        if (at >= 0) return current.map((r, i) => (i === at ? row : r));
        const matches =
          cursor === undefined &&
          (pipeline === '' || run.pipeline === pipeline) &&
          (status === '' || status.split(',').includes(run.status));
        return matches ? [row, ...current].slice(0, PAGE_SIZE) : current;
      });
    });
    return () => source.close();
  }, [pipeline, status, cursor]);

  // Durations of running runs count up.
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), 1000);
    return () => clearInterval(timer);
  }, []);

  const reset = () => setCursors([undefined]);
  return (
    <main>
      <h1>Runs</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Pipeline{' '}
          <select
            value={pipeline}
            onChange={(e) => {
              setPipeline((e.target as HTMLSelectElement).value);
              reset();
            }}
          >
            <option value="">all</option>
            {pipelines.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status{' '}
          <select
            value={status}
            onChange={(e) => {
              setStatus((e.target as HTMLSelectElement).value);
              reset();
            }}
          >
            <option value="">all</option>
            <option value="QUEUED,RUNNING">active</option>
            {EXECUTION_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.toLowerCase()}
              </option>
            ))}
          </select>
        </label>
      </form>
      {error === undefined ? null : (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <table class="runs">
        <thead>
          <tr>
            <th scope="col">Status</th>
            <th scope="col">Run</th>
            <th scope="col">Pipeline</th>
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
            <th scope="col">Attempts</th>
            <th scope="col">Trigger</th>
          </tr>
        </thead>
        <tbody>
          {rows === undefined ? (
            <tr>
              <td colSpan={7}>Loading…</td>
            </tr>
          ) : rows.length === 0 ? (
            <tr>
              <td colSpan={7} class="empty">
                No runs
                {pipeline === '' && status === ''
                  ? ' yet. Submit one with `phys submit <pipeline>`.'
                  : ' match these filters.'}
              </td>
            </tr>
          ) : (
            rows.map((run) => (
              <tr key={run.jobId} data-run={run.jobId}>
                <td>
                  <StatusBadge status={run.status} />
                </td>
                <td>
                  <a href={href({ page: 'run', id: run.jobId })}>{run.jobId}</a>
                </td>
                <td>{run.pipeline}</td>
                <td>{time(run.startedAt ?? run.submittedAt)}</td>
                <td>{runDuration(run)}</td>
                <td>
                  {run.attempt}/{run.maxAttempts}
                </td>
                <td>{trigger(run)}</td>
              </tr>
            ))
          )}
        </tbody>
      </table>
      <nav class="pager" aria-label="Pages of runs">
        <button
          type="button"
          disabled={cursors.length <= 1}
          onClick={() => setCursors((c) => c.slice(0, -1))}
        >
          ← Newer
        </button>
        <span>Page {cursors.length}</span>
        <button
          type="button"
          disabled={next === undefined}
          onClick={() => setCursors((c) => [...c, next])}
        >
          Older →
        </button>
      </nav>
    </main>
  );
}
