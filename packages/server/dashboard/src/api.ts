// A typed client of the server's API v1, as the pages call it: relative URLs (the pages may be
// mounted under a path), the session cookie instead of a bearer token, JSON errors as ApiError.
import type { RunEvent, RunRecord } from '@phys/core';
import type { z } from 'zod';
import type {
  pipelineGraphSchema,
  runSummarySchema,
  sessionSchema,
} from '../../src/dashboard/schemas.js';
import type {
  cancelSchema,
  logsSchema,
  pipelinesSchema,
  runPageSchema,
  scheduleSchema,
  schedulesSchema,
  triggerSchema,
} from '../../src/schemas.js';

export type { RunEvent, RunRecord };
export type PipelineGraph = z.infer<typeof pipelineGraphSchema>;
export type GraphNode = PipelineGraph['nodes'][number];
/** A run as the change stream sends it (`runSummarySchema`, with the record's own error type). */
export type RunSummary = Omit<RunRecord, 'nodes' | 'outputs' | 'metrics'> &
  Pick<z.infer<typeof runSummarySchema>, 'nodeCount'>;
export type Session = z.infer<typeof sessionSchema>;
export type Pipelines = z.infer<typeof pipelinesSchema>;
export type RunPage = Omit<z.infer<typeof runPageSchema>, 'runs'> & { runs: RunRecord[] };
export type CancelResult = Omit<z.infer<typeof cancelSchema>, 'run'> & { run: RunRecord };
export type Logs = z.infer<typeof logsSchema>;
export type Schedule = z.infer<typeof scheduleSchema>;
export type Schedules = z.infer<typeof schedulesSchema>;
export type TriggerResult = Pick<z.infer<typeof triggerSchema>, 'runId'>;
export type ExecutionStatus = RunRecord['status'];

/** An error answer of the API: its `PHYS_*` code and message. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Called when the API says the session is gone (401): the app shows the login page. */
let onUnauthorized: () => void = () => {};
export function whenUnauthorized(listener: () => void): void {
  onUnauthorized = listener;
}

async function request<T>(
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<T> {
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    credentials: 'same-origin',
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    if (response.status === 401 && path.startsWith('api/')) onUnauthorized();
    throw new ApiError(
      response.status,
      error?.code ?? `HTTP_${response.status}`,
      error?.message ?? `${response.status} ${response.statusText}`,
    );
  }
  return body as T;
}

const enc = encodeURIComponent;

export const api = {
  session: () => request<Session>('session'),
  login: (token: string) => request<void>('login', { method: 'POST', body: { token } }),
  logout: () => request<void>('logout', { method: 'POST' }),
  pipelines: () => request<Pipelines>('api/v1/pipelines'),
  graph: (name: string) => request<PipelineGraph>(`api/v1/pipelines/${enc(name)}`),
  runs: (filter: { pipeline?: string; status?: string; limit?: number; cursor?: string }) => {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) {
      if (v !== undefined && v !== '') query.set(k, String(v));
    }
    const q = query.toString();
    return request<RunPage>(`api/v1/runs${q === '' ? '' : `?${q}`}`);
  },
  run: (id: string) => request<RunRecord>(`api/v1/runs/${enc(id)}`),
  logs: (id: string, tail = 500) => request<Logs>(`api/v1/runs/${enc(id)}/logs?tail=${tail}`),
  cancel: (id: string) =>
    request<CancelResult>(`api/v1/runs/${enc(id)}/cancel`, { method: 'POST' }),
  submit: (pipeline: string, params: Readonly<Record<string, unknown>>) =>
    request<RunRecord>('api/v1/runs', { method: 'POST', body: { pipeline, params } }),
  schedules: () => request<Schedules>('api/v1/schedules'),
  pause: (name: string) =>
    request<Schedule>(`api/v1/schedules/${enc(name)}/pause`, { method: 'POST' }),
  resume: (name: string) =>
    request<Schedule>(`api/v1/schedules/${enc(name)}/resume`, { method: 'POST' }),
  trigger: (name: string) =>
    request<TriggerResult>(`api/v1/schedules/${enc(name)}/trigger`, { method: 'POST' }),
};

/** The EventSource of a run's events (it ends after the terminal status event). */
export const runEventsUrl = (id: string): string => `api/v1/runs/${enc(id)}/events`;
/** The EventSource of every run's changes. */
export const changesUrl = 'api/v1/events';
