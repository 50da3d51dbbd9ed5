/**
 * The process logger (pino, which Fastify uses too). On a terminal the lines are pretty
 * (pino-pretty: local time, level, message, then the fields); otherwise, e.g. under a process
 * manager or in a container, one JSON object per line with an ISO time. The system key must
 * never reach a log line: it is redacted from headers and stripped from logged URLs.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export type LogFormat = 'auto' | 'json' | 'pretty';

export function redactUrl(url: string): string {
  return url.replace(/([?&]code=)[^&#]*/gi, '$1[redacted]');
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * An Error (with its cause chain, code and stack) the way pino's own serializer writes it; an
 * object that is already a description (e.g. describePgError's) is kept as it is, instead of
 * becoming `{"type":"Object","stack":""}`.
 */
function serializeError(value: unknown): unknown {
  if (value instanceof Error) return pino.stdSerializers.errWithCause(value);
  return value;
}

export interface LoggerOptions {
  /** `auto` (default): pretty when stdout is a terminal, JSON otherwise. */
  format?: LogFormat;
  /** Where the lines go (default: stdout). */
  destination?: NodeJS.WritableStream;
}

/** A logger; level defaults to LOG_LEVEL, else `info`. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stdout;
  const format = options.format ?? 'auto';
  const isPretty = format === 'pretty' || (format === 'auto' && (destination as { isTTY?: boolean }).isTTY === true);
  const pinoOptions: pino.LoggerOptions = {
    level: LEVELS.has(level) ? level : 'info',
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers["x-functions-key"]', 'headers["x-functions-key"]'], censor: '[redacted]' },
    serializers: {
      err: serializeError,
      error: serializeError,
      req(req: { method?: string; url?: string; id?: string; ip?: string }) {
        return { method: req.method, url: req.url === undefined ? undefined : redactUrl(req.url), id: req.id, ip: req.ip };
      },
    },
  };
  if (!isPretty) return pino(pinoOptions, destination as pino.DestinationStream);
  return pino(
    pinoOptions,
    pretty({
      destination: destination as NodeJS.WritableStream & { fd?: number },
      sync: true,
      colorize: (destination as { isTTY?: boolean }).isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      singleLine: true,
    }),
  );
}
