// `phys schedules ls|pause|resume|trigger`: loaded by the CLI only when one of them runs.
//
// Where it acts: the server given by --remote (or PHYS_REMOTE), else the config's server when it
// answers on its address, else the server's store file directly (a stopped server sees a pause
// on its next start; a running one on its next check, within 30 s).
import { resolve } from 'node:path';
import {
  type CliCommandContext,
  type CliCommandHandler,
  PhysError,
  type RunRecord,
  UsageError,
} from '@phys/core';
import { isPhysRuntime, LocalOrchestrator, type PhysRuntime, ScheduleRunner } from '@phys/runtime';
import type { z } from 'zod';
import type { ResolvedServerOptions } from '../options.js';
import { scheduleView } from '../routes/schedules.js';
import type { scheduleSchema } from '../schemas.js';
import { SqliteRunStore } from '../sqlite-run-store.js';
import { zonedTime } from '../zoned-time.js';

type Schedule = z.input<typeof scheduleSchema>;
type Fire = NonNullable<Schedule['lastFire']>;

/** The environment variables of the server's address and of the token sent to it. */
const REMOTE_ENV = 'PHYS_REMOTE';
const TOKEN_ENV = 'PHYS_SERVER_TOKEN';
/** How long the config's server gets to answer before the store file is used instead. */
const PROBE_MS = 1500;

/** What the four commands do, over HTTP or on the store. */
interface Target {
  /** The server's URL or the store file. */
  readonly where: string;
  list(): Promise<Schedule[]>;
  pause(name: string): Promise<Schedule>;
  resume(name: string): Promise<Schedule>;
  /** Starts the run; resolves with it once started. */
  trigger(name: string): Promise<RunRecord>;
  /** Set when runs start in this process (store mode): waits for the run's end. */
  readonly wait?: (jobId: string, signal: AbortSignal) => Promise<RunRecord>;
  close(): Promise<void>;
}

function remoteFrom(ctx: CliCommandContext): string | undefined {
  const given = (ctx.options.remote as string | undefined) ?? process.env[REMOTE_ENV];
  if (given === undefined || given.trim() === '') return undefined;
  let url: URL | undefined;
  try {
    url = new URL(given.trim());
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    const from = ctx.options.remote === undefined ? REMOTE_ENV : '--remote';
    throw new UsageError(
      `${from} expects the URL of a \`phys serve\` server, such as http://127.0.0.1:8787, got '${given}'.`,
    );
  }
  return given.trim().replace(/\/+$/, '');
}

