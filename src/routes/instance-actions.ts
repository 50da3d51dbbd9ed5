/**
 * Actions on an instance: raiseEvent, terminate, suspend, resume, rewind, restart. Each is one
 * engine verb; the engine decides 404/409/410/412 under the instance's row lock.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from './deps.ts';
import { hubOf } from './hubs.ts';
import { ApiError } from './api-error.ts';
import type { Management } from '../orchestrator/management.ts';
import { EngineError } from '../orchestrator/engine-error.ts';
import { isTerminal } from '../orchestrator/core/statuses.ts';
import { jsonText } from './json.ts';
import { sendAfterWait, WaitQuery, WaitResponses } from './orchestrators.ts';
import { parseBool } from './query.ts';
import { sendEmpty, sendStarted, startOrConflict } from './replies.ts';
import type { StartLimit } from './start-limit.ts';
import { Bool, commonErrors, empty, errorBody, EventName, HubQuery, InstanceId, KeyHeaders, ManagementPayload, Reason, StartedHeaders, TaskHubNotFound } from './schemas.ts';
import { waitOptions } from './wait.ts';

const InstanceParams = Type.Object({ instanceId: InstanceId });
const NOT_FOUND = errorBody(`No instance with that ID, or ${TaskHubNotFound}.`);
const GONE = errorBody('The instance is terminal (Completed, Failed, Terminated or Canceled).');

/** 404 and 410 come before any look at the body (the Durable Functions order). */
async function requireActive(client: Management, instanceId: string): Promise<void> {
  const row = await client.get(instanceId);
  if (row === undefined) throw new ApiError('INSTANCE_NOT_FOUND', `No instance with ID '${instanceId}' found.`);
  if (isTerminal(row.runtimeStatus)) {
    throw new ApiError('INSTANCE_GONE', `Instance '${instanceId}' is ${row.runtimeStatus}; it can no longer receive events.`, {
      runtimeStatus: row.runtimeStatus,
    });
  }
}

/** The event's JSON text: the body must be application/json and valid JSON (empty is not). */
function eventPayload(contentType: string | undefined, body: unknown): string {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new ApiError('INVALID_CONTENT_TYPE', "Only application/json request content is supported (Content-Type: application/json).");
  }
  const text = jsonText(body);
  if (typeof text !== 'string') throw new ApiError('INVALID_JSON', 'Request content is not valid JSON: the event data must be JSON.');
  return text;
}

const raiseEventSchema = {
  tags: ['instance actions'],
  summary: 'Raise an event to an instance',
  description: 'Checked in order: 404, 410, Content-Type, JSON. An event nobody waits for yet is kept until one does.',
  params: Type.Object({ instanceId: InstanceId, eventName: EventName }),
  querystring: Type.Object(HubQuery),
  headers: Type.Object({
    ...KeyHeaders,
    'content-type': Type.Optional(Type.String({ description: 'Must be application/json.' })),
  }),
  body: Type.Unknown({ description: 'The event data: any JSON (not empty).' }),
  response: {
    202: empty('Accepted: the event is stored and will be delivered.'),
    ...commonErrors('Content-Type is not application/json, the body is not JSON (an empty body included), or the ID is invalid.'),
    404: NOT_FOUND,
    410: GONE,
  },
};

interface Action {
  name: 'terminate' | 'suspend' | 'resume' | 'rewind';
  summary: string;
  run: (client: Management, instanceId: string, reason: string | undefined) => Promise<void>;
  errors: Record<number, ReturnType<typeof errorBody>>;
}

const ACTIONS: Action[] = [
  {
    name: 'terminate',
    summary: 'Terminate an instance (output: the reason); its queued activities are cancelled',
    run: (c, id, reason) => c.terminate(id, reason),
    errors: { 410: GONE },
  },
  {
    name: 'suspend',
    summary: 'Suspend a Pending or Running instance (events queue up)',
    run: (c, id, reason) => c.suspend(id, reason),
    errors: { 409: errorBody('The instance is already Suspended.'), 410: GONE },
  },
  {
    name: 'resume',
    summary: 'Resume a Suspended instance',
    run: (c, id, reason) => c.resume(id, reason),
    errors: { 409: errorBody('The instance is not Suspended.'), 410: GONE },
  },
  {
    name: 'rewind',
    summary: 'Rewind a Failed instance: re-run what failed, keep what succeeded',
    run: (c, id, reason) => c.rewind(id, reason),
    errors: {
      409: errorBody('Its single-instance orchestration has another active instance, or a failed sub-orchestration cannot restart.'),
      410: errorBody('The instance is Completed or Terminated (as Durable Functions answers).'),
      412: errorBody('The instance is neither Failed, Completed nor Terminated: only Failed instances can be rewound.'),
    },
  },
];

