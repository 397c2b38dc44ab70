// Schedules: each schedule's rule, next fire times and last run, with pause, resume and trigger.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { zonedTime } from '../../../src/zoned-time.js';
import { ApiError, api, type Schedule } from '../api.js';
import { href, navigate } from '../router.js';
import { StatusBadge } from '../status.js';

export function SchedulesPage() {
  const [schedules, setSchedules] = useState<Schedule[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState<string | undefined>();

  const load = useCallback(async () => {
    try {
      setSchedules((await api.schedules()).schedules);
      setError(undefined);
    } catch (e) {
      // A server without schedule routes has no schedules.
      if (e instanceof ApiError && e.status === 404 && e.code === 'PHYS_NOT_FOUND')
        setSchedules([]);
      else setError((e as Error).message);
    }
  }, []);
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 10_000);
    return () => clearInterval(timer);
  }, [load]);

  const act = async (name: string, action: 'pause' | 'resume' | 'trigger') => {
    setBusy(name);
    try {
      if (action === 'trigger') {
        const { runId } = await api.trigger(name);
        navigate({ page: 'run', id: runId });
        return;
      }
      const updated = await api[action](name);
      setSchedules((list) => list?.map((s) => (s.name === name ? updated : s)));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <main>
      <h1>Schedules</h1>
      {error === undefined ? null : (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {schedules === undefined ? (
        <p aria-busy="true">Loading…</p>
      ) : schedules.length === 0 ? (
        <p class="empty">
          No schedules. Declare them under <code>schedules</code> in phys.config to run pipelines at
          fixed times; they show here with their next fire times.
        </p>
      ) : (
        <table class="schedules">
          <thead>
            <tr>
              <th scope="col">Schedule</th>
              <th scope="col">Pipeline</th>
              <th scope="col">When</th>
              <th scope="col">Next fire times</th>
              <th scope="col">Last run</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {schedules.map((s) => (
              <tr key={s.name} data-schedule={s.name}>
                <td>
                  {s.name}
                  {s.paused ? <span class="badge st-CANCELLED">paused</span> : null}
                </td>
                <td>{s.pipeline}</td>
                <td>
                  {s.spec}
                  <div class="muted">
                    {s.timezone} · misfire {s.misfire} · overlap {s.overlap}
                  </div>
                </td>
                <td>
                  {s.nextFireTimes.length === 0 ? (
                    <span class="muted">{s.paused ? 'none while paused' : 'none'}</span>
                  ) : (
                    <ul class="plain">
                      {s.nextFireTimes.slice(0, 3).map((t) => (
                        <li key={t}>{zonedTime(t, s.timezone)}</li>
                      ))}
                    </ul>
                  )}
                </td>
                <td>
                  {s.lastRun === null ? (
                    <span class="muted">never</span>
                  ) : (
                    <>
                      {s.lastRun.runId === undefined ? (
                        zonedTime(s.lastRun.fireTime, s.timezone)
                      ) : (
                        <a href={href({ page: 'run', id: s.lastRun.runId })}>
                          {zonedTime(s.lastRun.fireTime, s.timezone)}
                        </a>
                      )}{' '}
                      {s.lastRun.status === undefined ? null : (
                        <StatusBadge status={s.lastRun.status} />
                      )}
                    </>
                  )}
                </td>
                <td>
                  <div class="actions">
                    <button
                      type="button"
                      disabled={busy === s.name}
                      onClick={() => void act(s.name, s.paused ? 'resume' : 'pause')}
                    >
                      {s.paused ? 'Resume' : 'Pause'}
                    </button>
                    <button
                      type="button"
                      disabled={busy === s.name}
                      onClick={() => void act(s.name, 'trigger')}
                    >
                      Trigger now
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
