/**
 * TypeBox schemas shared by the control-plane routes: payloads, error bodies, the common query
 * parameters and headers. They validate requests and document every response in the OpenAPI file.
 */
import { type TSchema, Type } from 'typebox';
import { RUNTIME_STATUSES } from '../orchestrator/core/statuses.ts';

/** Instance ids: 1–256 characters; no / \ # ? or control characters; not starting with @. */
export const INSTANCE_ID_PATTERN = '^(?!@)[^/\\\\#?\\u0000-\\u001f\\u007f-\\u009f]+$';

export const InstanceId = Type.String({
  minLength: 1,
  maxLength: 256,
  pattern: INSTANCE_ID_PATTERN,
  description: "The instance ID: 1-256 characters; no / \\ # ? or control characters; must not start with '@'.",
});

export const EventName = Type.String({
  minLength: 1,
  maxLength: 256,
  pattern: '^[^\\u0000-\\u001f\\u007f]+$',
  description: 'The name of the event the orchestration waits for (waitForExternalEvent).',
});

const NO_NUL = '^[^\\u0000]*$';

export const Reason = Type.Optional(
  Type.String({ maxLength: 4096, pattern: NO_NUL, description: 'Why: recorded in the history (and, for terminate, as the output).' }),
);

/** Booleans stay strings in the schema: `true`/`false` in any case, anything else means the default. */
export function Bool(description: string, fallback: boolean) {
  return Type.Optional(Type.String({ description: `${description} \`true\` or \`false\` (any case); anything else means ${fallback}.` }));
}

export const DateParam = (description: string) =>
  Type.Optional(Type.String({ maxLength: 64, description: `${description} ISO 8601 (e.g. 2024-05-01T12:00:00Z; no offset means UTC).` }));

export const RuntimeStatusParam = Type.Optional(
  Type.Array(Type.String({ maxLength: 256 }), {
    description:
      `Runtime statuses to include: comma-separated and/or repeated; names (${RUNTIME_STATUSES.join(', ')}) or their numeric codes ` +
      '(0-7). A value that names no status is a 400 naming it (Durable Functions ignores it; here a typo must not widen a purge).',
  }),
);

/** The query parameters every route accepts. */
export const HubQuery = {
  taskHub: Type.Optional(
    Type.String({ description: 'The task hub to act on (any case): one of the hubs this service serves (TASKHUB_HUBS), else 404. Default: the default hub (TASKHUB_NAME).' }),
  ),
  connection: Type.Optional(
    Type.String({
      description:
        'The connection (storage) the task hub lives on (Storage: DATABASE_URL; others: TASKHUB_CONNECTION_<NAME>). When given it must be that hub\'s, else 404. Default: the hub\'s own.',
    }),
  ),
  code: Type.Optional(Type.String({ description: 'The system key, when one is configured and the x-functions-key header is not sent.' })),
};

export const KeyHeaders = {
  'x-functions-key': Type.Optional(Type.String({ description: 'The system key, when one is configured (wins over the code query parameter).' })),
};

export function errorBody(description: string) {
  return Type.Object(
    {
      Message: Type.String({ description: 'What went wrong, for people.' }),
      ExceptionMessage: Type.String({ description: 'The same text, under the name Durable Functions clients read (the Python client does).' }),
      ExceptionType: Type.String({ description: 'A type name per error code (PgTaskHub.UnknownOrchestratorException), as Durable Functions names the exception.' }),
      StackTrace: Type.String({ description: 'Always empty: a stack trace would name internals.' }),
      code: Type.String({ description: 'A stable machine-readable error code (see src/routes/api-error.ts).' }),
    },
    { additionalProperties: true, description },
  );
}

export function empty(description: string) {
  return Type.Null({ description: `${description} Empty body.` });
}

/**
 * The 4xx responses every control-plane route can send; 413 only where a body is read (POST,
 * DELETE: Fastify reads no body for GET).
 */
export function commonErrors(badRequest = 'The request is invalid (a parameter, a header or the body).', readsBody = true) {
  const errors = {
    400: errorBody(badRequest),
    401: empty('A key is configured and the request did not present it (x-functions-key header or code query parameter).'),
  };
  return readsBody ? { ...errors, 413: errorBody('The request body is larger than the configured limit (TASKHUB_BODY_LIMIT).') } : errors;
}

export const TaskHubNotFound = 'the taskHub query parameter names no hub served here, or connection is not that hub\'s connection';

