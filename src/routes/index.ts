/** The Durable Functions-compatible control plane under /runtime/webhooks/durabletask. */
import type { FastifyPluginAsync } from 'fastify';
import type { AppDeps } from '../app.ts';

export function registerControlPlane(_deps: AppDeps): FastifyPluginAsync {
  return async () => {};
}
