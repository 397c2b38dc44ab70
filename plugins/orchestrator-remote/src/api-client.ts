import {
  CancelledError,
  deserializeError,
  PhysError,
  type RetryPolicy,
  retryDelaySeconds,
  type SerializedPhysError,
} from '@phys/core';

/** One request of the API, relative to its base (`runs`, `runs/<id>/cancel`). */
export interface ApiRequest {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly query?: Readonly<Record<string, string | undefined>>;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal | undefined;
}

/** The default of `requestRetry`: about 10 s of trying before a server counts as unreachable. */
export const DEFAULT_REQUEST_RETRY: RetryPolicy = Object.freeze({
  maxAttempts: 8,
  initialDelaySeconds: 0.25,
  backoffMultiplier: 2,
  maxDelaySeconds: 5,
  jitter: true,
});

// Socket-level failures after which the same request can succeed: the server restarting, a
// proxy dropping an idle connection, a network blip. ENOTFOUND (a misspelt host) is not one.
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

// Answers of a proxy or a server that is starting or stopping: the request is worth repeating
// (every request of the API is idempotent: a submission carries its run id).
const TRANSIENT_STATUS: ReadonlySet<number> = new Set([502, 503, 504]);

/** A failure worth another attempt, with the words for the final error. */
class Transient extends Error {
  constructor(
    readonly reason: string,
    override readonly cause?: unknown,
  ) {
    super(reason);
  }
}

function errorCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function messageOf(error: unknown): string {
  const code = errorCode(error);
  const cause = (error as { cause?: unknown } | null)?.cause;
  const inner = cause instanceof Error ? cause.message : undefined;
  const text = error instanceof Error ? error.message : String(error);
  return [code, inner ?? text].filter((s) => s !== undefined && s !== '').join(' ');
}

/** Sleeps `seconds`, or rejects with `signal`'s reason. */
export function sleep(seconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, seconds * 1000);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A short, one-line look at a body that is not what was expected. */
function glimpse(text: string): string {
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1];
  const shown = (title ?? text).replace(/\s+/g, ' ').trim();
  if (shown === '') return '';
  return ` (${title === undefined ? '' : 'a page titled '}"${shown.length > 80 ? `${shown.slice(0, 77)}...` : shown}")`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The HTTP side of the remote orchestrator: one base URL, the bearer token, a timeout per
 * attempt and retries of transient failures with core's backoff. Every error it throws is a
 * `PhysError`: the server's own (its `{ error }` body), `PHYS_SERVER_UNAVAILABLE` when the
 * server cannot be reached, `PHYS_SERVER_RESPONSE` when what answered is not the phys API.
 */
export class ApiClient {
  readonly base: URL;
  readonly #token: string | undefined;
  readonly #timeoutSeconds: number;
  readonly #retry: RetryPolicy;

  constructor(base: URL, token: string | undefined, timeoutSeconds: number, retry: RetryPolicy) {
    this.base = base;
    this.#token = token;
    this.#timeoutSeconds = timeoutSeconds;
    this.#retry = retry;
  }

  /** The server as people know it: `http://host:port` (and its path prefix, if any). */
  get server(): string {
    return new URL('../..', this.base).href.replace(/\/$/, '');
  }

  url(path: string, query: ApiRequest['query'] = {}): URL {
    const url = new URL(path, this.base);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    return url;
  }

