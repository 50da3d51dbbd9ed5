/**
 * Where query strings become numbers, for every route at once. Fastify's Ajv coerces `1e309` and
 * `Infinity` to `Infinity` and then lets it through `minimum`/`maximum` and even `type: integer`
 * (measured with ajv 8: `{top: "1e309"}` validates against `{type: integer, maximum: 1000}`), so a
 * query number reached SQL (500) or a wait loop (`timeout=1e309` polled for ever). This hook runs
 * before validation on every route, reads the route's own querystring schema and checks each
 * numeric parameter's text: a plain decimal, finite, an integer where the schema says so, within
 * its bounds; anything else is a 400 naming the parameter. A route added later is covered by
 * declaring its number in the schema, nothing else.
 */
import type { FastifyRequest } from 'fastify';
import { ApiError } from './api-error.ts';

interface NumberSchema {
  type: 'number' | 'integer';
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
}

/** Decimal text only: no hex, binary, `Infinity`, `NaN` or empty string (all of which `Number()` takes). */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function isNumberSchema(schema: unknown): schema is NumberSchema {
  const type = (schema as { type?: unknown } | null)?.type;
  return type === 'number' || type === 'integer';
}

/** The numeric properties of a querystring schema, by name (cached per schema object). */
const cache = new WeakMap<object, [string, NumberSchema][]>();
function numericProperties(schema: unknown): [string, NumberSchema][] {
  if (typeof schema !== 'object' || schema === null) return [];
  let found = cache.get(schema);
  if (!found) {
    const properties = (schema as { properties?: Record<string, unknown> }).properties ?? {};
    found = Object.entries(properties).filter((entry): entry is [string, NumberSchema] => isNumberSchema(entry[1]));
    cache.set(schema, found);
  }
  return found;
}

function range(schema: NumberSchema): string {
  const low = schema.minimum ?? schema.exclusiveMinimum;
  const high = schema.maximum ?? schema.exclusiveMaximum;
  const kind = schema.type === 'integer' ? 'an integer' : 'a number';
  if (low !== undefined && high !== undefined) return `${kind} from ${low} to ${high}`;
  if (low !== undefined) return `${kind} of at least ${low}`;
  if (high !== undefined) return `${kind} of at most ${high}`;
  return `a finite ${kind.slice(kind.indexOf(' ') + 1)}`;
}

/** Whether a query text is an acceptable value for the schema: decimal, finite, integral if asked, in bounds. */
export function acceptsNumber(text: string, schema: NumberSchema): boolean {
  const trimmed = text.trim();
  if (!DECIMAL.test(trimmed)) return false;
  const value = Number(trimmed);
  if (!Number.isFinite(value)) return false;
  if (schema.type === 'integer' && !Number.isSafeInteger(value)) return false;
  if (schema.minimum !== undefined && value < schema.minimum) return false;
  if (schema.maximum !== undefined && value > schema.maximum) return false;
  if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) return false;
  if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) return false;
  return true;
}

/** A preValidation hook: every numeric query parameter of the route is a finite, in-range decimal, or 400. */
export async function checkQueryNumbers(request: FastifyRequest): Promise<void> {
  const properties = numericProperties(request.routeOptions.schema?.querystring);
  if (properties.length === 0) return;
  const query = request.query as Record<string, unknown>;
  for (const [name, schema] of properties) {
    const value = query[name];
    if (value === undefined) continue;
    // Given twice (top=1&TOP=2) is as much a 400 as a bad value: which one would be meant?
    const values = Array.isArray(value) ? value : [value];
    const only = values.length === 1 ? values[0] : undefined;
    if ((typeof only === 'string' || typeof only === 'number') && acceptsNumber(String(only), schema)) continue;
    const shown = values.length > 1 ? `${values.length} values` : `'${String(only).slice(0, 64)}'`;
    throw new ApiError('VALIDATION', `The query parameter '${name}' must be ${range(schema)}, given once: got ${shown}.`, { parameter: name });
  }
}
