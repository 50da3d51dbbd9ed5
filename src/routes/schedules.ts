/**
 * GET /runtime/webhooks/durabletask/schedules (ours): each schedule, its next run and its last
 * outcome (started / skipped as overlapping / failed), with counters.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, Type } from 'typebox';
import { hubOf } from './hubs.ts';
import { commonErrors, errorBody, HubQuery, KeyHeaders, TaskHubNotFound } from './schemas.ts';

const Schedule = Type.Object({
  name: Type.String({ description: 'The orchestration started on this schedule.' }),
  registered: Type.Boolean({
    description:
      'false: this server does not register that orchestration (a row left by an earlier configuration, e.g. the ' +
      'examples with TASKHUB_EXAMPLES=false). The row keeps its history; a worker claims only the rows of the ' +
      'orchestrations it schedules, so nothing is started or recorded for this one until a worker schedules it again.',
  }),
  cron: Type.String(),
  timezone: Type.String(),
  input: Type.Unknown({ description: 'The input each run starts with.' }),
  nextRunTime: Type.String({ format: 'date-time' }),
  lastTickTime: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastOutcome: Type.Union([Type.Literal('started'), Type.Literal('skipped'), Type.Literal('failed'), Type.Null()], {
    description: 'skipped: the single-instance orchestration was still running at that tick, so no second run was started.',
  }),
  lastInstanceId: Type.Union([Type.String(), Type.Null()], { description: 'The run started, or the active run that made the tick skip.' }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  lastDetail: Type.Union([Type.String(), Type.Null()], {
    description:
      'What the last tick found: the active run that made it skip, or that its slot was held by a run past its run deadline (deadlineSeconds), which the tick then terminated.',
  }),
  startedCount: Type.Integer(),
  skippedCount: Type.Integer(),
  failedCount: Type.Integer(),
});

export type ScheduleView = Static<typeof Schedule>;

/** The selected hub's schedules; `registered`: whether that hub offers the orchestration. */
export function scheduleRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/schedules',
      {
        schema: {
          tags: ['schedules'],
          summary: 'List schedules',
          description: 'Every schedule with its next run, its last outcome and its counters; `registered` says whether this server registers it.',
          querystring: Type.Object(HubQuery),
          headers: Type.Object(KeyHeaders),
          response: {
            200: Type.Array(Schedule, { description: 'The schedules, by name.' }),
            ...commonErrors(undefined, false),
            404: errorBody(`Not found: ${TaskHubNotFound}.`),
          },
        },
      },
      async (request) => {
        const { client, registry } = hubOf(request);
        return (await client.schedules()).map(
          (s): ScheduleView => ({
            name: s.name,
            registered: registry.getOrchestration(s.name) !== undefined,
            cron: s.cron,
            timezone: s.timezone,
            input: s.input === null ? null : JSON.parse(s.input),
            nextRunTime: s.nextRunAt.toISOString(),
            lastTickTime: s.lastTickAt?.toISOString() ?? null,
            lastOutcome: s.lastOutcome,
            lastInstanceId: s.lastInstanceId,
            lastError: s.lastError,
            lastDetail: s.lastDetail,
            startedCount: s.startedCount,
            skippedCount: s.skippedCount,
            failedCount: s.failedCount,
          }),
        );
      },
    );
  };
}
