/**
 * The process logger (pino, which Fastify uses too). The system key must never reach a log line:
 * it is redacted from headers and stripped from logged URLs.
 */
import pino, { type Logger } from 'pino';

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

/** `destination`: where lines go (default stdout); tests pass a stream to read them. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: { paths: ['req.headers["x-functions-key"]', 'headers["x-functions-key"]'], censor: '[redacted]' },
    serializers: {
      req(req: { method?: string; url?: string; id?: string; ip?: string }) {
        return { method: req.method, url: req.url === undefined ? undefined : redactUrl(req.url), id: req.id, ip: req.ip };
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
