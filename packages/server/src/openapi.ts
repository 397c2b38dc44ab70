// The OpenAPI 3.1 document of the API, generated from the zod schemas the routes parse with
// (zod 4's own JSON Schema output, which is the dialect OpenAPI 3.1 uses).
import { z } from 'zod';
import { DASHBOARD_COMPONENTS, DASHBOARD_PATHS } from './dashboard/openapi-paths.js';
import {
  cancelSchema,
  errorBodySchema,
  executionStatusSchema,
  healthSchema,
  logsSchema,
  pipelinesSchema,
  readySchema,
  retryPolicySchema,
  runEventSchema,
  runPageSchema,
  runRecordSchema,
  scheduleSchema,
  schedulesSchema,
  serializedErrorSchema,
  submitBodySchema,
  triggerSchema,
} from './schemas.js';

const COMPONENTS: Record<string, z.ZodType> = {
  ExecutionStatus: executionStatusSchema,
  RetryPolicy: retryPolicySchema,
  SubmitRun: submitBodySchema,
  SerializedError: serializedErrorSchema,
  RunRecord: runRecordSchema,
  RunEvent: runEventSchema,
  RunPage: runPageSchema,
  Error: errorBodySchema,
  Health: healthSchema,
  Ready: readySchema,
  Pipelines: pipelinesSchema,
  CancelResult: cancelSchema,
  Logs: logsSchema,
  Schedule: scheduleSchema,
  Schedules: schedulesSchema,
  TriggerResult: triggerSchema,
  ...DASHBOARD_COMPONENTS,
};

type Json = Record<string, unknown>;

/** The components, each schema referring to the others by `$ref`. */
function componentSchemas(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: 'any',
    io: 'input',
  }) as { schemas: Record<string, Json> };
  const out: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    const { $schema: _s, $id: _i, ...rest } = schema;
    out[id] = rest;
  }
  return out;
}

const ref = (id: keyof typeof COMPONENTS) => ({ $ref: `#/components/schemas/${id}` });
const json = (id: keyof typeof COMPONENTS, description: string) => ({
  description,
  content: { 'application/json': { schema: ref(id) } },
});
const error = (description: string) => json('Error', description);

const UNAUTHORIZED = { '401': error('No valid bearer token (PHYS_UNAUTHORIZED)') };
const NOT_FOUND = { '404': error('No run with this job id (PHYS_RUN_NOT_FOUND)') };
const INVALID = { '400': error('A malformed request; `issues` says where (PHYS_REQUEST_INVALID)') };
const NO_SCHEDULE = { '404': error('No schedule of this name (PHYS_SCHEDULE_NOT_FOUND)') };
const NAME = {
  name: 'name',
  in: 'path',
  required: true,
  description: "The schedule's name",
  schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' },
};
const ID = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'The job id',
  schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' },
};

/**
 * The OpenAPI 3.1 document of the phys server API v1 (what `GET /api/v1/openapi.json` serves).
 * @public
 */
