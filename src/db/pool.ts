/**
 * The Postgres pool and the transaction helper. Every connection gets the engine's schema on its
 * search_path and the timeouts from the configuration, so no statement or idle transaction can hold
 * locks (and stall vacuum) forever.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { PreparingClient, statementName } from './prepared.ts';
import { SQLSTATE } from './sqlstate.ts';

export type Pool = pg.Pool;
export type Client = pg.PoolClient;
export type Queryable = Pick<pg.PoolClient, 'query'>;

export interface PoolOptions {
  connectionString: string;
  schema: string;
  max: number;
  connectionTimeoutMs: number;
  statementTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
  applicationName?: string;
}

export function createPool(options: PoolOptions, log: Logger): Pool {
  const pool = new pg.Pool({
    // Parameterised queries are prepared statements, named by their text (src/db/prepared.ts).
    Client: PreparingClient,
    // Pipelining: a query issued while another is in flight on the connection is written at once,
    // not after the previous answer (withTransaction's BEGIN, a turn's lock and read). Queries
    // still run one after the other, in the order issued; awaited one by one they behave as before.
    ...({ pipeline: true } as object),
    connectionString: options.connectionString,
    max: options.max,
    connectionTimeoutMillis: options.connectionTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? 'pg-taskhub',
    options:
      `-c search_path=${options.schema},public -c statement_timeout=${options.statementTimeoutMs} ` +
      `-c idle_in_transaction_session_timeout=${options.idleInTransactionTimeoutMs}`,
  });
  // An idle client that loses its connection (server restart, pg_terminate_backend) emits 'error'
  // on the pool; without a listener that would crash the process. The pool drops the client itself.
  // Debug, not warn: a blip kills every idle client at once (ten lines), and nothing was using them;
  // the components that were using the database log the outage once each (src/db/outage.ts).
  pool.on('error', (err) => log.debug({ err: describePgError(err) }, 'idle database connection lost'));
  // pg-pool takes that idle listener off a client while it is checked out: a connection that drops
  // then (postgres shutting down between two statements of a transaction) would emit 'error' with
  // nobody listening, which crashes the process. The statement in progress, or the next one, fails
  // anyway, and the pool discards the broken client on release.
  pool.on('connect', (client) => {
    client.on('error', (err) => log.debug({ err: describePgError(err) }, 'database connection lost'));
  });
  return pool;
}

/** SQLSTATEs after which the whole transaction can simply be tried again. */
const RETRYABLE = new Set<string>([SQLSTATE.serializationFailure, SQLSTATE.deadlockDetected]);

/**
 * Runs `fn` inside BEGIN/COMMIT on one checked-out client. Rolls back on any error; retries the
 * whole transaction on serialization failures and deadlocks (the work is idempotent by design).
 */
export async function withTransaction<T>(pool: Pool, fn: (client: Client) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken = false;
    try {
      // Pipelined: the transaction's first statement goes out behind BEGIN without waiting for its
      // answer (one round trip fewer per transaction). BEGIN fails only with the connection, and then
      // so does every statement behind it; it is awaited before anything is committed.
      const begun = client.query('BEGIN');
      begun.catch(() => undefined);
      const result = await fn(client);
      await begun;
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      const code = (err as { code?: string }).code;
      if (attempt < attempts && code !== undefined && RETRYABLE.has(code)) continue;
      throw err;
    } finally {
      client.release(broken);
    }
  }
}

/**
 * A pg-boss `db` adapter that runs its statements on our client (inside our transaction) or pool.
 * Every statement pg-boss sends through it is a single one (insert, fetch, complete, cancel), so
 * each is a prepared statement, also those without parameters: pg-boss inlines the queue name and
 * the batch size into its fetch, which PreparingClient alone would leave unnamed (src/db/prepared.ts).
 */
export function bossDb(client: Queryable): { executeSql(text: string, values?: unknown[]): Promise<{ rows: any[] }> } {
  return {
    executeSql: (text, values) => {
      const name = statementName(text);
      return name === undefined ? client.query(text, values as unknown[]) : client.query({ name, text, values: values ?? [] });
    },
  };
}

/** The parts of a pg error that are safe and useful to log (never the query text or parameters). */
export function describePgError(err: unknown): Record<string, unknown> {
  const e = err as { message?: string; code?: string; severity?: string };
  return { message: e.message, code: e.code, severity: e.severity };
}
