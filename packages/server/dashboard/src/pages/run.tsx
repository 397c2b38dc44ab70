// Run: one run's graph, coloured by status and updated live from its event stream, with a
// panel of the selected node (or group of sweep copies), and the cancel and retry buttons.
import type { SerializedPhysError } from '@phys/core';
import { Fragment } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  api,
  type GraphNode,
  type PipelineGraph,
  type RunEvent,
  type RunRecord,
  runEventsUrl,
} from '../api.js';
import { duration, nodeMetrics, runDuration, TERMINAL, time, trigger, value } from '../format.js';
import { countStatuses, type DrawnNode, GROUP_ABOVE, Graph } from '../graph.js';
import { href, navigate } from '../router.js';
import { StatusBadge } from '../status.js';

type LogLine = Extract<RunEvent, { type: 'log' }>;
interface NodeTimes {
  started?: string;
  ended?: string;
}

/** A node's duration: the record's once the run wrote it, else from its events' times. */
function nodeDuration(seconds: number | undefined, times: NodeTimes | undefined): string {
  if (seconds !== undefined) return duration(seconds);
  if (times?.started === undefined || times.ended === undefined) return '–';
  return duration((Date.parse(times.ended) - Date.parse(times.started)) / 1000);
}

/** The last lines of stderr an error carries (a command's or a process's), from it or a cause. */
function stderrTail(error: SerializedPhysError | undefined): string | undefined {
  for (let e = error; e !== undefined; e = e.cause) {
    const tail = e.details?.stderrTail ?? e.fields?.stderrTail;
    if (typeof tail === 'string' && tail !== '') return tail;
  }
  return undefined;
}

function ErrorView({ error }: { error: SerializedPhysError }) {
  const tail = stderrTail(error);
  return (
    <div class="error-box" role="alert">
      <p>
        <code>{error.code}</code> {error.message.split('\n', 1)[0]}
      </p>
      {tail === undefined ? null : (
        <>
          <h4>stderr (last lines)</h4>
          <pre class="stderr">{tail}</pre>
        </>
      )}
    </div>
  );
}

function Pairs({ rows }: { rows: readonly (readonly [string, unknown])[] }) {
  return (
    <dl class="pairs">
      {rows.map(([k, v]) => (
        <Fragment key={k}>
          <dt>{k}</dt>
          <dd>{typeof v === 'string' ? v : value(v)}</dd>
        </Fragment>
      ))}
    </dl>
  );
}

function NodePanel({
  id,
  spec,
  run,
  times,
  logs,
}: {
  id: string;
  spec: GraphNode | undefined;
  run: RunRecord;
  times: NodeTimes | undefined;
  logs: readonly LogLine[];
}) {
  const record = run.nodes?.[id];
  const status = record?.status ?? 'QUEUED';
  const metrics = Object.entries(nodeMetrics(run.metrics, id));
  const output = run.outputs?.[id];
  const own = logs.filter((l) => l.node === id).slice(-50);
  return (
    <section class="panel" aria-label={`Node ${id}`}>
      <h2>
        {id} <StatusBadge status={status} />
      </h2>
      <Pairs
        rows={[
          ['stage', spec === undefined ? '–' : `${spec.stage}@${spec.version}`],
          ['attempts', record?.attempts ?? 0],
          ['started', time(times?.started)],
          ['ended', time(times?.ended)],
          ['duration', nodeDuration(record?.durationSeconds, times)],
          [
            'cache',
            status === 'CACHED'
              ? 'hit: restored from the cache'
              : TERMINAL.has(status)
                ? 'miss: computed'
                : '–',
          ],
          ...(spec?.isolation === undefined ? [] : [['isolation', spec.isolation] as const]),
          ...(spec?.timeoutSeconds === undefined
            ? []
            : [['timeout', duration(spec.timeoutSeconds)] as const]),
        ]}
      />
      {record?.error === undefined ? null : <ErrorView error={record.error} />}
      {spec?.point === undefined ? null : (
        <>
          <h3>Sweep point</h3>
          <Pairs rows={Object.entries(spec.point)} />
        </>
      )}
      {spec?.resources === undefined ? null : (
        <>
          <h3>Resources</h3>
          <Pairs rows={Object.entries(spec.resources)} />
        </>
      )}
      <h3>Metrics</h3>
      {metrics.length === 0 ? <p class="muted">None recorded.</p> : <Pairs rows={metrics} />}
      {output === undefined ? null : (
        <>
          <h3>Output</h3>
          <pre class="json">{JSON.stringify(output, null, 2).slice(0, 4000)}</pre>
        </>
      )}
      {own.length === 0 ? null : (
        <>
          <h3>Log</h3>
          <pre class="log">{own.map((l) => `${l.level.padEnd(5)} ${l.message}`).join('\n')}</pre>
        </>
      )}
    </section>
  );
}

