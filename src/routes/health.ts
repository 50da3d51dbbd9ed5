/** GET /healthz: the process is alive. GET /readyz: the database and pg-boss answer (503 otherwise). */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';

export interface HealthCheck {
  /** Resolves with the failing dependencies (empty when ready). */
  check(): Promise<string[]>;
}

const Health = Type.Object({ status: Type.String() });
const NotReady = Type.Object({ status: Type.String(), failing: Type.Array(Type.String()) });

export function healthRoutes(health: HealthCheck): FastifyPluginAsync {
  return async (app) => {
    app.get('/healthz', { schema: { tags: ['health'], security: [], response: { 200: Health } } }, async () => ({ status: 'ok' }));
    app.get(
      '/readyz',
      { schema: { tags: ['health'], security: [], response: { 200: Health, 503: NotReady } } },
      async (_request, reply) => {
        const failing = await health.check();
        if (failing.length > 0) return reply.code(503).send({ status: 'unavailable', failing });
        return { status: 'ready' };
      },
    );
  };
}
