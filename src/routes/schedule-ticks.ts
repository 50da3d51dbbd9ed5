/**
 * GET /runtime/webhooks/durabletask/schedules/{name}/ticks (ours): a schedule's recent ticks, newest
 * first, with what each did (started a run, skipped because the single-instance run was still
 * active, or failed) and the instance concerned. The scheduler keeps the last 1,000 per schedule.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ApiError } from './api-error.ts';
import { hubOf } from './hubs.ts';
import { commonErrors, errorBody, HubQuery, KeyHeaders, TaskHubNotFound } from './schemas.ts';

const Tick = Type.Object({
  tickTime: Type.String({ format: 'date-time', description: 'The tick (the scheduled time, not when it was handled).' }),
  outcome: Type.Union([Type.Literal('started'), Type.Literal('skipped'), Type.Literal('failed')], {
    description: 'skipped: the single-instance orchestration was still running at that tick.',
  }),
  instanceId: Type.Union([Type.String(), Type.Null()], { description: 'The run started, or the active run that made the tick skip.' }),
  detail: Type.Union([Type.String(), Type.Null()], { description: 'Why it was skipped or failed.' }),
});

export function scheduleTickRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/schedules/:name/ticks',
      {
        schema: {
          tags: ['schedules'],
          summary: "List a schedule's recent ticks",
          description: 'Newest first; the scheduler keeps the last 1,000 ticks of each schedule.',
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
        return ticks.map((t) => ({ tickTime: t.tickAt.toISOString(), outcome: t.outcome, instanceId: t.instanceId, detail: t.detail }));
      },
    );
  };
}
