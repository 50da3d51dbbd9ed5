/**
 * One error handler: ApiErrors, the engine's EngineErrors (mapped by ENGINE_ERRORS, the one table
 * from domain code to wire code and status) and Fastify's own errors (validation, body size, content
 * type, bad JSON, bad URL) become the Durable Functions error body with a 4xx; anything else is a
 * 500 (or a 503 when the database is unreachable) that says nothing about internals. Error bodies
 * are written here (sendError), not by the route's response serializer.
 *
 * The body carries Durable Functions' fields beside ours: `Message`, `ExceptionMessage`,
 * `ExceptionType` and `StackTrace` (always empty: a stack names files of the service), which is
 * what ASP.NET's HttpError gives its clients; the Python client reads `ExceptionMessage` (its
 * start_new of an unknown orchestrator raised `KeyError: 'ExceptionMessage'` without it). Then
 * `code` and the context fields, ours.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EngineError, type EngineErrorCode, isStorageUnavailable } from '../orchestrator/engine-error.ts';
import { ApiError, ERRORS, type ErrorCode } from './api-error.ts';
import { instanceIdProblem } from '../orchestrator/core/instance-ids.ts';
import { JSON_UTF8 } from './json.ts';

const WHERE: Record<string, string> = {
  querystring: 'query parameter',
  params: 'path segment',
  headers: 'header',
  body: 'body',
};

/** The default error code of a 4xx status that has no more specific one. */
const BY_STATUS: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
};

/** Each domain code of the engine as the control plane answers it (the status is ERRORS[code].status). */
export const ENGINE_ERRORS: Record<EngineErrorCode, ErrorCode> = {
  UNKNOWN_ORCHESTRATION: 'UNKNOWN_ORCHESTRATOR', // 400
  INVALID_INSTANCE_ID: 'INVALID_INSTANCE_ID', // 400
  INVALID_INPUT: 'BAD_REQUEST', // 400
  INSTANCE_NOT_FOUND: 'INSTANCE_NOT_FOUND', // 404
  INSTANCE_EXISTS: 'INSTANCE_EXISTS', // 409
  SINGLETON_ACTIVE: 'SINGLETON_ACTIVE', // 409
  WRONG_STATE: 'WRONG_STATE', // 409
  INSTANCE_ENDED: 'INSTANCE_GONE', // 410
  PRECONDITION: 'PRECONDITION_FAILED', // 412
  CONTENDED: 'UNAVAILABLE', // 503
  INVALID_ENTITY_ID: 'INVALID_ENTITY_ID', // 400
  UNKNOWN_ENTITY: 'UNKNOWN_ENTITY', // 400
};

/** The HTTP error of an engine error: its wire code and status, its message, its details as body fields. */
export function fromEngine(err: EngineError, fields: Record<string, unknown> = {}, headers: Record<string, string> = {}): ApiError {
  return new ApiError(ENGINE_ERRORS[err.code], err.message, { ...err.details, ...fields }, headers);
}

function fromValidation(err: FastifyError, request: FastifyRequest): ApiError {
  const first = err.validation?.[0];
  const context = err.validationContext ?? 'request';
  const params = (first?.params ?? {}) as { missingProperty?: string; allowedValues?: unknown[] };
  const path = first?.instancePath ? first.instancePath.replace(/^\//, '').replaceAll('/', '.') : '';
  const field = path || params.missingProperty || '';
  if (context === 'querystring' && first?.keyword === 'required') {
    return new ApiError('VALIDATION', `Please provide value for '${field}' parameter.`, { parameter: field });
  }
  if (context === 'params' && field === 'instanceId') {
    const id = String((request.params as { instanceId?: unknown }).instanceId ?? '');
    const problem = instanceIdProblem(id) ?? 'is not a valid instance ID';
    return new ApiError('INVALID_INSTANCE_ID', `The instance ID is invalid: it ${problem}.`);
  }
  const allowed = params.allowedValues ? ` (${params.allowedValues.join(', ')})` : '';
  const what = field ? `The ${WHERE[context] ?? context} '${field}'` : `The ${WHERE[context] ?? context}`;
  return new ApiError('VALIDATION', `${what} is invalid: it ${first?.message ?? 'has an invalid value'}${allowed}.`, field ? { parameter: field } : {});
}

function fromFastify(err: FastifyError, request: FastifyRequest): ApiError | undefined {
  if (err.validation) return fromValidation(err, request);
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('PAYLOAD_TOO_LARGE', 'The request body is larger than the limit.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('UNSUPPORTED_MEDIA_TYPE', 'The Content-Type of the request is not supported.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError('INVALID_JSON', 'The request body is not valid JSON.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError('BAD_REQUEST', 'The Content-Length header does not match the body.');
    case 'FST_ERR_BAD_URL':
      return new ApiError('BAD_REQUEST', 'The URL is not valid (bad percent-encoding).');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiError('BAD_REQUEST', 'A path segment of the URL is too long.');
  }
  if (err instanceof SyntaxError) return new ApiError('INVALID_JSON', 'The request body is not valid JSON.');
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = BY_STATUS[status] ?? 'BAD_REQUEST';
    return new ApiError(code, ERRORS[code].message);
  }
  return undefined;
}

/** `UNKNOWN_ORCHESTRATOR` → `PgTaskHub.UnknownOrchestratorException`: a type name per error code. */
export function exceptionType(code: string): string {
  const pascal = code
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
  return `PgTaskHub.${pascal}Exception`;
}

/** The error body: Durable Functions' fields first, then ours (code, context fields). */
export function errorJson(message: string, code: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { Message: message, ExceptionMessage: message, ExceptionType: exceptionType(code), StackTrace: '', code, ...fields };
}

function sendError(reply: FastifyReply, status: number, message: string, code: string, fields?: Record<string, unknown>): FastifyReply {
  // Serialised here so that no route's response schema can reshape (or drop fields of) an error.
  return reply.code(status).type(JSON_UTF8).send(JSON.stringify(errorJson(message, code, fields)));
}

export function notFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendError(reply, 404, `No route matches ${request.method} ${request.url.split('?')[0]}.`, 'NOT_FOUND');
}

function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const apiError = error instanceof ApiError ? error : error instanceof EngineError ? fromEngine(error) : fromFastify(error, request);
  if (apiError) {
    for (const [name, value] of Object.entries(apiError.headers)) void reply.header(name, value);
    if (apiError.status === 401) return reply.code(401).send();
    return sendError(reply, apiError.status, apiError.message, apiError.code, apiError.fields);
  }
  if (isStorageUnavailable(error)) {
    request.log.warn({ code: (error as { code?: string }).code }, 'database unavailable');
    return sendError(reply.header('retry-after', '5'), 503, ERRORS.UNAVAILABLE.message, 'UNAVAILABLE');
  }
  request.log.error({ err: error }, 'unhandled error');
  return sendError(reply, 500, ERRORS.INTERNAL.message, 'INTERNAL');
}

/**
 * For Fastify's `frameworkErrors` option: errors found while routing (bad percent-encoding, an
 * overlong path segment), before any route or error handler is chosen, get the same body.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  handleError(error, request, reply);
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(notFound);
}
