/**
 * The process: config → Postgres (embedded or DATABASE_URL) → migrations → pg-boss → workers →
 * listen, and a graceful shutdown on SIGINT/SIGTERM. Bad configuration is one line naming the
 * variable and a non-zero exit, before anything is started.
 */
import { existsSync } from 'node:fs';
import module from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { type Config, ConfigError, DEFAULT_CONNECTION, type HubSetting, loadConfig } from './config.ts';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from './db/embedded.ts';
import { applyDurableFunctionsApp } from './durable-functions/index.ts';
import { migrate } from './db/migrate.ts';
import { createPool } from './db/pool.ts';
import { type ExampleServices, registerExamples } from './examples/index.ts';
import { createLogger } from './log.ts';
import { Registry } from './orchestrator/registry.ts';
import { startTaskHub, type TaskHub } from './taskhub.ts';

let ownPackageMapped = false;

/**
 * A user module's imports of the package pg-taskhub (and pg-taskhub/client,
 * pg-taskhub/durable-functions) mean this running copy, wherever the module sits (the clone's
 * root, a folder outside it without node_modules, a project that installed another copy): one
 * Registry, one RetryOptions class, one df.app registration state (what a v3-style file registers
 * on import must reach the registry this process serves), and no build needed when running from
 * the sources. Process-wide, as module hooks are; registered once.
 */
function mapOwnPackage(): void {
  if (ownPackageMapped || typeof module.registerHooks !== 'function') return;
  ownPackageMapped = true;
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const targets = new Map([
    ['pg-taskhub', new URL(`./index${ext}`, import.meta.url).href],
    ['pg-taskhub/client', new URL(`./client/index${ext}`, import.meta.url).href],
    ['pg-taskhub/durable-functions', new URL(`./durable-functions/index${ext}`, import.meta.url).href],
  ]);
  module.registerHooks({
    resolve(specifier, context, nextResolve) {
      const url = targets.get(specifier);
      return url === undefined ? nextResolve(specifier, context) : { url, shortCircuit: true };
    },
  });
}

/**
 * A module given as a path: './x.ts', '/abs/x.ts', or a bare 'examples/x.ts' that names a file
 * under cwd (on a command line that is what a user means; Node alone would look for a package
 * 'examples'). Anything else is a package specifier.
 */
function isFileSpec(spec: string, cwd: string): boolean {
  return spec.startsWith('.') || path.isAbsolute(spec) || existsSync(path.resolve(cwd, spec));
}

/**
 * Loads user modules: each exports `register(registry)` (or a default function of that shape), or
 * registers durable-functions v3 style with df.app.* from pg-taskhub/durable-functions (or both).
 */
export async function loadModules(
  registry: Registry,
  modules: readonly string[],
  cwd = process.cwd(),
  warn: (message: string) => void = () => undefined,
): Promise<void> {
  if (modules.length > 0) mapOwnPackage();
  for (const spec of modules) {
    const url = isFileSpec(spec, cwd) ? pathToFileURL(path.resolve(cwd, spec)).href : spec;
    const mod = (await import(url)) as { register?: (r: Registry) => unknown; default?: (r: Registry) => unknown };
    const register = mod.register ?? mod.default;
    if (typeof register === 'function') await register(registry);
    const ported = applyDurableFunctionsApp(registry, warn);
    if (typeof register !== 'function' && ported === 0) {
      throw new Error(
        `module '${spec}' must export a register(registry) function, or register with df.app.* (the module pg-taskhub/durable-functions)`,
      );
    }
  }
}

async function connect(config: Config, log: Logger): Promise<{ connectionString: string; embedded?: EmbeddedPostgresHandle }> {
  if (config.databaseUrl) {
    log.info({ database: describeUrl(config.databaseUrl) }, 'using the database from DATABASE_URL');
    return { connectionString: config.databaseUrl };
  }
  const embedded = await startEmbeddedPostgres(config.dataDir, log);
  log.info({ database: describeUrl(embedded.connectionString) }, 'using the embedded PostgreSQL');
  return { connectionString: embedded.connectionString, embedded };
}

