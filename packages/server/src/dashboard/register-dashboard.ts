// The dashboard's server side: its static files at `/`, the login that turns a token into a
// session cookie, the CSRF check of requests that a cookie authenticates, and the two API routes
// its pages need besides the v1 ones (a pipeline's graph, a stream of every run's changes).

import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import cookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import {
  type NodeSpec,
  type PipelineDeclaration,
  type PipelineStage,
  ResourceRequirements,
  type RunRecord,
} from '@phys/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { TokenSet } from '../auth.js';
import { HttpError, invalidRequest, zodIssues } from '../http-error.js';
import type { SqliteRunStore } from '../sqlite-run-store.js';
import type { SubmissionStore } from '../submission-store.js';
import type { graphNodeSchema, pipelineGraphSchema, runSummarySchema } from './schemas.js';
import { loginBodySchema } from './schemas.js';
import { SESSION_SECONDS, SessionStore } from './sessions.js';

/** The session cookie's name. */
export const SESSION_COOKIE = 'phys_session';
/** Milliseconds during which changes of runs are gathered into one batch of the change stream. */
const CHANGE_BATCH_MS = 200;
/** Seconds between two `: keep-alive` comments of an idle change stream. */
const KEEP_ALIVE_SECONDS = 15;

/** The built front-end: `dist/web` of this package (from src/ and from dist/ alike). */
const WEB_ROOT = join(
  dirname(createRequire(import.meta.url).resolve('../../package.json')),
  'dist',
  'web',
);

/** What the dashboard needs of the app. */
export interface DashboardParts {
  readonly apiPrefix: string;
  readonly tokens: TokenSet;
  /** Whether the server speaks TLS (the cookie is then `Secure`). */
  readonly secure: boolean;
  readonly pipelines: Readonly<Record<string, PipelineDeclaration>>;
  readonly store: SqliteRunStore;
  readonly submissions: SubmissionStore;
}

/** What the app's auth check asks of the dashboard. */
export interface Dashboard {
  /**
   * Whether `request` carries a valid session cookie. A state-changing request (not GET/HEAD)
   * made with the cookie must also come from this server's own pages, else `PHYS_CSRF` (403).
   */
  accepts(request: FastifyRequest): boolean;
}

type GraphNode = z.infer<typeof graphNodeSchema>;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Whether a browser request comes from a page of this server: `Sec-Fetch-Site: same-origin`, or
 * an `Origin` whose host is the request's `Host`. A request with neither is refused: browsers
 * send them on every POST, and programs authenticate with the bearer header instead.
 */
function sameOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin';
  const origin = request.headers.origin;
  const host = request.headers.host;
  if (typeof origin !== 'string' || host === undefined) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/**
 * Whether a reverse proxy says it received the request over TLS (`X-Forwarded-Proto: https`).
 * Trusting it can only make the cookie stricter (`Secure`), never looser.
 */
function behindTls(request: FastifyRequest): boolean {
  const proto = request.headers['x-forwarded-proto'];
  return typeof proto === 'string' && proto.split(',', 1)[0]?.trim().toLowerCase() === 'https';
}

function csrfError(): HttpError {
  return new HttpError(
    403,
    'PHYS_CSRF',
    "This request carries the dashboard's session cookie but does not come from the dashboard's own pages (its Origin or Sec-Fetch-Site header names another site). Act from the dashboard, or send `Authorization: Bearer <token>` from programs.",
  );
}

function resourcesOf(node: NodeSpec): Record<string, unknown> | undefined {
  const r = node.resources;
  if (r === undefined) return undefined;
  if (ResourceRequirements.is(r)) {
    return {
      cpu: r.cpu,
      gpu: r.gpu,
      mpiRanks: r.mpiRanks,
      ...(r.memoryBytes === undefined ? {} : { memoryBytes: r.memoryBytes }),
      ...(r.wallTimeSeconds === undefined ? {} : { wallTimeSeconds: r.wallTimeSeconds }),
    };
  }
  return JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
}

function stageNode(stage: PipelineStage, id: string, deps: readonly string[]): GraphNode {
  return { id, deps: [...deps], stage: stage.name, version: stage.version };
}