/** The API of a server at `base`, with the token of PHYS_SERVER_TOKEN. */
function httpTarget(base: string): Target {
  const token = process.env[TOKEN_ENV];
  const call = async <T>(method: 'GET' | 'POST', path: string): Promise<T> => {
    let response: Response;
    try {
      response = await fetch(`${base}/api/v1${path}`, {
        method,
        headers: token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new PhysError(
        'PHYS_SERVER_UNAVAILABLE',
        `No phys server answers at ${base} (${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}). Start it with \`phys serve\`, or check --remote / ${REMOTE_ENV}.`,
        { cause: error, details: { url: base } },
      );
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!response.ok) {
      const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      if (response.status === 401) {
        throw new PhysError(
          'PHYS_UNAUTHORIZED',
          `The server at ${base} refused the request (401): ${token === undefined || token === '' ? `no token was sent: set ${TOKEN_ENV}` : `the token sent was refused: set ${TOKEN_ENV}`} to one of the server's tokens (its PHYS_SERVER_TOKENS).`,
        );
      }
      throw new PhysError(
        error?.code ?? 'PHYS_SERVER_RESPONSE',
        error?.message ?? `The server at ${base} answered ${response.status} to ${method} ${path}.`,
        { details: { status: response.status } },
      );
    }
    return body as T;
  };
  const path = (name: string, action: string) => `/schedules/${encodeURIComponent(name)}/${action}`;
  return {
    where: base,
    list: async () => (await call<{ schedules: Schedule[] }>('GET', '/schedules')).schedules,
    pause: (name) => call('POST', path(name, 'pause')),
    resume: (name) => call('POST', path(name, 'resume')),
    trigger: async (name) => (await call<{ run: RunRecord }>('POST', path(name, 'trigger'))).run,
    close: async () => {},
  };
}

/** The store file of the server, read and written in this process. */
function storeTarget(runtime: PhysRuntime, file: string): Target {
  const store = new SqliteRunStore(file, {
    logger: runtime.logger.child({ component: 'run-store' }),
  });
  const orchestrator = new LocalOrchestrator(runtime, {
    store,
    logger: runtime.logger.child({ component: 'schedules' }),
  });
  const runner = new ScheduleRunner({ schedules: runtime.schedules, store, orchestrator });
  return {
    where: file,
    list: async () => (await runner.list()).map(scheduleView),
    pause: async (name) => scheduleView(await runner.pause(name)),
    resume: async (name) => scheduleView(await runner.resume(name)),
    trigger: async (name) => (await runner.trigger(name)).record,
    async wait(jobId, signal) {
      const run = await orchestrator.getRun(jobId);
      const cancel = () => void orchestrator.cancelRun(jobId);
      signal.addEventListener('abort', cancel, { once: true });
      try {
        await run.waitForCompletion();
      } finally {
        signal.removeEventListener('abort', cancel);
      }
      return (await store.get(jobId)) as RunRecord;
    },
    async close() {
      await orchestrator.close();
      await store.close();
    },
  };
}

/** Whether a phys server answers at `base` (its health route, briefly). */
async function answers(base: string): Promise<boolean> {
  try {
    const response = await fetch(`${base}/api/v1/health`, {
      signal: AbortSignal.timeout(PROBE_MS),
    });
    return response.ok && ((await response.json()) as { status?: string }).status === 'ok';
  } catch {
    return false;
  }
}

async function targetFor(ctx: CliCommandContext, runtime: PhysRuntime): Promise<Target> {
  const remote = remoteFrom(ctx);
  if (remote !== undefined) return httpTarget(remote);
  const configured = runtime.plugins.find((p) => p.name === 'server')?.options as
    | Partial<ResolvedServerOptions>
    | undefined;
  const store = ctx.options.store as string | undefined;
  if (store === undefined) {
    const host = configured?.host ?? '127.0.0.1';
    const base = `${configured?.tls === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${configured?.port ?? 8787}`;
    if (await answers(base)) return httpTarget(base);
  }
  const file =
    store !== undefined
      ? resolve(ctx.cwd, store)
      : configured?.store !== undefined
        ? resolve(runtime.configDir, configured.store)
        : resolve(runtime.cacheDir, 'server.sqlite');
  return storeTarget(runtime, file);
}

function fireText(fire: Fire, timezone: string): string {
  const what =
    fire.outcome === 'launched'
      ? `${fire.runId ?? ''} ${fire.status ?? 'UNKNOWN'}`
      : fire.outcome === 'queued'
        ? 'queued behind the previous run'
        : fire.outcome === 'skipped-overlap'
          ? 'skipped: the previous run was still running'
          : 'skipped: missed (misfire skip)';
  const extra = [
    fire.manual === true ? 'by hand' : `fire ${zonedTime(fire.fireTime, timezone)}`,
    ...(fire.missed === undefined || fire.missed === 0
      ? []
      : [`stands for ${fire.missed} missed fire${fire.missed === 1 ? '' : 's'}`]),
  ];
  return `${what}  (${extra.join(', ')})`;
}

/** The lines `phys schedules ls` prints for one schedule. */
export function scheduleLines(s: Schedule): string[] {
  const lines = [
    `${s.name}  ${s.paused ? 'PAUSED' : 'active'}  pipeline ${s.pipeline}, ${s.spec}`,
    `  policies  misfire ${s.misfire} (late after ${s.maxLatenessSeconds} s), overlap ${s.overlap}`,
    `  next      ${s.paused ? `(paused: phys schedules resume ${s.name})` : s.nextFireTimes.map((t) => zonedTime(t, s.timezone)).join(', ')}`,
    `  last run  ${s.lastRun === null ? '(none yet)' : fireText(s.lastRun, s.timezone)}`,
  ];
  if (s.lastFire !== null && s.lastFire.outcome !== 'launched') {
    lines.push(`  last fire ${fireText(s.lastFire, s.timezone)}`);
  }
  return lines;
}

const handler: CliCommandHandler = async (ctx) => {
  const { runtime } = ctx;
  if (!isPhysRuntime(runtime)) {
    throw new UsageError(
      '`phys schedules` needs the runtime of the phys CLI (@phys/runtime); this host passed another. Run it with the `phys` command.',
    );
  }
  const action = ctx.path[1] as 'ls' | 'pause' | 'resume' | 'trigger';
  const target = await targetFor(ctx, runtime);
  try {
    if (action === 'ls') {
      const schedules = await target.list();
      if (ctx.json) {
        ctx.out(JSON.stringify({ source: target.where, schedules }));
        return 0;
      }
      if (schedules.length === 0) {
        ctx.out(
          "No schedules. Add one to a pipeline in phys.config: schedule: { daily: '02:30', timezone: 'Europe/Berlin' }.",
        );
        return 0;
      }
      ctx.out(
        schedules.flatMap((s, i) => [...(i === 0 ? [] : ['']), ...scheduleLines(s)]).join('\n'),
      );
      return 0;
    }
    const name = ctx.args[0] as string;
    if (action === 'pause' || action === 'resume') {
      const schedule = await target[action](name);
      if (ctx.json) ctx.out(JSON.stringify({ source: target.where, schedule }));
      else ctx.out(scheduleLines(schedule).join('\n'));
      return 0;
    }
    const started = await target.trigger(name);
    ctx.err(
      `schedule '${name}' started run ${started.jobId} of '${started.pipeline}' (${target.where})`,
    );
    // A server runs it on; a run started here lives in this process: wait for it.
    const run = target.wait === undefined ? started : await target.wait(started.jobId, ctx.signal);
    if (ctx.json) ctx.out(JSON.stringify({ source: target.where, run }));
    else ctx.out(`${run.jobId}  ${run.status}`);
    return run.status === 'FAILED' || run.status === 'TIMEOUT'
      ? 1
      : run.status === 'CANCELLED'
        ? 130
        : 0;
  } finally {
    await target.close();
  }
};

export default handler;
