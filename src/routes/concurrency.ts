/**
 * GET /runtime/webhooks/durabletask/concurrency (ours): each orchestration with concurrency control
 * (singleton, concurrency limit, debounce), and each of its keys that has an instance now: its
 * active instances, its queued ones in the order they will run, its debouncing one.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, Type } from 'typebox';
import { displayKey } from '../orchestrator/core/concurrency.ts';
import { hubOf } from './hubs.ts';
import { commonErrors, errorBody, HubQuery, KeyHeaders, TaskHubNotFound } from './schemas.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const Orchestration = Type.Object({
  name: Type.String(),
  limit: Nullable(Type.Integer({ minimum: 1 })),
  keyed: Type.Boolean({ description: 'true: the limit is per key of the input; false: per orchestration name.' }),
  onConflict: Type.String({ description: 'The default start policy (a start may name another with ?onConflict=).' }),
  debounce: Nullable(Type.Object({ seconds: Type.Number(), maxWaitSeconds: Type.Number() })),
});

const Key = Type.Object({
  orchestration: Type.String(),
  key: Nullable(Type.String({ description: 'The key (null: the one key of a per-name limit).' })),
  limit: Nullable(Type.Integer({ description: 'Active instances allowed at once (null: debounce only).' })),
  active: Type.Array(Type.String(), { description: 'Ids of the active instances holding a slot, oldest first.' }),
  queued: Type.Array(Type.String(), { description: 'Ids of the instances waiting for a slot, in the order they will run.' }),
  debouncing: Type.Array(Type.Object({ instanceId: Type.String(), startsAt: Type.String({ format: 'date-time' }) }), {
    description: 'The instance a burst of debounced starts collapsed into, not started yet (at most one per key).',
  }),
});

const Listing = Type.Object(
  {
    orchestrations: Type.Array(Orchestration),
    keys: Type.Array(Key),
    truncated: Type.Boolean({ description: 'true: more than 10,000 instances; the listing stopped there.' }),
  },
  { description: 'Concurrency control: the configuration and each key in use.' },
);

type KeyView = Static<typeof Key>;

export function concurrencyRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/concurrency',
      {
        schema: {
          tags: ['concurrency'],
          summary: 'List concurrency keys',
          description: 'Each key with its limit, its active instance ids and its queued ones in order (see README "Concurrency control").',
          querystring: Type.Object(HubQuery),
          headers: Type.Object(KeyHeaders),
          response: { 200: Listing, ...commonErrors(undefined, false), 404: errorBody(`Not found: ${TaskHubNotFound}.`) },
        },
      },
      async (request): Promise<Static<typeof Listing>> => {
        const { client, registry } = hubOf(request);
        const orchestrations = registry.listOrchestrations().flatMap((o) => {
          const c = registry.concurrency(o.name);
          if (c === undefined) return [];
          const keyed = typeof o.options.singleton === 'object' || o.options.concurrency?.key !== undefined;
          return [{ name: o.name, limit: c.limit ?? null, keyed, onConflict: c.onConflict, debounce: c.debounce ?? null }];
        });
        const limits = new Map(orchestrations.map((o) => [o.name, o.limit]));
        const { rows, truncated } = await client.concurrencyKeys(orchestrations.map((o) => o.name));
        const keys = new Map<string, KeyView>();
        for (const r of rows) {
          const id = `${r.name}\u0000${r.key}`;
          let view = keys.get(id);
          if (view === undefined) {
            view = { orchestration: r.name, key: displayKey(r.key), limit: limits.get(r.name) ?? null, active: [], queued: [], debouncing: [] };
            keys.set(id, view);
          }
          if (r.state === 'holder') view.active.push(r.instanceId);
          else if (r.state === 'queued') view.queued.push(r.instanceId);
          else view.debouncing.push({ instanceId: r.instanceId, startsAt: (r.debounceAt as Date).toISOString() });
        }
        return { orchestrations, keys: [...keys.values()], truncated };
      },
    );
  };
}