function GroupPanel({
  group,
  statuses,
  times,
  run,
  onPick,
}: {
  group: DrawnNode;
  statuses: Readonly<Record<string, string>>;
  times: Readonly<Record<string, NodeTimes>>;
  run: RunRecord;
  onPick: (id: string) => void;
}) {
  const [filter, setFilter] = useState('');
  const counts = countStatuses(group.members, statuses);
  const shown = group.members.filter((m) => filter === '' || m.includes(filter));
  return (
    <section class="panel" aria-label={`Group ${group.label}`}>
      <h2>{group.label}</h2>
      <p>
        {Object.entries(counts)
          .map(([s, n]) => `${n} ${s.toLowerCase()}`)
          .join(' · ')}
      </p>
      <label>
        Filter copies{' '}
        <input
          type="search"
          value={filter}
          onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
        />
      </label>
      <table class="copies">
        <thead>
          <tr>
            <th scope="col">Copy</th>
            <th scope="col">Status</th>
            <th scope="col">Duration</th>
          </tr>
        </thead>
        <tbody>
          {shown.slice(0, 200).map((m) => (
            <tr key={m}>
              <td>
                <button type="button" class="link" onClick={() => onPick(m)}>
                  {m}
                </button>
              </td>
              <td>
                <StatusBadge status={statuses[m] ?? 'QUEUED'} />
              </td>
              <td>{nodeDuration(run.nodes?.[m]?.durationSeconds, times[m])}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown.length > 200 ? (
        <p class="muted">First 200 of {shown.length}; filter to see others.</p>
      ) : null}
    </section>
  );
}

export function RunPage({ id }: { id: string }) {
  const [run, setRun] = useState<RunRecord | undefined>();
  const [graph, setGraph] = useState<PipelineGraph | undefined>();
  const [statuses, setStatuses] = useState<Record<string, string>>({});
  const [times, setTimes] = useState<Record<string, NodeTimes>>({});
  const [logs, setLogs] = useState<LogLine[]>([]);
  const [selected, setSelected] = useState<DrawnNode | undefined>();
  // The group a selected copy was picked from, to go back to its list.
  const [group, setGroup] = useState<DrawnNode | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [expandAll, setExpandAll] = useState(false);
  const [, setTick] = useState(0);

  const refetch = useRef<() => void>(() => {});
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async (): Promise<RunRecord | undefined> => {
      try {
        const record = await api.run(id);
        if (!live) return undefined;
        setRun(record);
        setStatuses((s) => {
          const next = { ...s };
          for (const [n, r] of Object.entries(record.nodes ?? {})) next[n] = r.status;
          return next;
        });
        return record;
      } catch (e) {
        if (live) setError((e as Error).message);
        return undefined;
      }
    };
    // At most one refetch a second, however many nodes end meanwhile.
    refetch.current = () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        void load();
      }, 1000);
    };
    void load().then(async (record) => {
      if (record === undefined) return;
      const drawn = await api.graph(record.pipeline).catch(() => undefined);
      if (live) setGraph(drawn);
    });

    // Events arrive in bursts (a sweep ends hundreds of nodes a second): they are applied once a
    // frame rather than one render each.
    let queue: RunEvent[] = [];
    let frame: number | undefined;
    const apply = () => {
      frame = undefined;
      const events = queue;
      queue = [];
      const nodes: Record<string, string> = {};
      const stamps: Record<string, NodeTimes> = {};
      const lines: LogLine[] = [];
      let ended = false;
      for (const e of events) {
        if (e.type === 'node') {
          nodes[e.node] = e.status;
          const t = stamps[e.node] ?? {};
          stamps[e.node] = t;
          if (e.status === 'RUNNING') t.started = e.at;
          else if (TERMINAL.has(e.status)) t.ended = e.at;
        } else if (e.type === 'log') lines.push(e);
        else if (TERMINAL.has(e.status)) ended = true;
        else {
          // Replayed events of a run already seen ended must not make it look running again.
          setRun((r) =>
            r === undefined || TERMINAL.has(r.status)
              ? r
              : { ...r, status: e.status, attempt: e.attempt },
          );
        }
      }
      if (Object.keys(nodes).length > 0) setStatuses((s) => ({ ...s, ...nodes }));
      if (Object.keys(stamps).length > 0) {
        setTimes((t) => {
          const next = { ...t };
          for (const [n, s] of Object.entries(stamps)) next[n] = { ...next[n], ...s };
          return next;
        });
      }
      if (lines.length > 0) setLogs((l) => [...l, ...lines].slice(-2000));
      if (ended) void load();
      else if (Object.values(nodes).some((s) => TERMINAL.has(s))) refetch.current();
    };
    const source = new EventSource(runEventsUrl(id));
    const onEvent = (event: Event) => {
      const data = JSON.parse((event as MessageEvent<string>).data) as RunEvent;
      queue.push(data);
      if (data.type === 'status' && TERMINAL.has(data.status)) {
        // The server ends the stream after this: reconnecting would only replay it.
        source.close();
      }
      frame ??= requestAnimationFrame(apply);
    };
    for (const type of ['status', 'node', 'log']) source.addEventListener(type, onEvent);

    const ticker = setInterval(() => setTick((t) => t + 1), 1000);
    return () => {
      live = false;
      source.close();
      if (frame !== undefined) cancelAnimationFrame(frame);
      if (timer !== undefined) clearTimeout(timer);
      clearInterval(ticker);
    };
  }, [id]);

  const specs = useMemo(
    () => new Map((graph?.nodes ?? []).map((n) => [n.id, n] as const)),
    [graph],
  );

  if (error !== undefined && run === undefined) {
    return (
      <main>
        <p class="error" role="alert">
          {error}
        </p>
        <a href={href({ page: 'runs' })}>All runs</a>
      </main>
    );
  }
  if (run === undefined) return <main aria-busy="true">Loading…</main>;

  const active = run.status === 'QUEUED' || run.status === 'RUNNING';
  const cancel = async () => {
    if (!confirming) {
      setConfirming(true);
      setTimeout(() => setConfirming(false), 5000);
      return;
    }
    setConfirming(false);
    setBusy(true);
    try {
      const result = await api.cancel(run.jobId);
      setRun(result.run);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const retry = async () => {
    setBusy(true);
    try {
      const next = await api.submit(run.pipeline, run.params);
      navigate({ page: 'run', id: next.jobId });
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const grouped = graph !== undefined && graph.nodes.length > GROUP_ABOVE && !expandAll;
  const hasPoints = graph?.nodes.some((n) => n.point !== undefined) === true;

  return (
    <main class="run">
      <header class="run-head">
        <div>
          <h1>
            {run.jobId} <StatusBadge status={run.status} />
          </h1>
          <p class="muted">
            {run.pipeline} · {trigger(run)} · started {time(run.startedAt)} · {runDuration(run)} ·
            attempt {run.attempt}/{run.maxAttempts}
          </p>
        </div>
        <div class="actions">
          {hasPoints ? <a href={href({ page: 'sweeps', id: run.jobId })}>Sweep results</a> : null}
          <button
            type="button"
            class="danger"
            disabled={!active || busy}
            onClick={() => void cancel()}
          >
            {confirming ? 'Really cancel?' : 'Cancel run'}
          </button>
          <button type="button" disabled={active || busy} onClick={() => void retry()}>
            Retry
          </button>
        </div>
      </header>
      {error === undefined ? null : (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {run.error === undefined ? null : <ErrorView error={run.error} />}
      {Object.keys(run.params).length === 0 ? null : (
        <details>
          <summary>Params</summary>
          <Pairs rows={Object.entries(run.params)} />
        </details>
      )}
      <div class="run-body">
        {graph === undefined ? (
          <p class="muted">Loading the graph…</p>
        ) : (
          <div class="graph-wrap">
            {graph.nodes.length > GROUP_ABOVE ? (
              <label class="expand">
                <input
                  type="checkbox"
                  checked={expandAll}
                  onChange={(e) => setExpandAll((e.target as HTMLInputElement).checked)}
                />{' '}
                Show every sweep copy ({graph.nodes.length} nodes)
              </label>
            ) : null}
            <Graph
              graph={graph}
              statuses={statuses}
              selected={selected?.key}
              onSelect={setSelected}
              grouped={grouped}
            />
          </div>
        )}
        <aside class="side">
          {selected === undefined ? (
            <p class="muted">Select a node to see its attempts, timings, metrics and errors.</p>
          ) : selected.group ? (
            <GroupPanel
              group={selected}
              statuses={statuses}
              times={times}
              run={run}
              onPick={(m) => {
                setGroup(selected);
                setSelected({ ...selected, key: m, label: m, members: [m], group: false });
              }}
            />
          ) : (
            <>
              {group === undefined || !group.members.includes(selected.key) ? null : (
                <button type="button" class="link back" onClick={() => setSelected(group)}>
                  ← {group.label}
                </button>
              )}
              <NodePanel
                id={selected.key}
                spec={specs.get(selected.key)}
                run={run}
                times={times[selected.key]}
                logs={logs}
              />
            </>
          )}
        </aside>
      </div>
      {logs.length === 0 ? null : (
        <details class="logs">
          <summary>Log ({logs.length} lines)</summary>
          <pre class="log">
            {logs
              .slice(-300)
              .map(
                (l) =>
                  `${l.at.slice(11, 19)} ${l.level.padEnd(5)} ${l.node === undefined ? '' : `[${l.node}] `}${l.message}`,
              )
              .join('\n')}
          </pre>
        </details>
      )}
    </main>
  );
}