const managementProperties = {
    id: Type.String({ description: 'The instance ID.' }),
    statusQueryGetUri: Type.String({ description: 'GET: the instance status.' }),
    sendEventPostUri: Type.String({ description: 'POST: raise an event (replace {eventName}).' }),
    terminatePostUri: Type.String({ description: 'POST: terminate (replace {text}).' }),
    rewindPostUri: Type.String({ description: 'POST: rewind a failed instance (replace {text}).' }),
    purgeHistoryDeleteUri: Type.String({ description: 'DELETE: purge the instance and its history.' }),
    restartPostUri: Type.String({ description: 'POST: start again with the same input.' }),
    suspendPostUri: Type.String({ description: 'POST: suspend (replace {text}).' }),
    resumePostUri: Type.String({ description: 'POST: resume (replace {text}).' }),
};

/** Response headers, documented in the OpenAPI file (@fastify/swagger reads `headers` of a response schema). */
export type ResponseHeaders = Record<string, TSchema>;

/** The management payload: URIs for managing the instance, on the origin of the request. */
export function ManagementPayload(description: string, headers?: ResponseHeaders) {
  return Type.Object(managementProperties, { description, ...(headers ? { headers } : {}) });
}

export const HistoryEvent = Type.Object(
  {
    EventType: Type.String({ description: 'ExecutionStarted, TaskCompleted, TaskFailed, TimerCreated, TimerFired, EventRaised, …' }),
    Timestamp: Type.String({ description: 'When the event was recorded (ISO 8601 with fractions).' }),
    FunctionName: Type.Optional(Type.String()),
    ScheduledTime: Type.Optional(Type.String({ description: 'When the task was scheduled (completion rows).' })),
    Input: Type.Optional(Type.Unknown({ description: 'Omitted with showInput=false.' })),
    Result: Type.Optional(Type.Unknown({ description: 'Only with showHistoryOutput=true.' })),
    Reason: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    Name: Type.Optional(Type.String({ description: 'EventRaised: the event name.' })),
    FireAt: Type.Optional(Type.String({ description: 'Timers: when the timer fires.' })),
    OrchestrationStatus: Type.Optional(Type.String({ description: 'ExecutionCompleted: Completed or Failed.' })),
  },
  { additionalProperties: true, description: 'A history event in the Durable Functions shape (clients must tolerate extra keys).' },
);

const statusProperties = {
    name: Type.String({ description: 'The orchestration name.' }),
    instanceId: Type.String(),
    runtimeStatus: Type.Enum([...RUNTIME_STATUSES], {
      description: 'Pending, Running, ContinuedAsNew, Suspended (active); Completed, Failed, Terminated, Canceled (terminal).',
    }),
    input: Type.Unknown({ description: 'The input (null when none, or with showInput=false).' }),
    customStatus: Type.Unknown({ description: 'The value of the last setCustomStatus (null when unset).' }),
    output: Type.Unknown({ description: 'The result; for Failed the failure text, for Terminated the reason (null when unset).' }),
    createdTime: Type.String({ description: 'ISO 8601, whole seconds, UTC (2019-01-30T23:09:20Z).' }),
    lastUpdatedTime: Type.String({ description: 'ISO 8601, whole seconds, UTC.' }),
    waiting: Type.Optional(
      Type.Union(
        [
          Type.Object({
            reason: Type.Literal('concurrency'),
            key: Type.Union([Type.String(), Type.Null()], { description: 'The concurrency key (null: one key per orchestration name).' }),
            position: Type.Integer({ minimum: 1, description: 'Place in the key\'s queue: 1 runs next.' }),
          }),
          Type.Object({
            reason: Type.Literal('debounce'),
            key: Type.Union([Type.String(), Type.Null()]),
            startsAt: Type.String({ format: 'date-time', description: 'When it starts unless a newer start of its key moves it.' }),
          }),
        ],
        {
          description:
            'Ours: present only while a Pending instance waits for a free slot of its concurrency key (onConflict=queue or ' +
            'replaceQueued) or for its debounce window to pass (onConflict=debounce).',
        },
      ),
    ),
    historyEvents: Type.Optional(Type.Array(HistoryEvent, { description: 'Only with showHistory=true.' })),
};

/** The status payload of an instance. */
export function StatusPayload(description: string, headers?: ResponseHeaders) {
  return Type.Object(statusProperties, { description, ...(headers ? { headers } : {}) });
}

export const StartedHeaders: ResponseHeaders = {
  location: Type.String({ description: 'The statusQueryGetUri.' }),
  'retry-after': Type.String({ description: 'Seconds to wait before polling: 10.' }),
};

export const PurgeResult = Type.Object(
  { instancesDeleted: Type.Integer({ minimum: 1, description: 'How many instances were deleted with their history.' }) },
  { description: 'The purge result.' },
);
