import { hostname } from 'node:os';
import type { Logger } from '@phys/core';
import type { Registry } from 'prom-client';
import type { Sample } from './families.js';
import type { ResolvedPushOptions } from './options.js';
import { toWriteSeries, writeRequestBody } from './remote-write.js';

/** Where pushes go: a Pushgateway or Prometheus' remote-write receiver. @public */
export type PushMode = 'pushgateway' | 'remote-write';

const WRITE_PATH = '/api/v1/write';

/** A push that failed in a way another try will not fix (a 4xx answer). */
class Rejected extends Error {}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** A Pushgateway path segment: plain when it can be, base64url when it holds a `/` or is empty. */
function segment(name: string, value: string): string {
  if (value === '') return `${name}@base64/=`;
  if (value.includes('/')) {
    return `${name}@base64/${Buffer.from(value, 'utf8').toString('base64url')}`;
  }
  return `${name}/${encodeURIComponent(value)}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Sends the registry to a Pushgateway (`PUT /metrics/job/<job>/<label>/<value>...`, one group per
 * process, keyed by the run id) or to a remote-write receiver (`POST /api/v1/write`). Requests
 * run one at a time, each with a timeout, and are retried on network errors, 5xx and 429. A
 * target that cannot be reached is reported once, as a warning; nothing here ever throws into a
 * run.
 */
export class Pusher {
  readonly #options: ResolvedPushOptions;
  readonly #registry: Registry;
  readonly #logger: Logger;
  readonly #headers: Record<string, string>;
  #mode: PushMode | undefined;
  #chain: Promise<void> = Promise.resolve();
  #pending = 0;
  #failing = false;
  /** The group this process last pushed (Pushgateway): replaced by the next run's. */
  #lastGroup: string | undefined;
  /** Pushes that reached the target, and those that did not (for tests and `stats`). */
  succeeded = 0;
  failed = 0;

  constructor(options: ResolvedPushOptions, registry: Registry, logger: Logger) {
    this.#options = options;
    this.#registry = registry;
    this.#logger = logger;
    this.#mode =
      options.mode ??
      (new URL(options.endpoint).pathname.endsWith(WRITE_PATH) ? 'remote-write' : undefined);
    const headers: Record<string, string> = { ...options.headers };
    if (options.basicAuth !== undefined) {
      const { username, password } = options.basicAuth;
      headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    } else if (options.bearerToken !== undefined) {
      headers.authorization = `Bearer ${options.bearerToken}`;
    }
    this.#headers = headers;
  }

  /** The mode pushes use; undefined until detected (at the first push). */
  get mode(): PushMode | undefined {
    return this.#mode;
  }

  /** True while a push is queued or in flight. */
  get busy(): boolean {
    return this.#pending > 0;
  }

  /**
   * Queues a push of the registry as run `runId`'s numbers (`delete`: removes that run's group
   * from a Pushgateway instead). Resolves when it is done, whatever happened; never rejects.
   */
  push(runId: string, action: 'push' | 'delete' = 'push'): Promise<void> {
    this.#pending++;
    const task = async () => {
      try {
        await this.#send(runId, action);
      } finally {
        this.#pending--;
      }
    };
    const next = this.#chain.then(task, task);
    this.#chain = next;
    return next;
  }

  /** Resolves once every queued push is done. */
  idle(): Promise<void> {
    return this.#chain;
  }

  async #send(runId: string, action: 'push' | 'delete'): Promise<void> {
    const tries = this.#failing ? 1 : this.#options.retries + 1;
    let lastError: unknown;
    for (let attempt = 0; attempt < tries; attempt++) {
      if (attempt > 0) await sleep(250 * 2 ** (attempt - 1));
      try {
        await this.#once(runId, action);
        this.succeeded++;
        if (this.#failing) {
          this.#failing = false;
          this.#logger.info(`metrics push to ${this.#options.endpoint} works again`);
        }
        return;
      } catch (error) {
        lastError = error;
        if (error instanceof Rejected) break;
      }
    }
    this.failed++;
    const reason = lastError instanceof Error ? lastError.message : String(lastError);
    if (this.#failing) {
      this.#logger.debug(`metrics push to ${this.#options.endpoint} failed again: ${reason}`);
      return;
    }
    this.#failing = true;
    this.#logger.warn(
      `Could not push metrics to ${this.#options.endpoint} (${this.#mode ?? 'mode not detected'}): ${reason}. Runs go on unaffected; later failures are not reported again until a push works.`,
    );
  }

  async #once(runId: string, action: 'push' | 'delete'): Promise<void> {
    const mode = this.#mode ?? (await this.#detect());
    if (mode === 'remote-write') {
      // A remote-written sample is stored as is: there is no group to delete.
      if (action === 'delete') return;
      await this.#remoteWrite();
      return;
    }
    const group = this.#groupUrl(runId);
    if (action === 'delete') {
      await this.#request('DELETE', group);
      if (this.#lastGroup === group) this.#lastGroup = undefined;
      return;
    }
    const body = await this.#registry.metrics();
    await this.#request('PUT', group, body, { 'content-type': this.#registry.contentType });
    const previous = this.#lastGroup;
    this.#lastGroup = group;
    // One group per process: the new one holds everything the old one did, and more.
    if (previous !== undefined && previous !== group) {
      await this.#request('DELETE', previous).catch(() => {});
    }
  }

  #groupUrl(runId: string): string {
    const o = this.#options;
    let url = `${trimSlash(o.endpoint)}/metrics/${segment('job', o.jobName)}`;
    for (const [name, value] of Object.entries(o.groupingKey)) url += `/${segment(name, value)}`;
    return `${url}/${segment('run_id', runId)}`;
  }

  /** Labels every remote-written series gets. */
  #writeLabels(): Record<string, string> {
    return {
      job: this.#options.jobName,
      // One series per process and metric: runs of several processes never collide.
      instance: `${hostname()}:${process.pid}`,
      ...this.#options.groupingKey,
    };
  }

  async #remoteWrite(): Promise<void> {
    const endpoint = trimSlash(this.#options.endpoint);
    const url = endpoint.endsWith(WRITE_PATH) ? endpoint : `${endpoint}${WRITE_PATH}`;
    const families = (await this.#registry.getMetricsAsJSON()) as unknown as {
      name: string;
      values: Sample[];
    }[];
    const body = writeRequestBody(toWriteSeries(families, this.#writeLabels(), Date.now()));
    await this.#request('POST', url, body, {
      'content-encoding': 'snappy',
      'content-type': 'application/x-protobuf',
      'x-prometheus-remote-write-version': '0.1.0',
    });
  }

  /**
   * A Prometheus server answers `/api/v1/status/buildinfo` with its version; a Pushgateway does
   * not have that route.
   */
  async #detect(): Promise<PushMode> {
    const url = `${trimSlash(this.#options.endpoint)}/api/v1/status/buildinfo`;
    const response = await fetch(url, {
      headers: this.#headers,
      signal: AbortSignal.timeout(this.#options.timeoutSeconds * 1000),
    });
    const text = await response.text();
    let prometheus = false;
    if (response.ok) {
      try {
        const json = JSON.parse(text) as { status?: unknown; data?: { version?: unknown } };
        prometheus = json.status === 'success' && typeof json.data?.version === 'string';
      } catch {
        // Not JSON: not Prometheus.
      }
    }
    this.#mode = prometheus ? 'remote-write' : 'pushgateway';
    this.#logger.debug(
      `metrics push: ${this.#options.endpoint} is ${prometheus ? 'a Prometheus server (remote write)' : 'taken for a Pushgateway'}`,
    );
    return this.#mode;
  }

  async #request(
    method: string,
    url: string,
    body?: string | Uint8Array,
    headers: Record<string, string> = {},
  ): Promise<void> {
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { ...this.#headers, ...headers },
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(this.#options.timeoutSeconds * 1000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why =
        (error as Error).name === 'TimeoutError'
          ? `no answer within ${this.#options.timeoutSeconds} s`
          : (cause?.code ?? cause?.message ?? (error as Error).message);
      throw new Error(`${method} ${url}: ${why}`);
    }
    const text = await response.text();
    if (response.ok) return;
    const excerpt = text.trim().slice(0, 300);
    const message = `${method} ${url} answered ${response.status}${excerpt === '' ? '' : `: ${excerpt}`}${this.#hint(response.status, url)}`;
    if (response.status >= 500 || response.status === 429) throw new Error(message);
    throw new Rejected(message);
  }

  #hint(status: number, url: string): string {
    if ((status === 404 || status === 405) && url.endsWith(WRITE_PATH)) {
      return ' (start Prometheus with --web.enable-remote-write-receiver to accept pushed samples, or push to a Pushgateway)';
    }
    if (status === 401 || status === 403)
      return ' (check push.basicAuth, push.bearerToken or push.headers)';
    return '';
  }
}
