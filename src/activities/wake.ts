/**
 * Wake-ups for the activity fetch loop from other processes: LISTEN on pg-boss's own notify channel,
 * where the process whose turn enqueued jobs announces them after its commit (src/db/notifier.ts;
 * the queue itself does not notify: a NOTIFY in the turn's transaction serialised every turn's commit). The worker fetches on its own schedule and cannot use pg-boss's `work()`
 * listener, so it keeps one connection of its own. A lost connection only costs latency: the loop
 * polls as a backstop, and this reconnects on the next poll.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { describePgError } from '../db/pool.ts';

/**
 * pg-boss 12.38's channel name, computed by the same SQL expression it uses (plans.notifyChannelSql);
 * the version is pinned, and a changed expression would only cost latency (the poll still runs).
 */
const CHANNEL = `SELECT 'pgboss_' || left(encode(sha224($1::text::bytea), 'hex'), 24) AS channel`;

/** The same channel name, computed here (schema names are lowercase identifiers: their text is their bytes). */
export function bossChannel(bossSchema: string): string {
  return `pgboss_${createHash('sha224').update(bossSchema, 'utf8').digest('hex').slice(0, 24)}`;
}

/** Least time between two connection attempts (an outage costs one warning per this, not per poll). */
const RETRY_MS = 5000;

export class BossWakeListener {
  private readonly connectionString: string;
  private readonly bossSchema: string;
  private readonly queue: string;
  private readonly log: Logger;
  private readonly onWake: () => void;
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private lastAttempt = 0;

  constructor(connectionString: string, bossSchema: string, queue: string, log: Logger, onWake: () => void) {
    this.connectionString = connectionString;
    this.bossSchema = bossSchema;
    this.queue = queue;
    this.log = log;
    this.onWake = onWake;
  }

  /** Connects if not connected; never throws (a failure is logged, and tried again RETRY_MS later at the soonest). */
  ensure(): Promise<void> {
    if (this.closed || this.client !== undefined) return Promise.resolve();
    if (this.connecting === undefined && Date.now() - this.lastAttempt < RETRY_MS) return Promise.resolve();
    this.lastAttempt = Date.now();
    this.connecting ??= this.connect()
      .catch((err) => this.log.warn({ err: describePgError(err) }, 'activity wake-up listener could not connect; polling only'))
      .finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.connecting;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: 10_000, application_name: 'pg-taskhub-activity-listen' });
    client.on('error', (err) => {
      this.log.warn({ err: describePgError(err) }, 'activity wake-up listener lost its connection; polling until it reconnects');
      if (this.client === client) this.client = undefined;
    });
    client.on('notification', (msg) => {
      if (msg.payload === this.queue) this.onWake();
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ channel: string }>(CHANNEL, [this.bossSchema]);
      await client.query(`LISTEN ${pg.escapeIdentifier(rows[0]!.channel)}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    // Jobs inserted while we were not listening sent notifications nobody heard.
    this.onWake();
  }
}
