/**
 * GET /runtime/webhooks/durabletask/schedules/{name}/ticks (ours): a schedule's recent ticks, newest
 * first, each with its one outcome (started, buffered, skipped, replaced, failed), the instance
 * concerned and, for a buffered tick, when its run started. The scheduler keeps the last 1,000 per
 * schedule (and every buffered tick still waiting).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, Type } from 'typebox';
import { ApiError } from './api-error.ts';
import type { Tick as TickRow } from '../orchestrator/core/schedule.ts';
import { hubOf } from './hubs.ts';
import { commonErrors, errorBody, HubQuery, KeyHeaders, TaskHubNotFound } from './schemas.ts';

export const TickOutcome = Type.Union(
  [Type.Literal('started'), Type.Literal('buffered'), Type.Literal('skipped'), Type.Literal('replaced'), Type.Literal('failed')],
  {
    description:
      'started: the tick started a run. buffered: the previous run was still active, so the tick waits and starts when that run ends ' +
      '(bufferOne, bufferAll; startedTime says when). skipped: it started nothing (the previous run was still active under skip, the ' +
      'buffer already held a tick or was full, it was missed beyond the catch-up window, or a newer tick of the same catch-up superseded it). ' +
      'replaced: it terminated the running instance and started a run (terminateOther). failed: its start could not be made.',
  },
);

export const Tick = Type.Object({
  tickTime: Type.String({ format: 'date-time', description: 'The tick (the scheduled time, not when it was handled).' }),
  outcome: TickOutcome,
  instanceId: Type.Union([Type.String(), Type.Null()], {
    description: 'The run started (started, replaced, a buffered tick once started), or the active run that made it skip; null while a buffered tick waits.',
  }),
  detail: Type.Union([Type.String(), Type.Null()], { description: 'What the tick found: the run it waited for, skipped for or terminated, or why it failed.' }),
  startedTime: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'A buffered tick: when its run started after the previous one ended (null while it waits, and for other outcomes).',
  }),
});

export function tickView(t: TickRow): Static<typeof Tick> {
  return { tickTime: t.tickAt.toISOString(), outcome: t.outcome, instanceId: t.instanceId, detail: t.detail, startedTime: t.startedAt?.toISOString() ?? null };
}

export function scheduleTickRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/schedules/:name/ticks',
      {
        schema: {
          tags: ['schedules'],
          summary: "List a schedule's recent ticks",
          description: 'Newest first; the scheduler keeps the last 1,000 ticks of each schedule, and every buffered tick still waiting.',
          params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 128, description: 'The scheduled orchestration (any case).' }) }),
          querystring: Type.Object({ ...HubQuery, top: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'How many ticks (default 50).' })) }),
          headers: Type.Object(KeyHeaders),
          response: {
            200: Type.Array(Tick, { description: 'The ticks, newest first.' }),
            ...commonErrors(undefined, false),
            404: errorBody(`No schedule with that name, or ${TaskHubNotFound}.`),
          },
        },
      },
      async (request) => {
        const ticks = await hubOf(request).client.scheduleTicks(request.params.name, request.query.top ?? 50);
        if (ticks === undefined) throw new ApiError('NOT_FOUND', `No schedule named '${request.params.name}' is registered.`);
        return ticks.map(tickView);
      },
    );
  };
}
