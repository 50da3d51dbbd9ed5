/**
 * The process logger (pino, which Fastify uses too). The system key must never reach a log line:
 * it is redacted from headers and stripped from logged URLs.
 */
import pino, { type Logger } from 'pino';

export function redactUrl(url: string): string {
  return url.replace(/([?&]code=)[^&#]*/gi, '$1[redacted]');
}

export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: { paths: ['req.headers["x-functions-key"]', 'headers["x-functions-key"]'], censor: '[redacted]' },
    serializers: {
      req(req: { method?: string; url?: string; id?: string; ip?: string }) {
        return { method: req.method, url: req.url === undefined ? undefined : redactUrl(req.url), id: req.id, ip: req.ip };
      },
    },
  });
}
