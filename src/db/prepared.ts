/**
 * Prepared statements for every parameterised query, without naming each one at its call site.
 *
 * A statement sent unnamed is parsed and planned by PostgreSQL on every execution. For the engine's
 * statements (CTEs over tables with several partial indexes) and pg-boss's (fetch, insert and
 * complete are each a page of SQL) planning cost more than executing: measured with
 * pg_stat_statements over 210 HelloSequence runs, 2.3 s of 4.2 s of PostgreSQL time was planning.
 * A named statement is parsed once per connection, and after five executions PostgreSQL keeps a
 * generic plan when it is no worse than the custom ones.
 *
 * PreparingClient is the `Client` class of our pools (and of pg-boss's, which passes its options to
 * pg.Pool): a query with parameters gets a name derived from its text, so the same text is the same
 * prepared statement on every connection. The names are bounded: past MAX_NAMED distinct texts
 * (generated SQL, such as list filters, could vary without limit) queries run unnamed as before.
 * A query without parameters (BEGIN, DDL, multi-statement scripts) is never named: it runs on the
 * simple protocol, which cannot prepare.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';

/** Distinct statement texts given a name, per process. */
const MAX_NAMED = 2000;

const names = new Map<string, string>();

/** The prepared statement name of a query text, or undefined once the budget of names is spent. */
export function statementName(text: string): string | undefined {
  const known = names.get(text);
  if (known !== undefined || names.size >= MAX_NAMED) return known;
  const name = `th_${createHash('sha1').update(text).digest('base64url')}`;
  names.set(text, name);
  return name;
}

/** pg.Client whose parameterised queries are prepared statements, named by their text. */
export class PreparingClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    const query = pg.Client.prototype.query.bind(this) as (...args: unknown[]) => unknown;
    this.query = ((...args: unknown[]) => query(...named(args))) as pg.Client['query'];
  }
}

/** The arguments of Client.query, with a name added to a parameterised query that has none. */
function named(args: unknown[]): unknown[] {
  const [config, values, callback] = args;
  if (typeof config === 'string') {
    if (!Array.isArray(values) || values.length === 0) return args;
    const name = statementName(config);
    return name === undefined ? args : [{ name, text: config, values }, callback];
  }
  if (!isPlainQueryConfig(config)) return args;
  const hasValues = Array.isArray(config.values) ? config.values.length > 0 : Array.isArray(values) && values.length > 0;
  const name = hasValues ? statementName(config.text) : undefined;
  return name === undefined ? args : [{ ...config, name }, ...args.slice(1)];
}

/** A query config object (not a Submittable such as a cursor) that has no name of its own. */
function isPlainQueryConfig(config: unknown): config is { text: string; values?: unknown; name?: string } {
  if (typeof config !== 'object' || config === null) return false;
  const c = config as { text?: unknown; name?: unknown; submit?: unknown };
  return typeof c.text === 'string' && c.name === undefined && typeof c.submit !== 'function';
}