/** A pipeline declaration as the nodes and edges the Run page draws. */
export function pipelineGraph(
  name: string,
  declaration: PipelineDeclaration,
): z.infer<typeof pipelineGraphSchema> {
  const description =
    declaration.description === undefined ? {} : { description: declaration.description };
  if (declaration.kind === 'dag') {
    return {
      name,
      kind: 'dag',
      ...description,
      nodes: declaration.nodes.map((node) => {
        const resources = resourcesOf(node);
        return {
          ...stageNode(node.stage, node.id, node.deps ?? []),
          ...(node.isolation === undefined ? {} : { isolation: node.isolation }),
          ...(resources === undefined ? {} : { resources }),
          ...(node.timeoutSeconds === undefined ? {} : { timeoutSeconds: node.timeoutSeconds }),
          ...(node.tags === undefined ? {} : { tags: { ...node.tags } }),
          ...(node.point === undefined
            ? {}
            : { point: JSON.parse(JSON.stringify(node.point)) as Record<string, unknown> }),
        };
      }),
    };
  }
  // A sequential pipeline's stages run one after the other: a chain keyed by their labels.
  return {
    name,
    kind: 'sequential',
    ...description,
    nodes: declaration.stages.map((stage, i) =>
      stageNode(stage, stage.label, i === 0 ? [] : [declaration.stages[i - 1]?.label ?? '']),
    ),
  };
}

function summary(record: RunRecord): z.infer<typeof runSummarySchema> {
  const { nodes, outputs: _o, metrics: _m, ...rest } = record;
  return {
    ...(rest as z.infer<typeof runSummarySchema>),
    nodeCount: Object.keys(nodes ?? {}).length,
  };
}

