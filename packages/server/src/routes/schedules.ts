// The schedules routes of API v1: list, one, pause, resume, trigger. The ScheduleRunner of the
// server does the work; these routes shape its answers for the wire.
import type { ScheduleFire, ScheduleRunner, ScheduleStatus } from '@phys/runtime';
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { invalidRequest, zodIssues } from '../http-error.js';
import { scheduleNameSchema, type scheduleSchema } from '../schemas.js';

type ScheduleView = z.input<typeof scheduleSchema>;
type FireView = NonNullable<ScheduleView['lastFire']>;

function fireView(
  fire: (ScheduleFire & { readonly status?: string }) | undefined,
): FireView | null {
  if (fire === undefined) return null;
  return {
    fireTime: fire.fireTime,
    outcome: fire.outcome,
    ...(fire.jobId === undefined ? {} : { runId: fire.jobId }),
    ...(fire.status === undefined ? {} : { status: fire.status as FireView['status'] }),
    ...(fire.missed === undefined ? {} : { missed: fire.missed }),
    ...(fire.manual === true ? { manual: true } : {}),
  };
}

/** A schedule as the API answers it. */
export function scheduleView(status: ScheduleStatus): ScheduleView {
  return {
    name: status.name,
    pipeline: status.pipeline,
    spec: status.description,
    pattern: status.pattern,
    timezone: status.timezone,
    paused: status.paused,
    misfire: status.misfire,
    overlap: status.overlap,
    maxLatenessSeconds: status.maxLatenessSeconds,
    nextFireTimes: [...status.nextFireTimes],
    lastFire: fireView(status.lastFire),
    lastRun: fireView(status.lastRun),
  };
}

function nameOf(params: unknown): string {
  const result = scheduleNameSchema.safeParse((params as { name?: unknown }).name);
  if (!result.success) {
    throw invalidRequest(
      'path',
      zodIssues(result.error).map((i) => ({ ...i, path: 'name' })),
    );
  }
  return result.data;
}

/** Registers the schedule routes on `api` (mounted under the API prefix). */
export function scheduleRoutes(
  api: FastifyInstance,
  schedules: ScheduleRunner,
  prefix: string,
): void {
  api.get('/schedules', async () => ({
    schedules: (await schedules.list()).map(scheduleView),
  }));

  api.get('/schedules/:name', async (request) =>
    scheduleView(await schedules.get(nameOf(request.params))),
  );

  api.post('/schedules/:name/pause', async (request) =>
    scheduleView(await schedules.pause(nameOf(request.params))),
  );

  api.post('/schedules/:name/resume', async (request) =>
    scheduleView(await schedules.resume(nameOf(request.params))),
  );

  api.post('/schedules/:name/trigger', async (request, reply) => {
    const submission = await schedules.trigger(nameOf(request.params));
    return reply
      .code(201)
      .header('location', `${prefix}/runs/${encodeURIComponent(submission.jobId)}`)
      .send({ runId: submission.jobId, run: submission.record });
  });
}
