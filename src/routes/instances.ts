/**
 * Instances: status (GET instances/{id}), listing (GET instances), purge one (DELETE
 * instances/{id}) and purge many (DELETE instances).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from './deps.ts';
import { hubOf, type HubView } from './hubs.ts';
import { ApiError } from './api-error.ts';
import type { ListFilter } from '../orchestrator/core/instance.ts';
import { decodeToken, encodeToken } from './continuation.ts';
import { parseBool, parseDate, parseStatuses } from './query.ts';
import { isTerminal } from '../orchestrator/core/statuses.ts';
import { Gate, HISTORY_LOADS, HISTORY_REST, RenderedHistoryCache, renderKey } from './history-cache.ts';
import { renderStatus, sendEmpty, sendJsonBytes, sendJsonText, sendRenderedStatus, sendStatus, type StatusFlags } from './replies.ts';
import {
  Bool,
  commonErrors,
  DateParam,
  errorBody,
  HubQuery,
  InstanceId,
  KeyHeaders,
  PurgeResult,
  RuntimeStatusParam,
  StatusPayload,
  TaskHubNotFound,
} from './schemas.ts';
import { statusListJson } from './status-payload.ts';

const InstanceParams = Type.Object({ instanceId: InstanceId });
const TOKEN_HEADER = 'x-ms-continuation-token';

const statusSchema = {
  tags: ['instances'],
  summary: 'Get the status of an instance',
  params: InstanceParams,
  querystring: Type.Object({
    ...HubQuery,
    showHistory: Bool('Add the history of the current execution (historyEvents).', false),
    showHistoryOutput: Bool('Add results (and failure details) to history events.', false),
    showInput: Bool('Include the input.', true),
    returnInternalServerErrorOnFailure: Bool('Answer 500 for a Failed instance.', false),
  }),
  headers: Type.Object(KeyHeaders),
  response: {
    200: StatusPayload('Completed, Failed, Terminated or Canceled.'),
    202: StatusPayload('Pending, Running, ContinuedAsNew or Suspended: poll again.', {
      location: Type.String({ description: 'The URL of this request.' }),
      'retry-after': Type.String({ description: 'Seconds to wait before polling again: 5.' }),
    }),
    ...commonErrors(undefined, false),
    404: errorBody(`No instance with that ID (empty body), or ${TaskHubNotFound} ({Message}).`),
    500: Type.Union([StatusPayload('The failed instance.'), errorBody('Internal error.')], {
      description: 'Failed, with returnInternalServerErrorOnFailure=true: the status payload.',
    }),
  },
};

const listQuery = Type.Object({
  ...HubQuery,
  createdTimeFrom: DateParam('Only instances created at or after this time.'),
  createdTimeTo: DateParam('Only instances created at or before this time.'),
  runtimeStatus: RuntimeStatusParam,
  instanceIdPrefix: Type.Optional(Type.String({ maxLength: 256, pattern: '^[^\\u0000]*$', description: 'Only IDs that start with this.' })),
  top: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Page size (default 100).' })),
  showInput: Bool('Include inputs.', true),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Ours: only instances of this orchestration (exact name).' })),
  order: Type.Optional(
    Type.Enum(['asc', 'desc'], {
      description: 'Ours: asc (oldest first, the default) or desc (newest first). Send the same order with a continuation token.',
    }),
  ),
});

const listSchema = {
  tags: ['instances'],
  summary: 'List instances (paged)',
  description: `Oldest first (newest first with order=desc). While more pages remain the response carries ${TOKEN_HEADER}; send it back to continue.`,
  querystring: listQuery,
  headers: Type.Object({
    ...KeyHeaders,
    [TOKEN_HEADER]: Type.Optional(Type.String({ description: 'The token of the previous page, to continue a listing.' })),
  }),
  response: {
    200: Type.Array(StatusPayload('An instance (never with history).'), {
      description: 'A page of instances; it may hold fewer than top.',
      headers: { [TOKEN_HEADER]: Type.String({ description: 'Present while more pages remain.' }) },
    }),
    ...commonErrors('Invalid parameter (a date, top, runtimeStatus) or a forged or corrupt continuation token.', false),
    404: errorBody(`Not found: ${TaskHubNotFound}.`),
  },
};

const purgeOneSchema = {
  tags: ['instances'],
  summary: 'Purge an instance and its history',
  description:
    'Removes the instance, its history, its pending messages and its queued work. An active instance is terminated and ' +
    'purged in one transaction (as Durable Functions deletes it; its clients accept only 200 and 404).',
  params: InstanceParams,
  querystring: Type.Object(HubQuery),
  headers: Type.Object(KeyHeaders),
  response: {
    200: PurgeResult,
    ...commonErrors(),
    404: errorBody(`No instance with that ID, or ${TaskHubNotFound}.`),
  },
};

const purgeManySchema = {
  tags: ['instances'],
  summary: 'Purge terminal instances created in a time range',
  querystring: Type.Object({
    ...HubQuery,
    createdTimeFrom: Type.String({ maxLength: 64, description: 'Required: purge instances created at or after this time (ISO 8601).' }),
    createdTimeTo: DateParam('Purge instances created at or before this time (default: now).'),
    runtimeStatus: RuntimeStatusParam,
  }),
  headers: Type.Object(KeyHeaders),
  response: {
    200: PurgeResult,
    ...commonErrors("createdTimeFrom is missing (Please provide value for 'createdTimeFrom' parameter.) or a value is invalid."),
    404: errorBody(`No terminal instance matched, or ${TaskHubNotFound}.`),
  },
};

function listFilter(q: {
  createdTimeFrom?: string;
  createdTimeTo?: string;
  runtimeStatus?: string[];
  instanceIdPrefix?: string;
  name?: string;
}): ListFilter {
  return {
    createdFrom: parseDate('createdTimeFrom', q.createdTimeFrom),
    createdTo: parseDate('createdTimeTo', q.createdTimeTo),
    statuses: parseStatuses(q.runtimeStatus),
    instanceIdPrefix: q.instanceIdPrefix || undefined,
    name: q.name,
  };
}

export function instanceRoutes(deps: AppDeps): FastifyPluginAsyncTypebox {
  const rendered = new RenderedHistoryCache();
  const historyLoads = new Gate(HISTORY_LOADS);
  /** The status payload with history: from the cache for a terminal instance, else loaded and rendered (the key names the hub). */
  const renderWithHistory = async (hub: HubView, id: string, flags: StatusFlags, flagKey: string): Promise<{ code: number; body: string | Buffer } | undefined> => {
    const row = await hub.client.get(id);
    if (row === undefined) return undefined;
    if (isTerminal(row.runtimeStatus)) {
      const hit = rendered.get(renderKey(row, flagKey));
      if (hit) return hit;
    }
    const found = await hub.client.status(id, { history: true });
    if (found === undefined) return undefined;
    const fresh = renderStatus(found, flags);
    if (!isTerminal(found.instance.runtimeStatus)) return fresh;
    const cached = { code: fresh.code, body: Buffer.from(fresh.body, 'utf8') };
    rendered.set(renderKey(found.instance, flagKey), cached);
    return cached;
  };
  return async (app) => {
    app.get('/instances/:instanceId', { schema: statusSchema }, async (request, reply) => {
      const q = request.query;
      const flags = {
        showHistory: parseBool(q.showHistory, false),
        showHistoryOutput: parseBool(q.showHistoryOutput, false),
        showInput: parseBool(q.showInput, true),
        returnInternalServerErrorOnFailure: parseBool(q.returnInternalServerErrorOnFailure, false),
      };
      const id = request.params.instanceId;
      if (!flags.showHistory) {
        const found = await hubOf(request).client.status(id);
        return found === undefined ? sendEmpty(reply, 404) : sendStatus(request, reply, deps.config, found, flags);
      }
      // With history: at most HISTORY_LOADS such reads use the pool at once (the rest wait here, not in
      // the pool's queue ahead of cheap reads and starts), and a terminal instance's payload is rendered
      // once and served from memory after a row read.
      const hub = hubOf(request);
      const flagKey = `${hub.name}\u0000${+flags.showHistoryOutput}${+flags.showInput}${+flags.returnInternalServerErrorOnFailure}`;
      return historyLoads.run(async () => {
        const out = await renderWithHistory(hub, id, flags, flagKey);
        if (out === undefined) return sendEmpty(reply, 404);
        // The place is held until the payload is written, then rested (HISTORY_REST): a flood of big
        // reads gets a bounded share of the process, however many clients send them.
        const written = new Promise<void>((resolve) => {
          reply.raw.once('finish', resolve);
          reply.raw.once('close', resolve);
        });
        if (typeof out.body === 'string') sendRenderedStatus(request, reply, deps.config, { code: out.code, body: out.body });
        else sendJsonBytes(reply, out.code, out.body);
        await written;
        return reply;
      }, HISTORY_REST);
    });

    app.get('/instances', { schema: listSchema }, async (request, reply) => {
      const after = decodeToken(request.headers[TOKEN_HEADER]);
      const page = await hubOf(request).client.list(listFilter(request.query), request.query.top ?? 100, after, request.query.order === 'desc');
      if (page.next) void reply.header(TOKEN_HEADER, encodeToken(page.next));
      return sendJsonText(reply, 200, statusListJson(page.rows, parseBool(request.query.showInput, true)));
    });

    app.delete('/instances/:instanceId', { schema: purgeOneSchema }, async (request) => ({
      instancesDeleted: await hubOf(request).client.purge(request.params.instanceId),
    }));

    app.delete('/instances', { schema: purgeManySchema }, async (request) => {
      const filter = { ...listFilter({ ...request.query, name: undefined }), createdTo: parseDate('createdTimeTo', request.query.createdTimeTo) ?? new Date() };
      if (filter.createdFrom === undefined) throw new ApiError('VALIDATION', "Please provide value for 'createdTimeFrom' parameter.");
      const deleted = await hubOf(request).client.purgeMany(filter);
      if (deleted === 0) throw new ApiError('INSTANCE_NOT_FOUND', 'No terminal instance matched the filter; nothing was purged.');
      return { instancesDeleted: deleted };
    });
  };
}
