/**
 * One error handler: ApiErrors and Fastify's own errors (validation, body size, content type, bad
 * JSON) become the Durable Functions error body `{"Message": …, "code": …}` with a 4xx; anything
 * else is a 500 (or a 503 when the database is unreachable) that says nothing about internals.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { isConnectionError } from '../db/sqlstate.ts';
import { ApiError, ERRORS, type ErrorCode } from '../errors.ts';

function fromFastify(err: FastifyError): ApiError | undefined {
  if (err.validation) {
    const first = err.validation[0];
    const where = err.validationContext ?? 'request';
    const path = first?.instancePath ? first.instancePath.replace(/^\//, '').replaceAll('/', '.') : '';
    const field = path || (first?.params as { missingProperty?: string } | undefined)?.missingProperty || '';
    return new ApiError('VALIDATION', `Invalid ${where}${field ? ` parameter '${field}'` : ''}: ${first?.message ?? 'invalid value'}.`);
  }
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
  }
  if (err instanceof SyntaxError) return new ApiError('INVALID_JSON', 'The request body is not valid JSON.');
  const status = err.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = (Object.keys(ERRORS) as ErrorCode[]).find((c) => ERRORS[c].status === status) ?? 'BAD_REQUEST';
    return new ApiError(code, ERRORS[code].message);
  }
  return undefined;
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const apiError = error instanceof ApiError ? error : fromFastify(error);
    if (apiError) {
      if (apiError.status === 401) return reply.code(401).send();
      for (const [name, value] of Object.entries(apiError.headers)) void reply.header(name, value);
      return reply
        .code(apiError.status)
        .type('application/json; charset=utf-8')
        .send({ Message: apiError.message, code: apiError.code, ...apiError.fields });
    }
    if (isConnectionError(error)) {
      request.log.warn({ code: (error as { code?: string }).code }, 'database unavailable');
      return reply.code(503).header('retry-after', '5').send({ Message: ERRORS.UNAVAILABLE.message, code: 'UNAVAILABLE' });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({ Message: ERRORS.INTERNAL.message, code: 'INTERNAL' });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ Message: `No route matches ${request.method} ${request.url.split('?')[0]}.`, code: 'NOT_FOUND' });
  });
}
