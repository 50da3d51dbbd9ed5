/**
 * Fault injectors: connections killed from the database side, and a PostgreSQL of our own (the
 * embedded one, in a temp folder) that can be stopped and started again on the same port. Process
 * kills are ServerNode.kill('SIGKILL').
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { type EmbeddedPostgresHandle, freePort, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/log.ts';

/** The application names the service's connections carry (engine pool, pg-boss pool). */
export const SERVICE_APPS = ['pg-taskhub', 'pg-taskhub-boss'];

export interface Terminated {
  total: number;
  byApp: Record<string, number>;
}

/**
 * pg_terminate_backend on every backend of `database` whose application_name is one of `apps`
 * ('' names the connections that set none, e.g. the dispatcher's LISTEN connection).
 */
export async function terminateBackends(admin: Pick<pg.Pool, 'query'>, database: string, apps: readonly string[] = SERVICE_APPS): Promise<Terminated> {
  const { rows } = await admin.query<{ app: string; ok: boolean }>(
    `SELECT application_name AS app, pg_terminate_backend(pid) AS ok FROM pg_stat_activity
     WHERE datname = $1 AND application_name = ANY($2::text[]) AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
    [database, apps],
  );
  const byApp: Record<string, number> = {};
  for (const r of rows) if (r.ok) byApp[r.app || '(none)'] = (byApp[r.app || '(none)'] ?? 0) + 1;
  return { total: Object.values(byApp).reduce((a, b) => a + b, 0), byApp };
}

/** Backends of the database per application_name, for reports. */
export async function backendsByApp(admin: Pick<pg.Pool, 'query'>, database: string): Promise<Record<string, number>> {
  const { rows } = await admin.query<{ app: string; n: number }>(
    `SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' GROUP BY 1`,
    [database],
  );
  return Object.fromEntries(rows.map((r) => [r.app || '(none)', r.n]));
}

/** Folders of embedded PostgreSQLs still running: stopped (SIGQUIT) and removed if the harness exits early. */
const running = new Set<string>();
process.on('exit', () => {
  for (const dir of running) {
    try {
      const pid = Number(readFileSync(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    } catch {
      // no pid file, or already gone
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * An embedded PostgreSQL in a temp folder of its own, on a fixed port, that can be stopped and
 * started again (same data, same port: the service's connection strings stay valid).
 */
export class RestartablePostgres {
  readonly dir: string;
  port = 0;
  connectionString = '';
  private handle: EmbeddedPostgresHandle | undefined;
  private readonly log = createLogger(process.env.RELIABILITY_PG_LOG ?? 'silent');

  constructor() {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'taskhub-rel-pg-'));
    // As root, postgres runs as the user 'postgres', which must be able to enter the folder.
    chmodSync(this.dir, 0o755);
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    this.handle = await startEmbeddedPostgres(this.dir, this.log, { port: this.port });
    this.connectionString = this.handle.connectionString;
    running.add(this.dir);
  }

  async stop(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.stop();
    running.delete(this.dir);
  }

  get running(): boolean {
    return this.handle !== undefined;
  }

  /** Stops it (if running) and removes its folder. */
  async destroy(): Promise<void> {
    await this.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
