/**
 * 405 for a known path with the wrong method (Fastify alone answers 404): every route's path gets
 * a hidden route for the other methods that answers 405 with an Allow header, before any body is read.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from './api-error.ts';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/** Starts recording the paths (and their methods) of the routes registered from now on in `app`. */
export function recordRoutes(app: FastifyInstance): Map<string, Set<string>> {
  const paths = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    if (route.config && (route.config as { methodNotAllowed?: boolean }).methodNotAllowed) return;
    const methods = paths.get(route.routePath) ?? new Set<string>();
    for (const method of [route.method].flat()) if (method !== 'HEAD') methods.add(method);
    paths.set(route.routePath, methods);
  });
  return paths;
}

export function addMethodNotAllowed(app: FastifyInstance, paths: Map<string, Set<string>>): void {
  for (const [path, allowed] of paths) {
    const allow = [...allowed].sort().join(', ');
    const others = METHODS.filter((m) => !allowed.has(m));
    if (others.length === 0) continue;
    app.route({
      method: others,
      url: path,
      config: { methodNotAllowed: true },
      schema: { hide: true },
      onRequest: async (request) => {
        throw new ApiError('METHOD_NOT_ALLOWED', `The method ${request.method} is not allowed here; use ${allow}.`, {}, { allow });
      },
      handler: async () => undefined,
    });
  }
}
