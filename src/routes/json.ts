/**
 * A JSON writer that splices stored JSON text in verbatim. Inputs, outputs, custom statuses and
 * event payloads are kept as the JSON text their producer wrote; parsing and re-serialising them
 * would lose big-number precision and reorder integer-like keys. Pure.
 */

/** JSON text to be written as is (it was validated or produced by JSON.stringify when stored). */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** RawJson of stored JSON text; null when there is none. */
export function raw(text: string | null | undefined): RawJson | null {
  return text === null || text === undefined ? null : new RawJson(text);
}

/** Like JSON.stringify (object keys in insertion order, undefined members left out), plus RawJson. */
export function writeJson(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : writeJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const members = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${JSON.stringify(k)}:${writeJson(v)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The content type of every JSON response. */
export const JSON_UTF8 = 'application/json; charset=utf-8';

/**
 * Validates a request body as JSON and returns its text (surrounding whitespace trimmed), or
 * undefined when the body is empty. Returns null when the text is not JSON.
 */
export function jsonText(body: unknown): string | undefined | null {
  if (body === undefined || body === null) return undefined;
  const text = String(body).trim();
  if (text === '') return undefined;
  try {
    JSON.parse(text);
    return text;
  } catch {
    return null;
  }
}