export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'phys server',
      version,
      description:
        "Submit, follow and cancel runs of the server config's pipelines. Every route but /health needs `Authorization: Bearer <token>` when the server has tokens.",
    },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }],
    paths: {
      '/health': {
        get: {
          summary: 'Liveness',
          security: [],
          responses: { '200': json('Health', 'The server is up') },
        },
      },
      '/ready': {
        get: {
          summary: 'Readiness and queue size',
          responses: {
            '200': json('Ready', 'Accepting runs'),
            '503': error('Starting or stopping (PHYS_SERVER_UNAVAILABLE)'),
            ...UNAUTHORIZED,
          },
        },
      },
      '/openapi.json': {
        get: {
          summary: 'This document',
          responses: {
            '200': { description: 'The OpenAPI 3.1 document', content: { 'application/json': {} } },
            ...UNAUTHORIZED,
          },
        },
      },
      '/pipelines': {
        get: {
          summary: "The config's pipelines",
          responses: { '200': json('Pipelines', 'The pipelines'), ...UNAUTHORIZED },
        },
      },
      '/runs': {
        post: {
          summary: 'Submit a run',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              description: 'The run id, when the body has none (both given and different: 400)',
              schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' },
            },
          ],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: ref('SubmitRun') } },
          },
          responses: {
            '201': json('RunRecord', 'Created, QUEUED, and stored before this answer'),
            '200': json(
              'RunRecord',
              'A run with this id existed with the same pipeline and params',
            ),
            ...INVALID,
            ...UNAUTHORIZED,
            '404': error('No such pipeline (PHYS_PIPELINE_NOT_FOUND)'),
            '409': error('The run id exists with another pipeline or params (PHYS_RUN_CONFLICT)'),
            '413': error('Body over the limit (PHYS_REQUEST_TOO_LARGE)'),
          },
        },
        get: {
          summary: 'List runs, newest first',
          parameters: [
            { name: 'pipeline', in: 'query', schema: { type: 'string' } },
            {
              name: 'status',
              in: 'query',
              description: 'Comma-separated statuses, e.g. QUEUED,RUNNING',
              schema: { type: 'string' },
            },
            {
              name: 'limit',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
            },
            {
              name: 'cursor',
              in: 'query',
              description: 'nextCursor of the previous page',
              schema: { type: 'string' },
            },
          ],
          responses: { '200': json('RunPage', 'A page of runs'), ...INVALID, ...UNAUTHORIZED },
        },
      },
      '/runs/{id}': {
        get: {
          summary: 'A run',
          parameters: [ID],
          responses: { '200': json('RunRecord', 'The run'), ...UNAUTHORIZED, ...NOT_FOUND },
        },
      },
      '/runs/{id}/cancel': {
        post: {
          summary: 'Cancel a run; answers once it has ended',
          parameters: [ID],
          responses: {
            '200': json('CancelResult', 'cancelled: whether the run ended CANCELLED'),
            ...UNAUTHORIZED,
            ...NOT_FOUND,
          },
        },
      },
      '/runs/{id}/events': {
        get: {
          summary: "The run's events as Server-Sent Events, live until it ends",
          description:
            'One `id: <seq>`, `event: <type>`, `data: <RunEvent JSON>` frame per event; a `: keep-alive` comment every 15 s. Resume with Last-Event-ID (or ?after=). The stream ends after the terminal status event.',
          parameters: [
            ID,
            { name: 'Last-Event-ID', in: 'header', schema: { type: 'string' } },
            { name: 'after', in: 'query', schema: { type: 'integer', minimum: 0 } },
          ],
          responses: {
            '200': {
              description: 'The event stream',
              content: { 'text/event-stream': { schema: ref('RunEvent') } },
            },
            ...INVALID,
            ...UNAUTHORIZED,
            ...NOT_FOUND,
          },
        },
      },
      '/runs/{id}/logs': {
        get: {
          summary: "The tail of the run's log",
          parameters: [
            ID,
            {
              name: 'tail',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 5000, default: 200 },
            },
          ],
          responses: {
            '200': json('Logs', 'The last lines, oldest first'),
            ...INVALID,
            ...UNAUTHORIZED,
            ...NOT_FOUND,
          },
        },
      },
      '/schedules': {
        get: {
          summary: "The config's schedules: next fire times, last fire, last run and its status",
          responses: { '200': json('Schedules', 'Every schedule'), ...UNAUTHORIZED },
        },
      },
      '/schedules/{name}': {
        get: {
          summary: 'A schedule',
          parameters: [NAME],
          responses: { '200': json('Schedule', 'The schedule'), ...UNAUTHORIZED, ...NO_SCHEDULE },
        },
      },
      '/schedules/{name}/pause': {
        post: {
          summary: 'Pause a schedule (persisted in the run store): it fires no more until resumed',
          parameters: [NAME],
          responses: {
            '200': json('Schedule', 'The schedule, paused'),
            ...UNAUTHORIZED,
            ...NO_SCHEDULE,
          },
        },
      },
      '/schedules/{name}/resume': {
        post: {
          summary:
            'Resume a schedule: it fires from now on; fires that fell in the pause are not caught up',
          parameters: [NAME],
          responses: {
            '200': json('Schedule', 'The schedule, resumed'),
            ...UNAUTHORIZED,
            ...NO_SCHEDULE,
          },
        },
      },
      '/schedules/{name}/trigger': {
        post: {
          summary: "Start the schedule's pipeline now, with its params (paused or not)",
          parameters: [NAME],
          responses: {
            '201': json('TriggerResult', 'The run started; Location is its URL'),
            ...UNAUTHORIZED,
            ...NO_SCHEDULE,
          },
        },
      },
      ...DASHBOARD_PATHS,
    },
    components: {
      schemas: componentSchemas(),
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
  };
}
