// The API routes the dashboard added, as OpenAPI paths and components (merged into openapi.ts).
import type { z } from 'zod';
import { pipelineGraphSchema, runSummarySchema } from './schemas.js';

/** Components of the dashboard's routes, by name. */
export const DASHBOARD_COMPONENTS: Record<string, z.ZodType> = {
  PipelineGraph: pipelineGraphSchema,
  RunSummary: runSummarySchema,
};

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: ref('Error') } },
});
const UNAUTHORIZED = { '401': error('No valid bearer token (PHYS_UNAUTHORIZED)') };

/** The dashboard's paths, relative to the API's prefix. */
export const DASHBOARD_PATHS: Record<string, unknown> = {
  '/pipelines/{name}': {
    get: {
      summary: "A pipeline's graph: its nodes, their dependencies, resources and sweep points",
      parameters: [
        {
          name: 'name',
          in: 'path',
          required: true,
          description: "The pipeline's name",
          schema: { type: 'string' },
        },
      ],
      responses: {
        '200': {
          description: 'The graph',
          content: { 'application/json': { schema: ref('PipelineGraph') } },
        },
        ...UNAUTHORIZED,
        '404': error('No such pipeline (PHYS_PIPELINE_NOT_FOUND)'),
      },
    },
  },
  '/events': {
    get: {
      summary: 'Changes of every run as Server-Sent Events, live until the client leaves',
      description:
        'One `event: run`, `data: <RunSummary JSON>` frame per run that was submitted or changed (changes within 200 ms come together, the newest state of each run once); a `: keep-alive` comment every 15 s. A run page follows its own run with /runs/{id}/events.',
      responses: {
        '200': {
          description: 'The change stream',
          content: { 'text/event-stream': { schema: ref('RunSummary') } },
        },
        ...UNAUTHORIZED,
      },
    },
  },
};
