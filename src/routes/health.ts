/**
 * GET /healthz: the process is alive. GET /readyz: every task hub's database and pg-boss answer
 * (503 otherwise), with each hub's own state.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';

/** One task hub's readiness. */
export interface HubHealth {
  name: string;
  connection: string;
  status: 'ready' | 'unavailable';
  /** What does not answer: database, pg-boss. */
  failing: string[];
}

export interface HealthCheck {
  /** Resolves with the failing dependencies (empty when ready). */
  check(): Promise<string[]>;
  /** Each hub's readiness, for the body of /readyz (absent: the body has no `hubs`). */
  hubs?(): Promise<HubHealth[]>;
}

const Hubs = Type.Optional(
  Type.Array(
    Type.Object({
      name: Type.String({ description: 'The task hub.' }),
      connection: Type.String({ description: 'The connection (storage) it lives on.' }),
      status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]),
      failing: Type.Array(Type.String(), { description: 'What does not answer: database, pg-boss.' }),
    }),
    { description: 'Each task hub served, and whether its database and pg-boss answer.' },
  ),
);
const Health = Type.Object({ status: Type.String() });
const Ready = Type.Object({ status: Type.String(), hubs: Hubs });
const NotReady = Type.Object({ status: Type.String(), failing: Type.Array(Type.String({ description: "A dependency, followed by its hub's name in parentheses when several hubs are served." })), hubs: Hubs });

/** The failing dependencies of every hub, each followed by its hub's name when there are several. */
export function failingOf(hubs: readonly HubHealth[]): string[] {
  return hubs.flatMap((h) => h.failing.map((f) => (hubs.length > 1 ? `${f} (${h.name})` : f)));
}

export function healthRoutes(health: HealthCheck): FastifyPluginAsync {
  return async (app) => {
    app.get('/healthz', { schema: { tags: ['health'], security: [], response: { 200: Health } } }, async () => ({ status: 'ok' }));
    app.get(
      '/readyz',
      { schema: { tags: ['health'], security: [], response: { 200: Ready, 503: NotReady } } },
      async (_request, reply) => {
        const hubs = await health.hubs?.();
        const failing = hubs === undefined ? await health.check() : failingOf(hubs);
        const perHub = hubs === undefined ? {} : { hubs };
        if (failing.length > 0) return reply.code(503).send({ status: 'unavailable', failing, ...perHub });
        return { status: 'ready', ...perHub };
      },
    );
  };
}
