/**
 * GET /runtime/webhooks/durabletask/schedules (ours): each schedule, its overlap policy and
 * catch-up window, its next tick, its last outcome, the ticks waiting in its buffer, its newest
 * ticks and its counters (one per outcome).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, Type } from 'typebox';
import { Tick, TickOutcome, tickView } from './schedule-ticks.ts';
import { hubOf } from './hubs.ts';
import { commonErrors, errorBody, HubQuery, KeyHeaders, TaskHubNotFound } from './schemas.ts';

/** Newest ticks shown per schedule (the whole log is GET /schedules/{name}/ticks). */
const RECENT_TICKS = 10;

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
  overlap: Type.Union([Type.Literal('skip'), Type.Literal('bufferOne'), Type.Literal('bufferAll'), Type.Literal('terminateOther'), Type.Literal('allowAll')], {
    description:
      'What a tick does while the previous run is still active: skip (start nothing), bufferOne (one tick waits and starts when the run ends), ' +
      'bufferAll (every tick waits, started in order), terminateOther (terminate the running instance and start), allowAll (start regardless).',
  }),
  catchupWindowSeconds: Type.Integer({
    description: 'How late a tick missed while no worker ran may still be handled by its overlap policy; a later one is recorded as skipped.',
  }),
  input: Type.Unknown({ description: 'The input each run starts with.' }),
  nextRunTime: Type.String({ format: 'date-time' }),
  lastTickTime: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastOutcome: Type.Union([TickOutcome, Type.Null()]),
  lastInstanceId: Type.Union([Type.String(), Type.Null()], { description: 'The run the last tick started, or the active run that made it skip.' }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  lastDetail: Type.Union([Type.String(), Type.Null()], {
    description:
      'What the last tick found: the active run that made it skip or wait, the run it terminated (terminateOther), or that its slot was held by a run past its run deadline (deadlineSeconds), which the tick then terminated.',
  }),
  waiting: Type.Integer({ description: 'Buffered ticks still waiting for the running instance to end (bufferOne: at most 1).' }),
  recentTicks: Type.Array(Tick, { description: `The newest ${RECENT_TICKS} ticks, newest first.` }),
  startedCount: Type.Integer(),
  bufferedCount: Type.Integer({ description: 'Ticks buffered (each starts once, when the slot frees).' }),
  skippedCount: Type.Integer(),
  replacedCount: Type.Integer({ description: 'Ticks that terminated the running instance and started (terminateOther).' }),
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
          description:
            'Every schedule with its overlap policy, its next tick, its last outcome, the ticks waiting in its buffer, its newest ticks and its counters; ' +
            '`registered` says whether this server registers it.',
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
        return (await client.schedules(RECENT_TICKS)).map(
          (s): ScheduleView => ({
            name: s.name,
            registered: registry.getOrchestration(s.name) !== undefined,
            cron: s.cron,
            timezone: s.timezone,
            overlap: s.overlap,
            catchupWindowSeconds: s.catchupWindowSeconds,
            input: s.input === null ? null : JSON.parse(s.input),
            nextRunTime: s.nextRunAt.toISOString(),
            lastTickTime: s.lastTickAt?.toISOString() ?? null,
            lastOutcome: s.lastOutcome,
            lastInstanceId: s.lastInstanceId,
            lastError: s.lastError,
            lastDetail: s.lastDetail,
            waiting: s.waiting,
            recentTicks: s.recentTicks.map(tickView),
            startedCount: s.startedCount,
            bufferedCount: s.bufferedCount,
            skippedCount: s.skippedCount,
            replacedCount: s.replacedCount,
            failedCount: s.failedCount,
          }),
        );
      },
    );
  };
}
