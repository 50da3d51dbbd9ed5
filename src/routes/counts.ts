/**
 * GET /runtime/webhooks/durabletask/counts (ours): how many instances there are per runtime status
 * and per orchestration name. The monitor's overview reads it; a Durable Functions client has no
 * such route, and listing every instance to count them would cost a page per 1,000 instances.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Static, Type } from 'typebox';
import { hubOf } from './hubs.ts';
import type { InstanceCount } from '../orchestrator/core/instance.ts';
import { RUNTIME_STATUSES } from '../orchestrator/core/statuses.ts';
import { commonErrors, errorBody, HubQuery, KeyHeaders, TaskHubNotFound } from './schemas.ts';

const ByStatus = Type.Object(
  Object.fromEntries(RUNTIME_STATUSES.map((s) => [s, Type.Integer({ minimum: 0 })])) as Record<(typeof RUNTIME_STATUSES)[number], ReturnType<typeof Type.Integer>>,
  { description: 'Instances per runtime status (every status present, 0 when none).' },
);

const Counts = Type.Object(
  {
    total: Type.Integer({ minimum: 0, description: 'All instances kept (purged ones are gone).' }),
    byStatus: ByStatus,
    byName: Type.Array(
      Type.Object({ name: Type.String(), total: Type.Integer({ minimum: 0 }), byStatus: ByStatus }),
      { description: 'Per orchestration name that has instances, by name.' },
    ),
  },
  { description: 'Instance counts.' },
);

export type CountsView = Static<typeof Counts>;

const zero = (): CountsView['byStatus'] => Object.fromEntries(RUNTIME_STATUSES.map((s) => [s, 0])) as CountsView['byStatus'];

/** Rows of (name, status, count) → the payload. Pure. */
export function countsView(rows: readonly InstanceCount[]): CountsView {
  const view: CountsView = { total: 0, byStatus: zero(), byName: [] };
  const names = new Map<string, CountsView['byName'][number]>();
  for (const row of rows) {
    const n = row.count;
    let entry = names.get(row.name);
    if (entry === undefined) {
      entry = { name: row.name, total: 0, byStatus: zero() };
      names.set(row.name, entry);
      view.byName.push(entry);
    }
    entry.total += n;
    entry.byStatus[row.runtimeStatus] += n;
    view.total += n;
    view.byStatus[row.runtimeStatus] += n;
  }
  return view;
}

export function countRoutes(): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/counts',
      {
        schema: {
          tags: ['instances'],
          summary: 'Count instances per runtime status and per orchestration name',
          description: 'Ours (Durable Functions has no such route). One GROUP BY over the instances table.',
          querystring: Type.Object(HubQuery),
          headers: Type.Object(KeyHeaders),
          response: {
            200: Counts,
            ...commonErrors(undefined, false),
            404: errorBody(`Not found: ${TaskHubNotFound}.`),
          },
        },
      },
      async (request) => countsView(await hubOf(request).client.counts()),
    );
  };
}
