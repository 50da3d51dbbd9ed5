/**
 * Durable entities, as Durable Functions' HTTP API serves them: signal an operation (POST
 * entities/{name}/{key}?op=, 202), read the state (GET entities/{name}/{key}, 200 / 404), list
 * (GET entities[/{name}] with fetchState, lastOperationTimeFrom/To, top and the continuation
 * header) and delete (DELETE entities/{name}/{key}: the signal of the built-in `delete` operation,
 * 202, as Durable Functions sends it). The key `$` stands for the empty key (Durable Functions'
 * symbol: an empty path segment cannot be sent).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Static, Type } from 'typebox';
import { parseEntityInstanceId } from '../orchestrator/core/entities.ts';
import type { EntityRow } from '../orchestrator/entities.ts';
import { ApiError } from './api-error.ts';
import { decodeEntityToken, encodeEntityToken } from './continuation.ts';
import { hubOf } from './hubs.ts';
import { jsonText, raw, writeJson } from './json.ts';
import { parseBool, parseDate } from './query.ts';
import { sendEmpty, sendJsonText } from './replies.ts';
import { Bool, commonErrors, DateParam, errorBody, HubQuery, KeyHeaders, TaskHubNotFound } from './schemas.ts';

const TOKEN_HEADER = 'x-ms-continuation-token';
const EMPTY_KEY = '$';

const EntityName = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$',
  description: 'The entity name (any case: entity names are compared lower-cased): letters, digits, _ . - (1-128, starting with a letter or _).',
});
const EntityKey = Type.String({
  minLength: 1,
  maxLength: 254,
  pattern: '^[^/\\\\#?\\u0000-\\u001f\\u007f-\\u009f]+$',
  description: 'The entity key (`$` for the empty key); no / \\ # ? or control characters.',
});
const EntityParams = Type.Object({ name: EntityName, key: EntityKey });
const Signalled = Type.Null({ description: 'Accepted: the operation is durable and runs after every operation sent before it (empty body).' });
const EntityStatus = Type.Object(
  {
    entityId: Type.Object({ name: Type.String(), key: Type.String() }),
    lastOperationTime: Type.Union([Type.String({ description: 'ISO 8601.' }), Type.Null()]),
    state: Type.Optional(Type.Unknown({ description: 'The state (with fetchState=true).' })),
  },
  { description: 'An entity that has state.' },
);

const signalSchema = {
  tags: ['entities'],
  summary: 'Signal an entity: send it an operation (fire and forget)',
  description:
    'The body is the operation input: JSON with Content-Type application/json (invalid JSON is a 400), any other type is taken as a string, ' +
    'no body is no input. The entity is created by its first operation. 202 means the operation is durable.',
  params: EntityParams,
  querystring: Type.Object({
    ...HubQuery,
    op: Type.Optional(Type.String({ maxLength: 256, pattern: '^[^\\u0000-\\u001f\\u007f]*$', description: "The operation name (default '')." })),
  }),
  headers: Type.Object({
    ...KeyHeaders,
    'content-type': Type.Optional(Type.String({ description: 'application/json: the body is JSON; any other type: the body is a string input.' })),
  }),
  body: Type.Unknown({ description: 'The operation input.' }),
  response: {
    202: Signalled,
    ...commonErrors('Invalid name, key or operation; invalid JSON; or no entity function of that name (UNKNOWN_ENTITY).'),
    404: errorBody(`Not found: ${TaskHubNotFound}.`),
  },
};

const deleteSchema = {
  tags: ['entities'],
  summary: "Delete an entity's state (signals the built-in delete operation)",
  params: EntityParams,
  querystring: Type.Object(HubQuery),
  headers: Type.Object(KeyHeaders),
  response: { 202: Signalled, ...commonErrors(undefined, false), 404: errorBody(`Not found: ${TaskHubNotFound}.`) },
};

const getSchema = {
  tags: ['entities'],
  summary: "Read an entity's state",
  params: EntityParams,
  querystring: Type.Object(HubQuery),
  headers: Type.Object(KeyHeaders),
  response: {
    200: Type.Unknown({ description: 'The state, as the entity last set it (JSON).' }),
    ...commonErrors(undefined, false),
    404: errorBody(`The entity has no state (never set, or deleted): empty body; or ${TaskHubNotFound}.`),
  },
};

const listQuery = Type.Object({
  ...HubQuery,
  fetchState: Bool('Include each entity\'s state.', false),
  lastOperationTimeFrom: DateParam('Only entities whose last operation ran at or after this time.'),
  lastOperationTimeTo: DateParam('Only entities whose last operation ran at or before this time.'),
  top: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Page size (default 100).' })),
});

function listSchema(named: boolean) {
  return {
    tags: ['entities'],
    summary: named ? 'List the entities of one name (paged)' : 'List entities (paged)',
    description: `Entities that have state, by name then key. While more pages remain the response carries ${TOKEN_HEADER}; send it back to continue.`,
    ...(named ? { params: Type.Object({ name: EntityName }) } : {}),
    querystring: listQuery,
    headers: Type.Object({
      ...KeyHeaders,
      [TOKEN_HEADER]: Type.Optional(Type.String({ description: 'The token of the previous page, to continue a listing.' })),
    }),
    response: {
      200: Type.Array(EntityStatus, { headers: { [TOKEN_HEADER]: Type.String({ description: 'Present while more pages remain.' }) } }),
      ...commonErrors('Invalid parameter (a date, top, the name) or a forged or corrupt continuation token.', false),
      404: errorBody(`Not found: ${TaskHubNotFound}.`),
    },
  };
}

/** The operation input's JSON text: JSON for application/json, a string for any other type, undefined for no body. */
function operationInput(contentType: string | undefined, body: unknown): string | undefined {
  if (body === undefined || body === null || String(body) === '') return undefined;
  if (contentType === 'application/json') {
    const text = jsonText(body);
    if (text === null) throw new ApiError('INVALID_JSON', 'The operation input is not valid JSON (send it with Content-Type application/json, or as text with another type).');
    return text;
  }
  return JSON.stringify(String(body));
}

