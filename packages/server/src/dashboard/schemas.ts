// Shapes of the routes the dashboard added to the API v1 (a pipeline's graph, the stream of run
// changes) and of its login. The OpenAPI document is generated from the same schemas.
import { z } from 'zod';
import { runRecordSchema } from '../schemas.js';

/** One node of `GET /pipelines/:name` (a DAG node, or a stage of a sequential pipeline). */
export const graphNodeSchema = z.object({
  id: z.string().meta({ description: 'The node id (a sequential stage: its label)' }),
  deps: z.array(z.string()),
  stage: z.string().meta({ description: 'The registered stage name' }),
  version: z.string(),
  isolation: z.string().optional(),
  resources: z.record(z.string(), z.unknown()).optional(),
  timeoutSeconds: z.number().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  point: z
    .record(z.string(), z.unknown())
    .optional()
    .meta({ description: 'The parameter values a sweep copy stands for' }),
});

/** Body of `GET /pipelines/:name`. */
export const pipelineGraphSchema = z.object({
  name: z.string(),
  kind: z.enum(['sequential', 'dag']),
  description: z.string().optional(),
  nodes: z.array(graphNodeSchema),
});

/** A run as the change stream sends it: the record without its nodes, outputs and metrics. */
export const runSummarySchema = runRecordSchema
  .omit({ nodes: true, outputs: true, metrics: true })
  .extend({
    nodeCount: z.number().int().meta({ description: 'How many nodes the run has recorded' }),
  });

/** Body of `POST /login` (the dashboard's login, outside the API). */
export const loginBodySchema = z.strictObject({ token: z.string().min(1).max(4096) });

/** Body of `GET /session`. */
export const sessionSchema = z.object({
  authenticated: z.boolean(),
  required: z.boolean().meta({ description: 'Whether this server asks for a token at all' }),
});
