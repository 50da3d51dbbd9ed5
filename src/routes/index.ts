/**
 * The Durable Functions-compatible control plane under /runtime/webhooks/durabletask (and its
 * alias /durabletask, the Functions host's local RPC path): one plugin
 * with the rules every route shares (query names, content types, the key, the task hub name), and
 * one plugin per resource.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AppDeps } from './deps.ts';
import { ApiError } from './api-error.ts';
import { keyMatches, presentedKey } from './auth.ts';
import { countRoutes } from './counts.ts';
import { entityRoutes } from './entities.ts';
import { notFound } from './errors.ts';
import { instanceActionRoutes } from './instance-actions.ts';
import { instanceRoutes } from './instances.ts';
import { BASE_PATH } from './management-payload.ts';
import { addMethodNotAllowed, recordRoutes } from './method-not-allowed.ts';
import { orchestratorRoutes } from './orchestrators.ts';
import { canonicalQuery, type Query } from './query.ts';
import { type HubDirectory, selectHub, setHub, singleHub } from './hubs.ts';
import type { HubConfig } from './replies.ts';
import { scheduleTickRoutes } from './schedule-ticks.ts';
import { concurrencyRoutes } from './concurrency.ts';
import { scheduleRoutes } from './schedules.ts';
import { startLimit } from './start-limit.ts';
import { taskHubRoutes } from './taskhubs.ts';

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

/** The rules of every control-plane request, before routing details, body or validation: the key, then the task hub. */
function gate(config: HubConfig, hubs: HubDirectory) {
  return async (request: FastifyRequest): Promise<void> => {
    const query = canonicalQuery(request.query as Record<string, unknown>);
    (request as { query: Query }).query = query;
    neutralContentType(request);
    if (config.key !== undefined && !keyMatches(config.key, presentedKey(request.headers, query))) throw new ApiError('UNAUTHORIZED');
    setHub(request, selectHub(hubs, query));
  };
}

/**
 * The Functions host's local RPC base path (its default `rpcBaseUrl` is
 * `http://127.0.0.1:17071/durabletask/`): a durable-functions client configured as inside a host
 * reaches the same routes there. The alias is left out of the OpenAPI document (one description of
 * each route, under BASE_PATH; the document's description names the alias), and management URIs
 * always point at BASE_PATH, as the extension's do.
 */
export const RPC_BASE_PATH = '/durabletask';

/** Hides every route registered from now on in `app` from the OpenAPI document. */
function hideFromDocument(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    // A copy: the schema objects are shared with the documented registration.
    route.schema = { ...route.schema, hide: true };
  });
}

/** The hubs the control plane serves: deps.hubs, or the one hub of deps.client and deps.registry. */
export function controlPlaneHubs(deps: AppDeps): HubDirectory {
  return deps.hubs ?? singleHub(deps.config.hubName, deps.client, deps.registry);
}

export function registerControlPlane(deps: AppDeps): FastifyPluginAsync {
  // One start budget for the two start routes and restart (a restart is a start), under both paths.
  const limit = startLimit(deps.config.http.startRateLimit, deps.clock);
  const hubs = controlPlaneHubs(deps);
  const plane: FastifyPluginAsyncTypebox<{ hidden: boolean }> = async (app, options) => {
    if (options.hidden) hideFromDocument(app);
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    app.addHook('onRequest', gate(deps.config, hubs));
    app.setNotFoundHandler(notFound);
    const paths = recordRoutes(app);
    await app.register(orchestratorRoutes(deps, limit));
    await app.register(instanceRoutes(deps));
    await app.register(instanceActionRoutes(deps, limit));
    await app.register(scheduleRoutes());
    await app.register(countRoutes());
    await app.register(scheduleTickRoutes());
    await app.register(taskHubRoutes(hubs));
    await app.register(concurrencyRoutes());
    await app.register(entityRoutes());
    addMethodNotAllowed(app, paths);
  };
  return async (app) => {
    await app.register(plane, { prefix: BASE_PATH, hidden: false });
    await app.register(plane, { prefix: RPC_BASE_PATH, hidden: true });
  };
}
