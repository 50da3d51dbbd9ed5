/**
 * The start rate limit (TASKHUB_START_RATE_LIMIT): a fixed one-second window per process. Written
 * here rather than taken from @fastify/rate-limit, whose in-memory store (11.2) returns one shared,
 * mutable counter: under concurrent requests every caller reads the final count and all are refused.
 */
import type { onRequestAsyncHookHandler } from 'fastify';
import { ApiError } from './api-error.ts';

export function startLimit(perSecond: number, now: () => number = Date.now): onRequestAsyncHookHandler {
  let windowStart = 0;
  let count = 0;
  return async () => {
    const t = now();
    if (t - windowStart >= 1000) {
      windowStart = t;
      count = 0;
    }
    count++;
    if (count > perSecond) {
      throw new ApiError('RATE_LIMITED', `More than ${perSecond} starts per second; retry later.`, {}, { 'retry-after': '1' });
    }
  };
}