/** host:port/database of a URL, never its password. */
function describeUrl(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 5432}${u.pathname}`;
}

async function checkDatabase(connectionString: string, config: Config, log: Logger, variable = 'DATABASE_URL'): Promise<void> {
  const pool = createPool({ ...config.pg, max: 1, connectionString, schema: config.schema }, log);
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    throw new ConfigError(variable, `cannot be reached: ${(err as Error).message}`);
  } finally {
    await pool.end();
  }
}

/** Each hub's connection string: the default connection's, or its TASKHUB_CONNECTION_<NAME>. */
function hubConnection(config: Config, hub: HubSetting, defaultConnection: string): string {
  return hub.connection === DEFAULT_CONNECTION ? defaultConnection : (config.connections[hub.connection] as string);
}

/** The named connections (TASKHUB_CONNECTION_<NAME>) the hubs use answer, or a ConfigError naming the one that does not. */
async function checkConnections(config: Config, log: Logger): Promise<void> {
  for (const [name, url] of Object.entries(config.connections)) {
    await checkDatabase(url, config, log, `TASKHUB_CONNECTION_${name.toUpperCase()}`);
    log.info({ connection: name, database: describeUrl(url) }, 'using the database of a named connection');
  }
}

/** The configuration and the command of a command line, or the exit code of a bad one (already reported). */
function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv): { config: Config; command: 'start' | 'migrate' } | number {
  let config: Config;
  try {
    const modules = argv.flatMap((arg, i) => (arg === '--module' && argv[i + 1] ? [argv[i + 1] as string] : []));
    config = loadConfig(env);
    config.modules.push(...modules);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pg-taskhub: configuration error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const command = argv.find((a) => !a.startsWith('-') && !config.modules.includes(a)) ?? 'start';
  if (command !== 'start' && command !== 'migrate') {
    process.stderr.write(`pg-taskhub: unknown command '${command}' (use start or migrate)\n`);
    return 2;
  }
  return { config, command };
}

/**
 * Signals are handled from the start: a Ctrl-C or SIGTERM while the database is still starting
 * must stop it too (the default action would end this process at once and leave an embedded
 * PostgreSQL running). A signal during start-up lets the current step finish, then stops.
 * SIGHUP (the terminal closed) stops too: the embedded PostgreSQL is in a process group of its
 * own and does not get the terminal's signals. A second Ctrl-C while draining exits at once.
 */
class StopSignals {
  private static readonly SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  /** The first signal received, if any. */
  received: string | undefined;
  private resolveWait: (() => void) | undefined;
  private readonly onSignal = (signal: string): void => {
    if (this.received !== undefined) {
      if (signal === 'SIGINT') process.exit(130);
      return;
    }
    this.received = signal;
    this.resolveWait?.();
  };

  constructor() {
    for (const signal of StopSignals.SIGNALS) process.on(signal, this.onSignal);
  }

  /** Resolves at the first signal (at once when one came already). */
  async wait(): Promise<void> {
    if (this.received === undefined) await new Promise<void>((resolve) => (this.resolveWait = resolve));
  }

  dispose(): void {
    for (const signal of StopSignals.SIGNALS) process.removeListener(signal, this.onSignal);
  }
}

/** `pg-taskhub migrate`: applies the migrations in every hub's schema and stops the embedded database it may have started. */
async function runMigrate(config: Config, log: Logger, database: Awaited<ReturnType<typeof connect>>): Promise<void> {
  try {
    for (const hub of config.hubs) {
      const pool = createPool({ ...config.pg, max: 2, connectionString: hubConnection(config, hub, database.connectionString), schema: hub.schema }, log);
      try {
        const applied = await migrate(pool, hub.schema, log, { examples: config.examples });
        log.info({ hub: hub.name, applied }, applied.length ? 'migrations applied' : 'database is up to date');
      } finally {
        await pool.end();
      }
    }
  } finally {
    await database.embedded?.stop();
  }
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseCommandLine(argv, env);
  if (typeof parsed === 'number') return parsed;
  const { config, command } = parsed;
  const log = createLogger(config.logLevel, { format: config.logFormat });
  const signals = new StopSignals();
  let database: Awaited<ReturnType<typeof connect>> | undefined;
  let hub: TaskHub | undefined;
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string): Promise<void> =>
    (stopping ??= (async () => {
      log.info({ signal }, 'shutting down');
      await hub?.stop();
      await database?.embedded?.stop();
    })());
  try {
    try {
      const registry = new Registry();
      const services: ExampleServices = { pool: undefined };
      if (config.examples) registerExamples(registry, services, config.schedules ? {} : { dataIngestSchedule: null });
      await loadModules(registry, config.modules, process.cwd(), (message) => log.warn(message));
      database = await connect(config, log);
      if (config.databaseUrl && signals.received === undefined) await checkDatabase(database.connectionString, config, log);
      if (signals.received === undefined) await checkConnections(config, log);
      if (command === 'migrate' && signals.received === undefined) {
        await runMigrate(config, log, database);
        return 0;
      }
      if (signals.received === undefined) {
        hub = await startTaskHub({ config, registry, log, connectionString: database.connectionString });
        services.pool = hub.pool;
      }
    } catch (err) {
      // Stopped by a signal while starting (a DATABASE_URL server may get the same Ctrl-C):
      // whatever failed then is part of stopping, not an error to report.
      if (signals.received === undefined) {
        process.stderr.write(`pg-taskhub: ${describeStartupError(err, config)}\n`);
        await shutdown('startup-failure').catch(() => undefined);
        return 1;
      }
    }
    await signals.wait();
    await shutdown(signals.received ?? 'SIGTERM');
    return 0;
  } finally {
    signals.dispose();
  }
}

/** One line for stderr: names the variable where the configuration is at fault. */
function describeStartupError(err: unknown, config: Config): string {
  let message: string;
  if (err instanceof ConfigError) message = `configuration error: ${err.message}`;
  else if ((err as { code?: string }).code === 'EADDRINUSE') message = `PORT ${config.port} is already in use (HOST ${config.host})`;
  else message = `failed to start: ${(err as Error).message}`;
  return message.replace(/\s+/g, ' ').trim();
}
