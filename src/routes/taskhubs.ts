/**
 * GET /taskhubs (ours): the task hubs this service serves, the connection each lives on, and which
 * one a request without `taskHub` selects. The monitor reads it for its hub selector.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { HubDirectory } from './hubs.ts';
import { commonErrors, errorBody, HubQuery, KeyHeaders, TaskHubNotFound } from './schemas.ts';

const TaskHubs = Type.Array(
  Type.Object({
    name: Type.String({ description: 'The task hub: the value of `taskHub` that selects it.' }),
    connection: Type.String({ description: 'The connection (storage) it lives on: Storage (DATABASE_URL) or a TASKHUB_CONNECTION_<NAME>.' }),
    default: Type.Boolean({ description: 'true for the hub a request without `taskHub` acts on.' }),
  }),
  { description: 'Every task hub served, in configuration order (TASKHUB_HUBS).' },
);

export function taskHubRoutes(hubs: HubDirectory): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/taskhubs',
      {
        schema: {
          tags: ['task hubs'],
          summary: 'List the task hubs this service serves',
          description: 'Ours (Durable Functions has no such route). Names and connection names only, never a connection string.',
          querystring: Type.Object(HubQuery),
          headers: Type.Object(KeyHeaders),
          response: { 200: TaskHubs, ...commonErrors(undefined, false), 404: errorBody(`Not found: ${TaskHubNotFound}.`) },
        },
      },
      async () => hubs.all.map((h) => ({ name: h.name, connection: h.connection, default: h === hubs.default })),
    );
  };
}
