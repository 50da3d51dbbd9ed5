/**
 * buildApp: the Fastify application from explicit dependencies (no globals, no decorators). Routes
 * are thin over the engine's management verbs (orchestrator/management.ts); errors map through one handler to the Durable Functions shape.
 */
import type http from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyHttpOptions, type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { monitorRoutes } from './monitor/routes.ts';
import { redactUrl } from './log.ts';
import { frameworkErrors, registerErrorHandling } from './routes/errors.ts';
import type { AppDeps } from './routes/deps.ts';
import { healthRoutes } from './routes/health.ts';
import { selectedHub } from './routes/hubs.ts';
import { registerControlPlane } from './routes/index.ts';
import { checkQueryNumbers } from './routes/numbers.ts';

export type { AppDeps } from './routes/deps.ts';

export type App = FastifyInstance;

/**
 * One log line per request, when it is answered ("POST /runtime/… 202", with the time taken),
 * instead of Fastify's "incoming request" and "request completed": at info, except the health
 * probes (every few seconds), at debug. An error answer keeps its error.
 */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  /** The request's one line (below) says 404 already. */
  override routeNotFound(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const path = request.url.split('?')[0];
    const level = error ? 'error' : path === '/healthz' || path === '/readyz' ? 'debug' : 'info';
    const fields = { req: request, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, ...(error ? { err: error } : {}) };
    reply.log[level](fields, `${request.method} ${redactUrl(request.url)} ${reply.statusCode}`);
  }
}

/** A hop count as the function Fastify runs for one (its types take no number). */
function trustProxyOption(value: boolean | number | string): boolean | string | ((address: string, hop: number) => boolean) {
  return typeof value === 'number' ? (_address, hop) => hop < value : value;
}

export async function buildApp(deps: AppDeps): Promise<App> {
  const options: FastifyHttpOptions<http.Server> = {
    bodyLimit: deps.config.bodyLimit,
    requestTimeout: deps.config.http.requestTimeoutMs,
    // Node 24 enforces a request timeout only when it is given to http.createServer; Fastify sets
    // server.requestTimeout afterwards, which has no effect (measured: still connected after 35 s).
    http: { requestTimeout: deps.config.http.requestTimeoutMs },
    // Trailing slashes and case are ignored on literal segments, as the Functions host does. A
    // path value may be a 256-character instance ID percent-encoded (up to 12 characters each):
    // longer ones must still reach validation (a 400), not fall through to a 404.
    routerOptions: { ignoreTrailingSlash: true, caseSensitive: false, ignoreDuplicateSlashes: true, maxParamLength: 4096 },
    frameworkErrors,
    // X-Forwarded-For/-Host/-Proto are believed only from the peers TASKHUB_TRUST_PROXY names
    // (default: none, so request.host is the Host header, as before).
    trustProxy: trustProxyOption(deps.config.http.trustProxy),
    ...(deps.log ? { loggerInstance: deps.log } : { logger: false }),
    logController: new OneLinePerRequest(),
  };
  const app = Fastify(options).withTypeProvider<TypeBoxTypeProvider>();
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'pg-taskhub',
        version: '0.1.0',
        description:
          'Durable orchestrations on PostgreSQL. The control plane speaks the Azure Durable Functions HTTP API ' +
          '(/runtime/webhooks/durabletask/...). Every route below is also served under /durabletask/..., the Functions ' +
          "host's local RPC base path (a durable-functions client's default rpcBaseUrl), with the same answers; the " +
          'management URIs always point at /runtime/webhooks/durabletask.',
      },
      components: {
        securitySchemes: {
          functionsKey: { type: 'apiKey', in: 'header', name: 'x-functions-key' },
          code: { type: 'apiKey', in: 'query', name: 'code' },
        },
      },
      security: [{ functionsKey: [] }, { code: [] }],
    },
  });
  registerErrorHandling(app);
  if (deps.telemetry?.enabled) {
    deps.telemetry.installHttp(app, (name, request) => (selectedHub(request)?.registry ?? deps.registry).getOrchestration(name)?.name);
    deps.telemetry.installMetricsRoute(app, deps.config.key, deps.config.telemetry?.metricsPublic ?? false);
  }
  // Every route's numeric query parameters, before Ajv coerces them (src/routes/numbers.ts says why).
  app.addHook('preValidation', checkQueryNumbers);
  await app.register(healthRoutes(deps.health));
  await app.register(registerControlPlane(deps));
  // The document itself (committed as openapi/openapi.json by `npm run openapi`; test/http/openapi.test.ts
  // fails when it is stale) and an interactive reference over it at /docs. Both are public, like the
  // health routes: the key guards the control plane only (its hook is scoped to BASE_PATH), and the
  // document describes routes and schemas, never a key or an instance. Neither is in the document.
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // The monitor: a browser front end over the control plane (public shell; the data needs the key).
  await app.register(monitorRoutes());
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    theme: { title: 'pg-taskhub API' },
    uiConfig: { deepLinking: true, displayRequestDuration: true },
  });
  return app;
}
