/**
 * The one error registry: every error the service answers with has a code, an HTTP status and a
 * message. Handlers throw ApiError; the app's error handler maps it (and Fastify's own errors) to
 * the Durable Functions error shape `{"Message", "ExceptionMessage", "ExceptionType", "StackTrace"}` plus our
 * `code` (src/routes/errors.ts). 5xx bodies never carry internals.
 */
export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'The request is invalid.' },
  VALIDATION: { status: 400, message: 'The request is invalid.' },
  INVALID_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  INVALID_CONTENT_TYPE: { status: 400, message: "The request's Content-Type must be application/json." },
  INVALID_INSTANCE_ID: { status: 400, message: 'The instance ID is invalid.' },
  UNKNOWN_ORCHESTRATOR: { status: 400, message: "The function doesn't exist." },
  INVALID_CONTINUATION_TOKEN: { status: 400, message: 'The continuation token is invalid.' },
  INVALID_ENTITY_ID: { status: 400, message: 'The entity name or key is invalid.' },
  UNKNOWN_ENTITY: { status: 400, message: "The entity function doesn't exist." },
  UNKNOWN_INSTANCE: { status: 400, message: 'InstanceId does not match a valid orchestration instance.' },
  UNAUTHORIZED: { status: 401, message: '' },
  TASK_HUB_NOT_FOUND: { status: 404, message: 'The task hub was not found.' },
  NOT_FOUND: { status: 404, message: 'Not found.' },
  INSTANCE_NOT_FOUND: { status: 404, message: 'No instance with that ID was found.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'The method is not allowed on this route.' },
  INSTANCE_EXISTS: { status: 409, message: 'An Orchestration instance with that ID already exists.' },
  SINGLETON_ACTIVE: { status: 409, message: 'A single-instance orchestration already has an active instance.' },
  WRONG_STATE: { status: 409, message: 'The instance is not in a state that allows this operation.' },
  INSTANCE_GONE: { status: 410, message: 'The instance has already completed.' },
  PRECONDITION_FAILED: { status: 412, message: 'The instance is not in a state that allows this operation.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The media type is not supported.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; retry later.' },
  INTERNAL: { status: 500, message: 'An internal error occurred.' },
  UNAVAILABLE: { status: 503, message: 'The service is unavailable; retry later.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra fields for the body (e.g. the active instance on a singleton conflict). */
  readonly fields: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, fields: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
    super(message ?? ERRORS[code].message);
    this.name = 'ApiError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.fields = fields;
    this.headers = headers;
  }
}