/** Registers the dashboard on `fastify` (before the API's routes) and returns its auth check. */
export function registerDashboard(fastify: FastifyInstance, parts: DashboardParts): Dashboard {
  const { apiPrefix, tokens, secure, pipelines, store, submissions } = parts;
  const sessions = new SessionStore();
  const changeStreams = new Set<AbortController>();

  void fastify.register(cookie);

  // Parsed here rather than read from `request.cookies`: the API's auth hook runs before the
  // cookie plugin's own hook fills them in.
  const sessionOf = (request: FastifyRequest): string | undefined => {
    const header = request.headers.cookie;
    return header === undefined ? undefined : fastify.parseCookie(header)[SESSION_COOKIE];
  };
  const authenticated = (request: FastifyRequest): boolean =>
    tokens.size === 0 ||
    tokens.accepts(request.headers.authorization) ||
    sessions.valid(sessionOf(request));

  // The login and logout: outside the API (no bearer), answered to the dashboard's pages only.
  void fastify.register(async (app) => {
    app.get('/session', async (request) => ({
      authenticated: authenticated(request),
      required: tokens.size > 0,
    }));

    app.post('/login', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!sameOrigin(request)) throw csrfError();
      const parsed = loginBodySchema.safeParse(request.body);
      if (!parsed.success) throw invalidRequest('request body', zodIssues(parsed.error));
      if (tokens.size > 0 && !tokens.accepts(`Bearer ${parsed.data.token}`)) {
        throw new HttpError(
          401,
          'PHYS_UNAUTHORIZED',
          "This token is not one of the server's tokens. Paste one of the tokens it was started with (PHYS_SERVER_TOKENS or the `tokens` option).",
        );
      }
      sessions.close(sessionOf(request));
      const id = sessions.open();
      return reply
        .setCookie(SESSION_COOKIE, id, {
          path: '/',
          httpOnly: true,
          sameSite: 'strict',
          secure: secure || behindTls(request),
          maxAge: SESSION_SECONDS,
        })
        .code(204)
        .send();
    });

    app.post('/logout', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!sameOrigin(request)) throw csrfError();
      sessions.close(sessionOf(request));
      return reply
        .clearCookie(SESSION_COOKIE, {
          path: '/',
          httpOnly: true,
          sameSite: 'strict',
          secure: secure || behindTls(request),
        })
        .code(204)
        .send();
    });
  });

  // The pages: files of the Vite build, each at its own route (no wildcard: an unknown path
  // reaches the API's not-found answer). They hold no data; the data comes from the API.
  if (existsSync(join(WEB_ROOT, 'index.html'))) {
    void fastify.register(fastifyStatic, {
      root: WEB_ROOT,
      prefix: '/',
      wildcard: false,
      index: 'index.html',
      cacheControl: false,
      setHeaders(res, path) {
        // Vite names built assets by their content hash: they never change under one name.
        res.header(
          'cache-control',
          path.includes(`${join('web', 'assets')}`)
            ? 'public, max-age=31536000, immutable'
            : 'no-cache',
        );
        res.header(
          'content-security-policy',
          "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        );
        res.header('x-content-type-options', 'nosniff');
        res.header('referrer-policy', 'no-referrer');
      },
    });
  } else {
    fastify.get('/', async () => {
      throw new HttpError(
        404,
        'PHYS_DASHBOARD_MISSING',
        'This @phys/server has no built dashboard (dist/web is missing). Build the package (`pnpm build` in packages/server) or install a published release; the API works without it.',
      );
    });
  }

  // Routes of the API the pages need: registered under its prefix, behind its auth check.
  void fastify.register(
    async (api) => {
      api.get('/pipelines/:name', async (request) => {
        const { name } = request.params as { name: string };
        const declaration = Object.hasOwn(pipelines, name) ? pipelines[name] : undefined;
        if (declaration === undefined) {
          const known = Object.keys(pipelines);
          throw new HttpError(
            404,
            'PHYS_PIPELINE_NOT_FOUND',
            `This server has no pipeline '${name}'. ${known.length === 0 ? 'Its config declares none.' : `It has: ${known.join(', ')}.`} See GET ${apiPrefix}/pipelines.`,
            { details: { pipeline: name, pipelines: known } },
          );
        }
        return pipelineGraph(name, declaration);
      });

      api.get('/events', async (_request, reply) => {
        const controller = new AbortController();
        changeStreams.add(controller);
        const pending = new Set<string>();
        let timer: NodeJS.Timeout | undefined;
        let flushing = Promise.resolve();
        const raw = reply.raw;
        const write = async (text: string) => {
          if (!raw.write(text)) await once(raw, 'drain', { signal: controller.signal });
        };
        const flush = () => {
          timer = undefined;
          const ids = [...pending];
          pending.clear();
          flushing = flushing.then(async () => {
            for (const id of ids) {
              if (controller.signal.aborted) return;
              const record = await store.get(id);
              if (record === undefined) continue;
              await write(`event: run\ndata: ${JSON.stringify(summary(record))}\n\n`);
            }
          });
          flushing.catch(() => controller.abort());
        };
        const stop = submissions.onChange((jobId) => {
          pending.add(jobId);
          timer ??= setTimeout(flush, CHANGE_BATCH_MS);
        });
        reply.hijack();
        const keepAlive = setInterval(
          () => raw.write(': keep-alive\n\n'),
          KEEP_ALIVE_SECONDS * 1000,
        );
        keepAlive.unref();
        raw.on('close', () => controller.abort());
        raw.writeHead(200, {
          ...(reply.getHeaders() as Record<string, string>),
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        raw.flushHeaders();
        raw.write(': changes of every run follow\n\n');
        await new Promise<void>((resolve) => {
          if (controller.signal.aborted) resolve();
          controller.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        stop();
        if (timer !== undefined) clearTimeout(timer);
        clearInterval(keepAlive);
        changeStreams.delete(controller);
        raw.end();
      });
    },
    { prefix: apiPrefix },
  );

  // Open change streams would hold the server open: end them before it closes.
  fastify.addHook('preClose', async () => {
    for (const controller of changeStreams) controller.abort();
  });

  return {
    accepts(request) {
      if (!sessions.valid(sessionOf(request))) return false;
      if (!SAFE_METHODS.has(request.method) && !sameOrigin(request)) throw csrfError();
      return true;
    },
  };
}
