// The shell: the session check, the login page, the navigation and the current page.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, api, type Session, whenUnauthorized } from './api.js';
import { RunPage } from './pages/run.js';
import { RunsPage } from './pages/runs.js';
import { SchedulesPage } from './pages/schedules.js';
import { SweepsPage } from './pages/sweeps.js';
import { href, useRoute } from './router.js';

function Login({ onDone }: { onDone: () => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api.login(token.trim());
      setToken('');
      onDone();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">phys</h1>
        <p>This server needs a token. Paste one of the tokens it was started with.</p>
        <label for="token">Token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="current-password"
          required
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
        <button type="submit" disabled={busy || token.trim() === ''}>
          Log in
        </button>
        {error === undefined ? null : (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

export function App() {
  const [session, setSession] = useState<Session | undefined>();
  const [failure, setFailure] = useState<string | undefined>();
  const route = useRoute();

  const check = useCallback(async () => {
    try {
      setSession(await api.session());
      setFailure(undefined);
    } catch (e) {
      setFailure(e instanceof Error ? e.message : String(e));
    }
  }, []);
  useEffect(() => {
    whenUnauthorized(() =>
      setSession((s) => (s === undefined ? s : { ...s, authenticated: false })),
    );
    void check();
  }, [check]);

  if (failure !== undefined) {
    return (
      <main class="login">
        <p class="error" role="alert">
          The server cannot be reached: {failure}
        </p>
        <button type="button" onClick={() => void check()}>
          Try again
        </button>
      </main>
    );
  }
  if (session === undefined) return <main class="login" aria-busy="true" />;
  if (!session.authenticated) return <Login onDone={() => void check()} />;

  const logout = async () => {
    await api.logout().catch(() => {});
    await check();
  };
  const tab = route.page === 'run' ? 'runs' : route.page;
  return (
    <>
      <header class="top">
        <a class="brand" href="#/runs">
          phys
        </a>
        <nav aria-label="Pages">
          {(
            [
              ['runs', 'Runs', href({ page: 'runs' })],
              ['sweeps', 'Sweeps', href({ page: 'sweeps' })],
              ['schedules', 'Schedules', href({ page: 'schedules' })],
            ] as const
          ).map(([key, label, to]) => (
            <a key={key} href={to} aria-current={tab === key ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        {session.required ? (
          <button type="button" class="link" onClick={() => void logout()}>
            Log out
          </button>
        ) : null}
      </header>
      {route.page === 'runs' ? <RunsPage /> : null}
      {route.page === 'run' ? <RunPage key={route.id} id={route.id} /> : null}
      {route.page === 'sweeps' ? <SweepsPage key={route.id ?? ''} id={route.id} /> : null}
      {route.page === 'schedules' ? <SchedulesPage /> : null}
    </>
  );
}
