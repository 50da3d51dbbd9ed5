/**
 * The start rate limit (TASKHUB_START_RATE_LIMIT): a fixed one-second window per process, one
 * budget for every route that starts an instance (the two start routes and restart). Written here
 * rather than taken from @fastify/rate-limit, whose in-memory store (11.2) returns one shared,
 * mutable counter: under concurrent requests every caller reads the final count and all are refused.
 *
 * A start takes its place in the window when it arrives (so that concurrent starts cannot all slip
 * under the limit) and gives it back when it is answered with a 4xx: a rejected start (bad input,
 * conflict, not found) costs nothing. A 429 never took a place.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './api-error.ts';

export interface StartLimit {
  onRequest?: (request: FastifyRequest) => Promise<void>;
  onResponse?: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
}

/** The route hooks of the limit; none when perSecond is 0 (off). */
export function startLimit(perSecond: number, now: () => number = Date.now): StartLimit {
  if (perSecond <= 0) return {};
  let windowStart = Number.NEGATIVE_INFINITY;
  let count = 0;
  /** The window each counted request took its place in. */
  const counted = new WeakMap<FastifyRequest, number>();
  return {
    onRequest: async (request) => {
      const t = now();
      if (t - windowStart >= 1000) {
        windowStart = t;
        count = 0;
      }
      if (count >= perSecond) {
        throw new ApiError('RATE_LIMITED', `More than ${perSecond} starts per second; retry later.`, {}, { 'retry-after': '1' });
      }
      count++;
      counted.set(request, windowStart);
    },
    onResponse: async (request, reply) => {
      const window = counted.get(request);
      if (window === undefined) return;
      counted.delete(request);
      if (reply.statusCode >= 400 && reply.statusCode < 500 && window === windowStart) count--;
    },
  };
}