const restartSchema = {
  tags: ['instance actions'],
  summary: 'Start the orchestration again with its original input',
  description: 'With timeout and pollingInterval, waits for the new instance to end, as a start does.',
  params: InstanceParams,
  querystring: Type.Object({
    ...HubQuery,
    restartWithNewInstanceId: Bool('Start under a new instance ID; with false, the same ID (409 while it is active).', true),
    ...WaitQuery,
  }),
  headers: Type.Object(KeyHeaders),
  response: {
    200: Type.Unknown({ description: 'Wait mode: the output of the completed instance, or the status payload of a Failed or Terminated one.' }),
    202: ManagementPayload('Started: the new instance\'s management payload.', StartedHeaders),
    ...commonErrors(
      'No instance with that ID (InstanceId does not match a valid orchestration instance, as Durable Functions answers it), ' +
        'an invalid ID, or pollingInterval > timeout.',
    ),
    404: errorBody(`Not found: ${TaskHubNotFound}.`),
    500: WaitResponses[500],
    429: errorBody('More starts (restarts included) per second than TASKHUB_START_RATE_LIMIT allows in this process; retry after a second.'),
    409: errorBody('restartWithNewInstanceId=false and the instance is still active, or the single-instance orchestration has an active instance.'),
  },
};

/**
 * A restart of an unknown id is a 400, as Durable Functions answers it (its RestartAsync throws an
 * ArgumentException: "InstanceId does not match a valid orchestration instance").
 */
async function restart(client: Management, instanceId: string, newId: boolean): ReturnType<Management['restart']> {
  try {
    return await client.restart(instanceId, newId);
  } catch (err) {
    if (err instanceof EngineError && err.code === 'INSTANCE_NOT_FOUND') {
      throw new ApiError('UNKNOWN_INSTANCE', `InstanceId does not match a valid orchestration instance: no instance with ID '${instanceId}' was found.`);
    }
    throw err;
  }
}

export function instanceActionRoutes(deps: AppDeps, limit: StartLimit): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post('/instances/:instanceId/raiseEvent/:eventName', { schema: raiseEventSchema }, async (request, reply) => {
      const { instanceId, eventName } = request.params;
      const { client } = hubOf(request);
      await requireActive(client, instanceId);
      await client.raiseEvent(instanceId, eventName, eventPayload(request.headers['content-type'], request.body));
      return sendEmpty(reply, 202);
    });

    for (const action of ACTIONS) {
      const schema = {
        tags: ['instance actions'],
        summary: action.summary,
        params: InstanceParams,
        querystring: Type.Object({ ...HubQuery, reason: Reason }),
        headers: Type.Object(KeyHeaders),
        response: { 202: empty('Accepted.'), ...commonErrors(), 404: NOT_FOUND, ...action.errors },
      };
      app.post(`/instances/:instanceId/${action.name}`, { schema }, async (request, reply) => {
        await action.run(hubOf(request).client, request.params.instanceId, request.query.reason);
        return sendEmpty(reply, 202);
      });
    }

    // A restart is a start: it counts against TASKHUB_START_RATE_LIMIT in the same window.
    app.post('/instances/:instanceId/restart', { schema: restartSchema, ...limit }, async (request, reply) => {
      const q = request.query;
      const newId = parseBool(q.restartWithNewInstanceId, true);
      const wait = waitOptions(q.timeout, q.pollingInterval);
      const outcome = await startOrConflict(request, deps.config, () => restart(hubOf(request).client, request.params.instanceId, newId));
      if (wait === undefined || outcome.kind === 'existing') return sendStarted(request, reply, deps.config, outcome);
      return sendAfterWait(request, reply, deps, outcome.instanceId, wait, parseBool(q.returnInternalServerErrorOnFailure, false));
    });
  };
}
