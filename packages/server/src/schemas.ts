// The shapes of the HTTP API v1, as zod schemas: requests are parsed with them, and the OpenAPI
// document (openapi.ts) is generated from the same schemas, so the two cannot disagree.
import { z } from 'zod';

/** A job id: the run id a client chose, or one the server generated. */
export const runIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,128}$/, {
    message: "must be 1 to 128 letters, digits, '.', '_' or '-'",
  })
  .meta({ description: "1 to 128 letters, digits, '.', '_' or '-'", example: 'ising-scan-001' });

export const executionStatusSchema = z.enum([
  'QUEUED',
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
]);

const nodeStatusSchema = z.enum([
  'QUEUED',
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'SKIPPED',
  'CACHED',
]);

export const retryPolicySchema = z.strictObject({
  maxAttempts: z.number().int().min(1).meta({ description: 'Total attempts, the first included' }),
  initialDelaySeconds: z.number().min(0).optional(),
  backoffMultiplier: z.number().min(1).optional(),
  maxDelaySeconds: z.number().min(0).optional(),
  jitter: z.boolean().optional(),
  retryableErrors: z
    .array(z.string())
    .optional()
    .meta({ description: "Codes (PHYS_JOB_OOM) or reasons ('OOM', 'Timeout'), any case" }),
});

/** Body of `POST /runs`. */
export const submitBodySchema = z.strictObject({
  pipeline: z.string().min(1).meta({ description: "A pipeline of the server's config" }),
  params: z
    .record(z.string(), z.json())
    .optional()
    .meta({ description: "Laid over the config's and the pipeline's policy" }),
  runId: runIdSchema.optional().meta({
    description:
      'The job id and idempotency key (default: the Idempotency-Key header, else a fresh id)',
  }),
  priority: z.number().int().optional().meta({ description: 'Higher runs first (default 0)' }),
  retryPolicy: retryPolicySchema.optional(),
});

/** A comma-separated list of statuses in a query string. */
const statusListSchema = z
  .string()
  .transform((text) => text.split(',').map((s) => s.trim().toUpperCase()))
  .pipe(z.array(executionStatusSchema).min(1));

/** Query of `GET /runs`. */
export const listQuerySchema = z.strictObject({
  pipeline: z.string().min(1).optional(),
  status: statusListSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: z.string().min(1).optional(),
});

/** Query of `GET /runs/:id/logs`. */
export const logsQuerySchema = z.strictObject({
  tail: z.coerce.number().int().min(1).max(5000).default(200),
});

/** Query of `GET /runs/:id/events`. */
export const eventsQuerySchema = z.strictObject({
  after: z.coerce.number().int().min(0).optional(),
});

export const idParamsSchema = z.strictObject({ id: runIdSchema });

// ---- responses (documentation: the server writes what the orchestrator returns) ----

export const serializedErrorSchema: z.ZodType = z.object({
  name: z.string(),
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
  details: z.record(z.string(), z.unknown()).optional(),
  fields: z.record(z.string(), z.unknown()).optional(),
  stack: z.string().optional(),
  get cause() {
    return serializedErrorSchema.optional();
  },
});

export const runRecordSchema = z.object({
  jobId: z.string(),
  pipeline: z.string(),
  status: executionStatusSchema,
  params: z.record(z.string(), z.unknown()),
  priority: z.number().int(),
  trigger: z.union([
    z.object({ kind: z.enum(['api', 'cli']), by: z.string().optional() }),
    z.object({
      kind: z.literal('schedule'),
      schedule: z.string(),
      fireTime: z.string(),
      missed: z.number().int().optional(),
      manual: z.boolean().optional(),
    }),
  ]),
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  submittedAt: z.string().meta({ format: 'date-time' }),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  durationSeconds: z.number().optional(),
  outputs: z.record(z.string(), z.unknown()).optional(),
  metrics: z.record(z.string(), z.number()).optional(),
  error: serializedErrorSchema.optional(),
  nodes: z
    .record(
      z.string(),
      z.object({
        status: nodeStatusSchema,
        attempts: z.number().int(),
        durationSeconds: z.number().optional(),
        error: serializedErrorSchema.optional(),
      }),
    )
    .optional(),
});

