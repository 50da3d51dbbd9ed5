/**
 * Orchestrators: start an instance (POST orchestrators/{functionName}[/{instanceId}]) and list the
 * registered orchestrations with their options (GET orchestrators).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { AppDeps } from './deps.ts';
import { hubOf } from './hubs.ts';
import { ApiError } from './api-error.ts';
import type { RegisteredOrchestration } from '../orchestrator/registry.ts';
import { isTerminal } from '../orchestrator/core/statuses.ts';
import { START_POLICIES } from '../orchestrator/core/concurrency.ts';
import { jsonText } from './json.ts';
import { parseBool } from './query.ts';
import { type HubConfig, sendJsonText, sendStarted, sendStatus, startOrConflict } from './replies.ts';
import { Bool, commonErrors, errorBody, HubQuery, InstanceId, KeyHeaders, ManagementPayload, StartedHeaders, StatusPayload, TaskHubNotFound } from './schemas.ts';
import type { StartLimit } from './start-limit.ts';
import { type WaitOptions, waitForEnd, waitOptions } from './wait.ts';

const FunctionName = Type.String({ minLength: 1, maxLength: 128, description: 'The registered orchestration name (any case).' });

/** Wait mode's query parameters, shared by start and restart. */
export const WaitQuery = {
  timeout: Type.Optional(Type.Number({ minimum: 0, maximum: 3600, description: 'Wait mode: seconds to wait for the instance to end.' })),
  pollingInterval: Type.Optional(
    Type.Number({ minimum: 0, maximum: 3600, description: 'Wait mode: seconds between checks; must not exceed timeout.' }),
  ),
  returnInternalServerErrorOnFailure: Bool('Wait mode: answer 500 when the instance fails in time.', false),
};

/** Wait mode's 200 and 500 answers, shared by start and restart. */
export const WaitResponses = {
  200: Type.Unknown({
    description:
      'onConflict=useExisting (start): the active instance\'s management payload. Wait mode: the output of the completed instance, ' +
      'or the status payload of a Failed or Terminated one.',
  }),
  500: Type.Union([StatusPayload('The failed instance.'), errorBody('Internal error.')], {
    description: 'Wait mode with returnInternalServerErrorOnFailure=true: the instance failed (its status payload).',
  }),
};

const StartQuery = Type.Object({
  ...HubQuery,
  onConflict: Type.Optional(
    Type.Enum([...START_POLICIES], {
      description:
        'When the orchestration\'s key (singleton, or concurrency limit per key) has no free slot: fail (409, the default unless the ' +
        'registration says otherwise), useExisting (200 with the oldest active instance\'s management payload), terminateExisting ' +
        '(terminate the oldest active instance and start, in one transaction), queue (202: the instance waits as Pending until a ' +
        'slot frees, first in first out per key), replaceQueued (as queue, but a newer start replaces the waiting one, which ends ' +
        'Terminated naming it), or debounce (starts of one key within the debounce window collapse into one instance, started ' +
        'with the last input when the window passes; every start gets that instance\'s management payload). queue and ' +
        'replaceQueued need a limit, debounce the debounce option: otherwise 400.',
    }),
  ),
  ...WaitQuery,
});

const startSchema = (withId: boolean) => ({
  tags: ['orchestrators'],
  summary: withId ? 'Start an orchestration with a given instance ID' : 'Start an orchestration',
  description:
    'The body is the input, any JSON (an empty body means null); any Content-Type is read as JSON. An existing terminal ' +
    'instance with the same ID is replaced. With timeout and pollingInterval, waits for the instance to end.',
  params: Type.Object(withId ? { functionName: FunctionName, instanceId: InstanceId } : { functionName: FunctionName }),
  querystring: StartQuery,
  headers: Type.Object(KeyHeaders),
  body: Type.Unknown({ description: 'The orchestration input: any JSON. Empty: null.' }),
  response: {
    200: WaitResponses[200],
    202: ManagementPayload(
      'Started: the management payload. Also a queued start (it waits for a slot) and a debounced one (the payload of the ' +
        'instance that will run, the same for every start it collapsed).',
      StartedHeaders,
    ),
    ...commonErrors('Invalid instance ID, unknown orchestrator, a body that is not JSON, or pollingInterval > timeout.'),
    404: errorBody(`Not found: ${TaskHubNotFound}.`),
    409: errorBody(
      'An active instance with that ID exists, or the orchestration\'s key has no free slot (singleton or concurrency limit; the ' +
        'oldest active instance\'s instanceId, runtimeStatus and statusQueryGetUri are in the body; Location points at it).',
    ),
    429: errorBody('More starts (restarts included) per second than TASKHUB_START_RATE_LIMIT allows in this process; retry after a second.'),
    500: WaitResponses[500],
  },
});

