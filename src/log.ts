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

/** A query name as the server reads it: + is a space, %XX decoded, any case (the routes match `code` in any case). */
function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return name.toLowerCase();
  }
}

/**
 * The URL with the value of every `code` parameter replaced, whatever the spelling of its name:
 * `code`, `CODE`, `%63ode`, `c%6Fde`, … all authenticate (names are percent-decoded, then matched
 * case-insensitively), so all are redacted. Decoded before matching, never matched on the raw text.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const hash = url.indexOf('#', q);
  const query = url.slice(q + 1, hash < 0 ? undefined : hash);
  const redacted = query
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      const name = eq < 0 ? part : part.slice(0, eq);
      return decodedName(name).trim() === 'code' ? `${name}=[redacted]` : part;
    })
    .join('&');
  return `${url.slice(0, q + 1)}${redacted}${hash < 0 ? '' : url.slice(hash)}`;
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
  /** `auto` (default): pretty when the destination is a terminal, JSON otherwise. */
  format?: LogFormat;
  /** Where the lines go (default: stdout); tests pass a stream to read them. */
  destination?: NodeJS.WritableStream;
}

/**
 * A logger; level defaults to LOG_LEVEL, else `info`. The second argument is the options, or
 * (shorthand) the destination stream.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', options: LoggerOptions | NodeJS.WritableStream = {}): Logger {
  const opts: LoggerOptions = typeof (options as NodeJS.WritableStream).write === 'function' ? { destination: options as NodeJS.WritableStream } : (options as LoggerOptions);
  const destination = opts.destination ?? process.stdout;
  const format = opts.format ?? 'auto';
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
