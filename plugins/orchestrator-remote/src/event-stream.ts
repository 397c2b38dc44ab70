import {
  type ExecutionStatus,
  isTerminal,
  PhysError,
  type RetryPolicy,
  type RunEvent,
  retryDelaySeconds,
} from '@phys/core';
import { createParser } from 'eventsource-parser';
import { type ApiClient, sleep } from './api-client.js';

/**
 * Seconds without a byte (the server sends a keep-alive comment every 15 s) after which a
 * stream counts as dead and is opened again.
 */
export const STREAM_IDLE_SECONDS = 45;

/** The code of {@link PhysError}s that say the server does not stream events (answered otherwise). */
export const NO_EVENT_STREAM = 'no-event-stream';

export interface FollowOptions {
  readonly after?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Consecutive failed connections (no event between them) before giving up. */
  readonly retry: RetryPolicy;
  /** The run, read when a stream ends without its terminal status (is there more to come?). */
  readonly status: (signal: AbortSignal | undefined) => Promise<ExecutionStatus>;
  readonly idleSeconds?: number;
}

/**
 * A server (or a proxy in front of it) without the events route answers with something else
 * than the run's error: marked, so that a waiter polls instead.
 */
function noStream(error: unknown): unknown {
  if (!PhysError.is(error)) return error;
  const status = error.details?.status;
  const unrouted =
    error.code === 'PHYS_SERVER_RESPONSE' ||
    (error.code !== 'PHYS_RUN_NOT_FOUND' && (status === 404 || status === 405 || status === 501));
  if (!unrouted) return error;
  return new PhysError(error.code, error.message, {
    cause: error,
    details: { ...error.details, reason: NO_EVENT_STREAM },
  });
}

function isRunEvent(value: unknown): value is RunEvent {
  const event = value as Partial<RunEvent> | null;
  return (
    typeof event === 'object' &&
    event !== null &&
    typeof event.seq === 'number' &&
    Number.isInteger(event.seq) &&
    (event.type === 'status' || event.type === 'node' || event.type === 'log')
  );
}

/**
 * The events of run `jobId` after `after`, from `GET /runs/:id/events` (Server-Sent Events),
 * until its terminal status event. A stream that drops, stalls or ends early is opened again
 * with `Last-Event-ID` set to the last event seen, so nothing is repeated or missed; a stream
 * that ends while the run is terminal and nothing new came ends the iteration. Returning from
 * the loop (or aborting `signal`) closes the connection.
 */
export async function* followEvents(
  client: ApiClient,
  jobId: string,
  options: FollowOptions,
): AsyncGenerator<RunEvent, void, undefined> {
  const path = `runs/${encodeURIComponent(jobId)}/events`;
  const idleSeconds = options.idleSeconds ?? STREAM_IDLE_SECONDS;
  let last = options.after ?? 0;
  let failures = 0;
  for (;;) {
    const connection = new AbortController();
    const signal =
      options.signal === undefined
        ? connection.signal
        : AbortSignal.any([connection.signal, options.signal]);
    let opened: Awaited<ReturnType<ApiClient['stream']>>;
    try {
      opened = await client.stream({
        method: 'GET',
        path,
        query: { after: String(last) },
        headers: last > 0 ? { 'last-event-id': String(last) } : {},
        signal,
      });
    } catch (error) {
      throw noStream(error);
    }
    const { response, url } = opened;
    const type = response.headers.get('content-type') ?? '';
    if (!/^text\/event-stream\b/i.test(type)) {
      const text = await response.text().catch(() => '');
      throw noStream(client.notTheApi({ method: 'GET', path }, url, response, text));
    }
    const body = response.body;
    if (body === null) {
      throw client.notTheApi({ method: 'GET', path }, url, response, '');
    }
    const pending: RunEvent[] = [];
    let bad: PhysError | undefined;
    const parser = createParser({
      onEvent(message) {
        let event: unknown;
        try {
          event = JSON.parse(message.data);
        } catch {
          event = undefined;
        }
        if (!isRunEvent(event)) {
          bad ??= client.notTheApi(
            { method: 'GET', path },
            url,
            response,
            `event: ${message.event ?? ''} data: ${message.data}`,
          );
          return;
        }
        pending.push(event);
      },
    });
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let progressed = false;
    let received = false;
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => connection.abort(new Error('stream idle')), idleSeconds * 1000);
    };
    try {
      arm();
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch {
          if (options.signal?.aborted === true) throw options.signal.reason;
          // Dropped or stalled: opened again below.
          break;
        }
        if (chunk.done) break;
        received = true;
        arm();
        parser.feed(decoder.decode(chunk.value, { stream: true }));
        if (bad !== undefined) throw bad;
        while (pending.length > 0) {
          const event = pending.shift() as RunEvent;
          // A server that replays from an older id: what was seen is not seen twice.
          if (event.seq <= last) continue;
          last = event.seq;
          progressed = true;
          failures = 0;
          yield event;
          if (event.type === 'status' && isTerminal(event.status)) return;
        }
      }
    } finally {
      clearTimeout(idle);
      connection.abort();
      await reader.cancel().catch(() => {});
    }
    if (options.signal?.aborted === true) throw options.signal.reason;
    // The stream ended before the run's terminal status: a drop, or a run that was terminal
    // already with nothing after `last` (then the server ends the stream at once).
    if (!progressed) {
      const status = await options.status(options.signal);
      if (isTerminal(status)) return;
      // A stream that carried keep-alives was healthy until it ended: only dead ones count.
      failures = received ? 0 : failures + 1;
      if (failures >= options.retry.maxAttempts) {
        throw new PhysError(
          'PHYS_SERVER_UNAVAILABLE',
          `The event stream of run '${jobId}' at ${client.server} keeps ending without news (${failures} times in a row) while the run is ${status}. A proxy in front of the server may be buffering or cutting Server-Sent Events; see the deployment guide.`,
          { retryable: true, details: { jobId, status, attempts: failures } },
        );
      }
      await sleep(retryDelaySeconds(options.retry, Math.max(1, failures)), options.signal);
    }
  }
}