  /** Sends a request and resolves to its status and JSON body (2xx only; else the error). */
  async json<T>(request: ApiRequest): Promise<{ readonly status: number; readonly body: T }> {
    return this.#withRetries(request, async (response, url) => {
      const text = await response.text();
      const body = this.#parse(request, url, response, text);
      if (response.ok) return { status: response.status, body: body as T };
      throw this.#errorOf(request, url, response, body);
    });
  }

  /**
   * Opens a streaming request (Server-Sent Events): resolves once the headers are in, with the
   * response still streaming; the timeout covers only the wait for the headers. A non-2xx answer
   * is thrown as {@link ApiClient.json} would. The caller reads (and cancels) the body.
   */
  async stream(request: ApiRequest): Promise<{ readonly response: Response; readonly url: URL }> {
    return this.#withRetries(
      request,
      async (response, url) => {
        if (response.ok) return { response, url };
        const text = await response.text();
        throw this.#errorOf(request, url, response, this.#parse(request, url, response, text));
      },
      true,
    );
  }

  /** The error for an answer that is not the phys API's. */
  notTheApi(request: ApiRequest, url: URL, response: Response, text: string): PhysError {
    const type = response.headers.get('content-type') ?? 'no content type';
    return new PhysError(
      'PHYS_SERVER_RESPONSE',
      `The server at ${this.server} answered ${request.method} ${url.pathname} with ${response.status} ${type}${glimpse(text)}, not the phys API. Check the URL: it should be where \`phys serve\` listens (a proxy or another service may have answered).`,
      { details: { url: url.href, status: response.status, contentType: type } },
    );
  }

  #parse(request: ApiRequest, url: URL, response: Response, text: string): unknown {
    const type = response.headers.get('content-type') ?? '';
    if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
      throw this.notTheApi(request, url, response, text);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw this.notTheApi(request, url, response, text);
    }
  }

  #errorOf(request: ApiRequest, url: URL, response: Response, body: unknown): PhysError {
    const error = isObject(body) && isObject(body.error) ? body.error : undefined;
    if (
      error === undefined ||
      typeof error.code !== 'string' ||
      typeof error.message !== 'string'
    ) {
      return this.notTheApi(request, url, response, JSON.stringify(body));
    }
    const issues = Array.isArray(error.issues) ? error.issues : undefined;
    let message = error.message;
    if (error.code === 'PHYS_UNAUTHORIZED') {
      message = `${message} ${this.#token === undefined ? 'No token was sent: set PHYS_SERVER_TOKEN' : 'The token sent was refused: set PHYS_SERVER_TOKEN'} to one of the server's tokens (its PHYS_SERVER_TOKENS).`;
    }
    const serialized: SerializedPhysError = {
      name: typeof error.name === 'string' ? error.name : 'PhysError',
      code: error.code,
      message,
      retryable: typeof error.retryable === 'boolean' ? error.retryable : response.status >= 500,
      details: {
        ...(isObject(error.details) ? error.details : {}),
        ...(issues === undefined ? {} : { issues }),
        status: response.status,
        url: url.href,
      },
      ...(isObject(error.fields) ? { fields: error.fields } : {}),
    };
    return deserializeError(serialized);
  }

  async #withRetries<T>(
    request: ApiRequest,
    handle: (response: Response, url: URL) => Promise<T>,
    streaming = false,
  ): Promise<T> {
    const url = this.url(request.path, request.query);
    const headers: Record<string, string> = {
      accept: streaming ? 'text/event-stream' : 'application/json',
      ...request.headers,
    };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    let body: string | undefined;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers['content-type'] = 'application/json';
    }
    const started = performance.now();
    let last: Transient | undefined;
    for (let attempt = 1; attempt <= this.#retry.maxAttempts; attempt++) {
      if (attempt > 1) {
        await this.#pause(retryDelaySeconds(this.#retry, attempt - 1), request);
      }
      const attemptController = new AbortController();
      const timer = setTimeout(
        () => attemptController.abort(new Transient(`no answer within ${this.#timeoutSeconds} s`)),
        this.#timeoutSeconds * 1000,
      );
      const signal =
        request.signal === undefined
          ? attemptController.signal
          : AbortSignal.any([attemptController.signal, request.signal]);
      try {
        const response = await fetch(url, {
          method: request.method,
          headers,
          ...(body === undefined ? {} : { body }),
          signal,
        });
        if (streaming && response.ok) clearTimeout(timer);
        if (TRANSIENT_STATUS.has(response.status)) {
          const text = await response.text().catch(() => '');
          let said = '';
          try {
            const parsed = JSON.parse(text) as { error?: { message?: unknown } };
            if (typeof parsed.error?.message === 'string') said = `: ${parsed.error.message}`;
          } catch {
            said = glimpse(text);
          }
          throw new Transient(`it answered ${response.status} ${response.statusText}${said}`);
        }
        return await handle(response, url);
      } catch (error) {
        if (request.signal?.aborted === true) throw this.#stopped(request);
        const transient =
          error instanceof Transient
            ? error
            : attemptController.signal.aborted
              ? (attemptController.signal.reason as Transient)
              : TRANSIENT_CODES.has(errorCode(error) ?? '')
                ? new Transient(messageOf(error), error)
                : undefined;
        if (transient === undefined) {
          if (PhysError.is(error)) throw error;
          throw this.#unavailable(request, url, messageOf(error), attempt, started, error, false);
        }
        last = transient;
      } finally {
        clearTimeout(timer);
      }
    }
    throw this.#unavailable(
      request,
      url,
      last?.reason ?? 'no attempt was made',
      this.#retry.maxAttempts,
      started,
      last?.cause,
      true,
    );
  }

  async #pause(seconds: number, request: ApiRequest): Promise<void> {
    try {
      await sleep(seconds, request.signal);
    } catch {
      throw this.#stopped(request);
    }
  }

  #stopped(request: ApiRequest): PhysError {
    const reason = request.signal?.reason;
    if (PhysError.is(reason)) return reason;
    return new CancelledError(`${request.method} ${request.path} was stopped before it finished.`, {
      cause: reason,
    });
  }

  #unavailable(
    request: ApiRequest,
    url: URL,
    reason: string,
    attempts: number,
    started: number,
    cause: unknown,
    retried: boolean,
  ): PhysError {
    const seconds = (performance.now() - started) / 1000;
    const tried = retried
      ? `${attempts} attempt${attempts === 1 ? '' : 's'} over ${seconds.toFixed(1)} s`
      : 'not retried: the failure is not a passing one';
    return new PhysError(
      'PHYS_SERVER_UNAVAILABLE',
      `Cannot reach the phys server at ${this.server} (${request.method} ${url.pathname}): ${reason} (${tried}). Check that \`phys serve\` runs there and that the URL (--remote, PHYS_REMOTE or the plugin's url) is right.`,
      {
        retryable: true,
        ...(cause === undefined ? {} : { cause }),
        details: { url: url.href, attempts, reason },
      },
    );
  }
}
