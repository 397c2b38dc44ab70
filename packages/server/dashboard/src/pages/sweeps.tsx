// Sweeps: the copies of a swept run as a results table (parameters, status, metrics) and a plot
// of a chosen metric against a chosen parameter.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, type PipelineGraph, type RunRecord } from '../api.js';
import { duration, nodeMetrics, time, value } from '../format.js';
import { LinePlot } from '../plot.js';
import { href, navigate } from '../router.js';
import { StatusBadge } from '../status.js';

/** The DAG pipelines that hold sweep copies, with their graphs. */
async function sweepGraphs(): Promise<Map<string, PipelineGraph>> {
  const { pipelines } = await api.pipelines();
  const graphs = await Promise.all(
    pipelines.filter((p) => p.kind === 'dag').map((p) => api.graph(p.name).catch(() => undefined)),
  );
  return new Map(
    graphs
      .filter((g): g is PipelineGraph => g?.nodes.some((n) => n.point !== undefined) === true)
      .map((g) => [g.name, g]),
  );
}

export function SweepsPage({ id }: { id: string | undefined }) {
  const [graphs, setGraphs] = useState<Map<string, PipelineGraph> | undefined>();
  const [runs, setRuns] = useState<RunRecord[]>([]);
  const [run, setRun] = useState<RunRecord | undefined>();
  const [metric, setMetric] = useState('');
  const [param, setParam] = useState('');
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    sweepGraphs()
      .then(async (found) => {
        setGraphs(found);
        const page = await api.runs({ limit: 200 });
        setRuns(page.runs.filter((r) => found.has(r.pipeline)));
      })
      .catch((e: Error) => setError(e.message));
  }, []);

  const chosen = id ?? runs[0]?.jobId;
  useEffect(() => {
    if (chosen === undefined) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const record = await api.run(chosen);
        if (!live) return;
        setRun(record);
        if (record.status === 'QUEUED' || record.status === 'RUNNING') {
          timer = setTimeout(() => void load(), 2000);
        }
      } catch (e) {
        if (live) setError((e as Error).message);
      }
    };
    void load();
    return () => {
      live = false;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [chosen]);

  const graph = run === undefined ? undefined : graphs?.get(run.pipeline);
  const table = useMemo(() => {
    if (graph === undefined || run === undefined) return undefined;
    const copies = graph.nodes.filter((n) => n.point !== undefined);
    const params = [...new Set(copies.flatMap((n) => Object.keys(n.point ?? {})))];
    const rows = copies.map((n) => ({
      id: n.id,
      point: n.point ?? {},
      node: run.nodes?.[n.id],
      metrics: nodeMetrics(run.metrics, n.id),
    }));
    const metrics = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))].sort();
    return { params, rows, metrics };
  }, [graph, run]);

  const numericParams =
    table?.params.filter((p) => table.rows.some((r) => typeof r.point[p] === 'number')) ?? [];
  const x = numericParams.includes(param) ? param : (numericParams[0] ?? '');
  const y = table?.metrics.includes(metric) ? metric : (table?.metrics[0] ?? '');
  const points =
    table?.rows.flatMap((r) => {
      const px = r.point[x];
      const py = r.metrics[y];
      return typeof px === 'number' && py !== undefined ? [{ x: px, y: py, label: r.id }] : [];
    }) ?? [];

  return (
    <main>
      <h1>Sweeps</h1>
      {error === undefined ? null : (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {graphs === undefined ? (
        <p aria-busy="true">Loading…</p>
      ) : graphs.size === 0 ? (
        <p class="empty">
          No pipeline of this server sweeps parameters. A pipeline built with <code>planSweep</code>{' '}
          of @phys/sweep shows its results here.
        </p>
      ) : (
        <form class="filters" onSubmit={(e) => e.preventDefault()}>
          <label>
            Run{' '}
            <select
              value={chosen ?? ''}
              onChange={(e) =>
                navigate({ page: 'sweeps', id: (e.target as HTMLSelectElement).value })
              }
            >
              {chosen !== undefined && !runs.some((r) => r.jobId === chosen) ? (
                <option value={chosen}>{chosen}</option>
              ) : null}
              {runs.map((r) => (
                <option key={r.jobId} value={r.jobId}>
                  {r.jobId} ({r.pipeline}, {time(r.submittedAt)})
                </option>
              ))}
            </select>
          </label>
          {table === undefined ? null : (
            <>
              <label>
                Metric{' '}
                <select
                  value={y}
                  onChange={(e) => setMetric((e.target as HTMLSelectElement).value)}
                >
                  {table.metrics.map((m) => (
                    <option key={m} value={m}>
                      {m}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                against{' '}
                <select value={x} onChange={(e) => setParam((e.target as HTMLSelectElement).value)}>
                  {numericParams.map((p) => (
                    <option key={p} value={p}>
                      {p}
                    </option>
                  ))}
                </select>
              </label>
            </>
          )}
        </form>
      )}
      {run === undefined || table === undefined ? (
        graphs !== undefined && graphs.size > 0 && runs.length === 0 && id === undefined ? (
          <p class="empty">No runs of a sweep yet.</p>
        ) : null
      ) : (
        <>
          <p>
            <a href={href({ page: 'run', id: run.jobId })}>{run.jobId}</a>{' '}
            <StatusBadge status={run.status} /> · {table.rows.length} points
          </p>
          {y === '' || x === '' ? null : <LinePlot points={points} xLabel={x} yLabel={y} />}
          <table class="results">
            <thead>
              <tr>
                <th scope="col">Node</th>
                {table.params.map((p) => (
                  <th scope="col" key={`p-${p}`}>
                    {p}
                  </th>
                ))}
                <th scope="col">Status</th>
                <th scope="col">Duration</th>
                {table.metrics.map((m) => (
                  <th scope="col" key={`m-${m}`}>
                    {m}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {table.rows.map((r) => (
                <tr key={r.id}>
                  <td>{r.id}</td>
                  {table.params.map((p) => (
                    <td key={`p-${p}`} class="num">
                      {r.point[p] === undefined ? '–' : value(r.point[p])}
                    </td>
                  ))}
                  <td>
                    <StatusBadge status={r.node?.status ?? 'QUEUED'} />
                  </td>
                  <td>{duration(r.node?.durationSeconds)}</td>
                  {table.metrics.map((m) => (
                    <td key={`m-${m}`} class="num">
                      {r.metrics[m] === undefined ? '–' : value(r.metrics[m])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </main>
  );
}