const keyOf = (key: string): string => (key === EMPTY_KEY ? '' : key);

function statusJson(rows: readonly EntityRow[], fetchState: boolean): string {
  return writeJson(
    rows.map((e) => {
      const parts = parseEntityInstanceId(e.instanceId) ?? { name: e.name, key: '' };
      return {
        entityId: { name: parts.name, key: parts.key },
        lastOperationTime: e.lastOperationAt?.toISOString() ?? null,
        ...(fetchState ? { state: raw(e.state) } : {}),
      };
    }),
  );
}

export function entityRoutes(): FastifyPluginAsyncTypebox {
  // Read at request time, from the hub the request selected (the document generator builds the routes over no client).
  const entities = (request: FastifyRequest) => hubOf(request).client.entities;
  return async (app) => {
    app.post('/entities/:name/:key', { schema: signalSchema }, async (request, reply) => {
      const input = operationInput(request.headers['content-type'], request.body);
      await entities(request).signal(request.params.name, keyOf(request.params.key), request.query.op ?? '', input);
      return sendEmpty(reply, 202);
    });

    app.delete('/entities/:name/:key', { schema: deleteSchema }, async (request, reply) => {
      await entities(request).signal(request.params.name, keyOf(request.params.key), 'delete', undefined);
      return sendEmpty(reply, 202);
    });

    app.get('/entities/:name/:key', { schema: getSchema }, async (request, reply) => {
      const entity = await entities(request).get(request.params.name, keyOf(request.params.key));
      return entity?.state == null ? sendEmpty(reply, 404) : sendJsonText(reply, 200, entity.state);
    });

    const list = async (name: string | undefined, request: FastifyRequest, reply: FastifyReply) => {
      const q = request.query as Static<typeof listQuery>;
      const after = decodeEntityToken(request.headers[TOKEN_HEADER] as string | undefined);
      const filter = {
        name,
        lastOperationFrom: parseDate('lastOperationTimeFrom', q.lastOperationTimeFrom)?.toISOString(),
        lastOperationTo: parseDate('lastOperationTimeTo', q.lastOperationTimeTo)?.toISOString(),
      };
      const page = await entities(request).list(filter, q.top ?? 100, after);
      if (page.next) void reply.header(TOKEN_HEADER, encodeEntityToken(page.next));
      return sendJsonText(reply, 200, statusJson(page.rows, parseBool(q.fetchState, false)));
    };
    app.get('/entities', { schema: listSchema(false) }, (request, reply) => list(undefined, request, reply));
    app.get('/entities/:name', { schema: { ...listSchema(true), params: Type.Object({ name: EntityName }) } }, (request, reply) => list(request.params.name, request, reply));
  };
}
