/**
 * The Durable Functions-compatible control plane under /runtime/webhooks/durabletask: one plugin
 * with the rules every route shares (query names, content types, the key, the task hub name), and
 * one plugin per resource.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AppDeps } from './deps.ts';
import { ApiError } from './api-error.ts';
import { keyMatches, presentedKey } from './auth.ts';
import { countRoutes } from './counts.ts';
import { notFound } from './errors.ts';
import { instanceActionRoutes } from './instance-actions.ts';
import { instanceRoutes } from './instances.ts';
import { BASE_PATH } from './management-payload.ts';
import { addMethodNotAllowed, recordRoutes } from './method-not-allowed.ts';
import { orchestratorRoutes } from './orchestrators.ts';
import { canonicalQuery, type Query } from './query.ts';
import type { HubConfig } from './replies.ts';
import { scheduleTickRoutes } from './schedule-ticks.ts';
import { scheduleRoutes } from './schedules.ts';
import { startLimit } from './start-limit.ts';

/**
 * Any Content-Type is read as JSON text by the routes (start accepts all; raiseEvent checks for
 * application/json itself, after 404 and 410). A header Fastify cannot parse would be a 415 before
 * any of that, so it is rewritten to a neutral type here.
 */
function neutralContentType(request: FastifyRequest): void {
  const contentType = request.headers['content-type'];
  if (contentType === undefined) return;
  const isJson = contentType.split(';')[0]?.trim().toLowerCase() === 'application/json';
  request.headers['content-type'] = isJson ? 'application/json' : 'application/octet-stream';
}

/** The rules of every control-plane request, before routing details, body or validation. */
function gate(config: HubConfig) {
  return async (request: FastifyRequest): Promise<void> => {
    const query = canonicalQuery(request.query as Record<string, unknown>);
    (request as { query: Query }).query = query;
    neutralContentType(request);
    if (config.key !== undefined && !keyMatches(config.key, presentedKey(request.headers, query))) throw new ApiError('UNAUTHORIZED');
    const hub = query.taskHub;
    if (typeof hub === 'string' && hub !== '' && hub.toLowerCase() !== config.hubName.toLowerCase()) {
      throw new ApiError('TASK_HUB_NOT_FOUND', `The task hub '${hub}' was not found: this service serves '${config.hubName}'.`);
    }
  };
}

export function registerControlPlane(deps: AppDeps): FastifyPluginAsync {
  const plane: FastifyPluginAsyncTypebox = async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    app.addHook('onRequest', gate(deps.config));
    app.setNotFoundHandler(notFound);
    const paths = recordRoutes(app);
    // One start budget for the two start routes and restart (a restart is a start).
    const limit = startLimit(deps.config.http.startRateLimit, deps.clock);
    await app.register(orchestratorRoutes(deps, limit));
    await app.register(instanceRoutes(deps));
    await app.register(instanceActionRoutes(deps, limit));
    await app.register(scheduleRoutes(deps.client, deps.registry));
    await app.register(countRoutes(deps.client));
    await app.register(scheduleTickRoutes(deps.client));
    addMethodNotAllowed(app, paths);
  };
  return async (app) => {
    await app.register(plane, { prefix: BASE_PATH });
  };
}