/** The JSON text of a start body; undefined for an empty body. */
function inputOf(body: unknown): string | undefined {
  const text = jsonText(body);
  if (text === null) throw new ApiError('INVALID_JSON', 'The request body is not valid JSON: the orchestration input must be JSON.');
  return text;
}

/** Closes with the response: wait mode stops polling when the caller goes away. */
function closeSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => controller.abort());
  return controller.signal;
}

/**
 * Wait mode's answer (start and restart): 200 with the output when the instance completes in
 * time, its status response when it fails or is terminated in time, else the 202 of a start.
 */
export async function sendAfterWait(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: AppDeps,
  instanceId: string,
  wait: WaitOptions,
  internalErrorOnFailure: boolean,
): Promise<FastifyReply> {
  const row = await waitForEnd(hubOf(request).client, instanceId, wait, closeSignal(reply));
  if (row?.runtimeStatus === 'Completed') return sendJsonText(reply, 200, row.output ?? 'null');
  if (row && isTerminal(row.runtimeStatus)) {
    const flags = { showHistory: false, showHistoryOutput: false, showInput: true, returnInternalServerErrorOnFailure: internalErrorOnFailure };
    return sendStatus(request, reply, deps.config, { instance: row }, flags);
  }
  return sendStarted(request, reply, deps.config, { kind: 'created', instanceId });
}

export interface OrchestrationInfo {
  name: string;
  description: string | null;
  singleton: boolean | 'keyed';
  schedule: { cron: string; timezone: string } | null;
}

export function describeOrchestration(o: RegisteredOrchestration): OrchestrationInfo {
  const singleton = o.options.singleton;
  const schedule = o.options.schedule;
  return {
    name: o.name,
    description: o.options.description ?? null,
    singleton: typeof singleton === 'object' ? 'keyed' : singleton === true,
    schedule: schedule ? { cron: schedule.cron, timezone: schedule.timezone ?? 'UTC' } : null,
  };
}

const OrchestrationList = Type.Array(
  Type.Object({
    name: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    singleton: Type.Union([Type.Boolean(), Type.Literal('keyed')], {
      description: 'true: one active instance per name; keyed: one per name and key; false: any number.',
    }),
    schedule: Type.Union([Type.Object({ cron: Type.String(), timezone: Type.String() }), Type.Null()], {
      description: 'The cron schedule it is started on, or null.',
    }),
  }),
  { description: 'The registered orchestrations, by name.' },
);

export function orchestratorRoutes(deps: AppDeps, limit: StartLimit): FastifyPluginAsyncTypebox {
  const config: HubConfig = deps.config;
  return async (app) => {
    for (const withId of [false, true]) {
      const url = withId ? '/orchestrators/:functionName/:instanceId' : '/orchestrators/:functionName';
      app.post(url, { schema: startSchema(withId), ...limit }, async (request, reply) => {
        const { functionName, instanceId } = request.params as { functionName: string; instanceId?: string };
        const q = request.query;
        const wait = waitOptions(q.timeout, q.pollingInterval);
        const start = { name: functionName, instanceId, input: inputOf(request.body), onConflict: q.onConflict };
        const outcome = await startOrConflict(request, config, () => hubOf(request).client.start(start));
        if (wait === undefined || outcome.kind === 'existing') return sendStarted(request, reply, config, outcome);
        return sendAfterWait(request, reply, deps, outcome.instanceId, wait, parseBool(q.returnInternalServerErrorOnFailure, false));
      });
    }

    app.get(
      '/orchestrators',
      {
        schema: {
          tags: ['orchestrators'],
          summary: 'List the registered orchestrations',
          querystring: Type.Object(HubQuery),
          headers: Type.Object(KeyHeaders),
          response: {
            200: OrchestrationList,
            ...commonErrors(undefined, false),
            404: errorBody(`Not found: ${TaskHubNotFound}.`),
          },
        },
      },
      async (request) => hubOf(request).registry.listOrchestrations().map(describeOrchestration),
    );
  };
}