export const runEventSchema = z.discriminatedUnion('type', [
  z.object({
    seq: z.number().int(),
    at: z.string(),
    type: z.literal('status'),
    status: executionStatusSchema,
    attempt: z.number().int(),
    error: serializedErrorSchema.optional(),
  }),
  z.object({
    seq: z.number().int(),
    at: z.string(),
    type: z.literal('node'),
    node: z.string(),
    status: nodeStatusSchema,
    attempt: z.number().int(),
  }),
  z.object({
    seq: z.number().int(),
    at: z.string(),
    type: z.literal('log'),
    level: z.enum(['debug', 'info', 'warn', 'error']),
    message: z.string(),
    node: z.string().optional(),
  }),
]);

export const runPageSchema = z.object({
  runs: z.array(runRecordSchema),
  nextCursor: z.string().optional(),
});

export const errorBodySchema = z.object({
  error: z.object({
    name: z.string(),
    code: z.string().meta({ example: 'PHYS_REQUEST_INVALID' }),
    message: z.string(),
    retryable: z.boolean(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

export const healthSchema = z.object({ status: z.literal('ok'), version: z.string() });
export const readySchema = z.object({
  status: z.literal('ready'),
  queued: z.number().int(),
  running: z.number().int(),
  maxConcurrentRuns: z.number().int(),
});
export const pipelinesSchema = z.object({
  pipelines: z.array(
    z.object({
      name: z.string(),
      kind: z.enum(['sequential', 'dag']),
      description: z.string().optional(),
      size: z
        .number()
        .int()
        .meta({ description: 'Nodes of a DAG, stages of a sequential pipeline' }),
    }),
  ),
});
export const cancelSchema = z.object({ cancelled: z.boolean(), run: runRecordSchema });
export const logsSchema = z.object({
  lines: z.array(
    z.object({
      seq: z.number().int(),
      at: z.string(),
      level: z.enum(['debug', 'info', 'warn', 'error']),
      message: z.string(),
      node: z.string().optional(),
    }),
  ),
});

const fireSchema = z.object({
  fireTime: z.string().meta({ format: 'date-time', description: 'The fire time (UTC)' }),
  outcome: z.enum(['launched', 'queued', 'skipped-overlap', 'skipped-misfire']),
  runId: z.string().optional().meta({ description: 'The job id of the run it started' }),
  status: executionStatusSchema.optional(),
  missed: z
    .number()
    .int()
    .optional()
    .meta({ description: 'Missed fire times it stands for besides its own (misfire runOnce)' }),
  manual: z.boolean().optional().meta({ description: 'Started by hand (trigger)' }),
});
export const scheduleSchema = z.object({
  name: z.string(),
  pipeline: z.string(),
  spec: z.string().meta({ description: 'The rule in words, e.g. "daily at 02:30"' }),
  pattern: z.string().meta({ description: 'The cron pattern it stands for' }),
  timezone: z.string(),
  paused: z.boolean(),
  misfire: z.enum(['skip', 'runOnce']),
  overlap: z.enum(['skip', 'queue', 'allow']),
  maxLatenessSeconds: z.number(),
  nextFireTimes: z
    .array(z.string())
    .meta({ description: 'The next five fire times (UTC); none while paused' }),
  lastFire: fireSchema.nullable().meta({ description: 'The newest fire, whatever became of it' }),
  lastRun: fireSchema
    .nullable()
    .meta({ description: 'The newest fire that started a run, with its status' }),
});
export const schedulesSchema = z.object({ schedules: z.array(scheduleSchema) });
export const scheduleNameSchema = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, {
  message: "must be 1 to 128 letters, digits, '.', '_' or '-'",
});
export const triggerSchema = z.object({
  runId: z.string().meta({ description: 'The job id of the run started' }),
  run: runRecordSchema,
});
