/**
 * A running task hub: Postgres pool → migrations → pg-boss → engine (turn dispatcher, activity
 * worker) → HTTP app, by role. `startTaskHub` is also the library entry point for users who build
 * their own registry of orchestrations and activities.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { PreparingClient } from './db/prepared.ts';
import { type ConstructorOptions, PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import { httpBuiltIn } from './activities/http-activity.ts';
import { ActivityWorker } from './activities/worker.ts';
import { ACTIVITY_QUEUE, ensureActivityQueue, PgBossActivityQueue } from './activities/queue.ts';
import { QueueStatistics } from './activities/queue-statistics.ts';
import { bossChannel } from './activities/wake.ts';
import { buildApp } from './app.ts';
import { type Config, ConfigError, DEFAULT_CONNECTION, hubSchema, loadConfig } from './config.ts';
import { startEmbeddedPostgres } from './db/embedded.ts';
import { hasExamples } from './examples/index.ts';
import { createLogger } from './log.ts';
import { migrate } from './db/migrate.ts';
import { Notifier } from './db/notifier.ts';
import { createPool, describePgError, type Pool } from './db/pool.ts';
import { CompletionWatch } from './orchestrator/completions.ts';
import { DeadlineSweeper } from './orchestrator/deadlines.ts';
import { ConcurrencySweeper } from './orchestrator/concurrency.ts';
import { Management } from './orchestrator/management.ts';
import { Dispatcher } from './orchestrator/dispatcher.ts';
import type { EngineContext } from './orchestrator/lifecycle.ts';
import type { ClaimedJob, PostCommitWake, TurnHandoff } from './orchestrator/ports.ts';
import type { Registry } from './orchestrator/registry.ts';
import { TurnRunner } from './orchestrator/runner.ts';
import { Scheduler } from './orchestrator/scheduler.ts';
import { Starts } from './orchestrator/starts.ts';
import { wakeChannel } from './orchestrator/store/turns.ts';
import { failingOf, type HubHealth } from './routes/health.ts';
import type { HubView } from './routes/hubs.ts';
import { type MetricsSources, Telemetry } from './telemetry/index.ts';

/**
 * @internal
 * Separate connection budgets, so no class of work can take another's connections: a flood of
 * status reads waits for the api pool, hung activities hold activity connections, and turns keep
 * theirs. A pg pool opens connections only on demand, so an unused one (the api pool of a worker
 * process) costs nothing.
 */
export interface TaskHubPools {
  /** HTTP reads, starts and management actions (TASKHUB_PG_API_POOL_MAX). */
  api: Pool;
  /** Turns, the dispatcher and the scheduler (TASKHUB_PG_POOL_MAX). */
  engine: Pool;
  /** Result recording and the activities' own queries (TASKHUB_PG_ACTIVITY_POOL_MAX). */
  activities: Pool;
}

/**
 * One task hub this process serves: its own schema (instances, history, inbox, schedules; pg-boss
 * in `${schema}_boss`) on its connection, its own pools, pg-boss and engine loops. Two hubs share
 * nothing but the process (and the HTTP port).
 */
export interface ServedHub {
  name: string;
  /** The connection it lives on, as its URIs name it (DEFAULT_CONNECTION: DATABASE_URL or the embedded PostgreSQL). */
  connection: string;
  schema: string;
  /** The orchestrations it offers (a view of the registry when TASKHUB_HUB_<NAME>_ORCHESTRATIONS says). */
  registry: Registry;
  client: Management;
  /** The pool for user code (activities' own queries): the same as `pools.activities`. */
  pool: Pool;
  /** @internal */
  pools: TaskHubPools;
  /** @internal */
  boss: PgBoss;
  /** Whether this process runs its turns, activities and schedules (TASKHUB_WORKER_HUBS, TASKHUB_ROLE). */
  worker: boolean;
  /** @internal */
  dispatcher: Dispatcher | undefined;
  /** @internal */
  activityWorker: ActivityWorker | undefined;
  /** @internal */
  scheduler: Scheduler | undefined;
  /** @internal */
  deadlines: DeadlineSweeper | undefined;
}

export interface TaskHub {
  config: Config;
  /** Every hub this process serves; the fields below are the default hub's (TASKHUB_NAME, or the first served). */
  hubs: ServedHub[];
  /** The pool for user code (activities' own queries): the same as `pools.activities`. */
  pool: Pool;
  /** @internal */
  pools: TaskHubPools;
  /** @internal */
  boss: PgBoss;
  client: Management;
  registry: Registry;
  app: FastifyInstance | undefined;
  /** @internal */
  dispatcher: Dispatcher | undefined;
  /** @internal */
  worker: ActivityWorker | undefined;
  /** @internal */
  scheduler: Scheduler | undefined;
  /** @internal */
  deadlines: DeadlineSweeper | undefined;
  /** The address the HTTP server listens on, when it does. */
  url: string | undefined;
  /** The default connection's string (the embedded PostgreSQL's when it started one; it holds the password). */
  connectionString: string;
  /**
   * Stops taking requests, lets work in flight finish or hand back, closes pg-boss and the pools,
   * then stops the embedded PostgreSQL when this hub started it. Safe to call more than once.
   */
  stop(): Promise<void>;
}

/** How often worker processes look for instances past their run deadline (a deadline is met within this). */
const DEADLINE_SWEEP_MS = 1000;

/** A task hub of the library API (`startTaskHub({ hubs: [...] })`). */
export interface HubOptions {
  /** 3-50 letters and digits starting with a letter; requests select it with `taskHub` (any case). */
  name: string;
  /** The connection it lives on: DEFAULT_CONNECTION ('Storage', the default) or a name of `connections`. */
  connection?: string;
  /** Default: the one TASKHUB_HUBS gives this name, else `${config.schema}_${lowercase name}` (TASKHUB_SCHEMA for the default hub). */
  schema?: string;
  /** The orchestrations it offers (default: all of its registry's). */
  orchestrations?: string[];
  /** Its orchestrations and activities (default: the registry of the start options). */
  registry?: Registry;
  /** Run its workers in this process (default: TASKHUB_WORKER_HUBS lists it, or it is unset; never with TASKHUB_ROLE=api). */
  worker?: boolean;
}

export interface StartOptions {
  /** The orchestrations and activities to run (each hub's, unless the hub brings its own). */
  registry: Registry;
  /** Default: loadConfig(), i.e. the environment variables of the README's configuration table. */
  config?: Config;
  /** Default: createLogger(config.logLevel, { format: config.logFormat }). */
  log?: Logger;
  /**
   * The default connection's database. Default: config.databaseUrl (DATABASE_URL); when that is
   * unset too, an embedded PostgreSQL is started under config.dataDir (TASKHUB_DATA_DIR) and
   * stopped by stop() (only when a hub lives on the default connection).
   */
  connectionString?: string;
  /** The task hubs to serve. Default: config.hubs (TASKHUB_HUBS, or the one hub TASKHUB_NAME). */
  hubs?: HubOptions[];
  /** Named connections (name → postgres:// URL), beside config.connections (TASKHUB_CONNECTION_<NAME>). */
  connections?: Record<string, string>;
  /** Listen for HTTP (default: when the role serves the API). */
  listen?: boolean;
  /** Metrics and traces (default: from config.telemetry: metrics on, OTLP traces when OTEL_* says where). */
  telemetry?: Telemetry;
  /**
   * On SIGINT or SIGTERM, stop gracefully and exit the process (a second Ctrl-C exits at once).
   * Default false: the program owns its signals and calls stop().
   */
  handleSignals?: boolean;
}

/** One hub to open: its options resolved. */
interface HubPlan {
  name: string;
  connection: string;
  connectionString: string;
  schema: string;
  registry: Registry;
  worker: boolean;
}

/** The options with their defaults filled in. */
interface Resolved {
  config: Config;
  log: Logger;
  instrumentation: Telemetry | undefined;
  examples: boolean;
}

/** Things to close on stop, closed in the reverse order of opening; errors are logged, not thrown. */
class Closers {
  private readonly list: Array<() => Promise<void>> = [];
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  add(close: () => Promise<void>): void {
    this.list.push(close);
  }

  private closing: Promise<void> | undefined;

  /** Closes everything once; a second call waits for the first. */
  closeAll(): Promise<void> {
    this.closing ??= (async () => {
      for (const close of this.list.splice(0).reverse()) {
        await close().catch((err) => this.log.warn({ err: describePgError(err) }, 'error while closing'));
      }
    })();
    return this.closing;
  }
}

const sameName = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** The hubs to serve, from the options or the configuration, each with its registry view and worker flag. */
function planHubs(options: StartOptions, config: Config): Array<Omit<HubPlan, 'connectionString'>> {
  const given: HubOptions[] = options.hubs ?? config.hubs.map((h) => ({ name: h.name, connection: h.connection, schema: h.schema, ...(h.orchestrations ? { orchestrations: h.orchestrations } : {}) }));
  if (given.length === 0) throw new ConfigError('TASKHUB_HUBS', 'lists no task hub');
  return given.map((hub) => {
    const configured = config.hubs.find((h) => sameName(h.name, hub.name));
    const base = hub.registry ?? options.registry;
    let registry: Registry;
    try {
      registry = hub.orchestrations ? base.only(hub.orchestrations) : base;
    } catch (err) {
      throw new ConfigError(`TASKHUB_HUB_${hub.name.toUpperCase()}_ORCHESTRATIONS`, `for the hub '${hub.name}': ${(err as Error).message}`);
    }
    const listed = config.workerHubs === undefined || config.workerHubs.some((n) => sameName(n, hub.name));
    return {
      name: hub.name,
      connection: hub.connection ?? DEFAULT_CONNECTION,
      schema: hub.schema ?? configured?.schema ?? hubSchema(config.schema, config.hubName, hub.name),
      registry,
      worker: config.role !== 'api' && (hub.worker ?? listed),
    };
  });
}

/** A named connection (case-insensitive): its name as configured and its URL, or a ConfigError naming the variable to set. */
function namedConnection(name: string, connections: Record<string, string>, hub: string): { connection: string; connectionString: string } {
  const found = Object.entries(connections).find(([n]) => sameName(n, name));
  if (found === undefined) throw new ConfigError(`TASKHUB_CONNECTION_${name.toUpperCase()}`, `is not set: the task hub '${hub}' lives on the connection '${name}'`);
  return { connection: found[0], connectionString: found[1] };
}

export async function startTaskHub(options: StartOptions): Promise<TaskHub> {
  const config = options.config ?? loadConfig();
  const log = options.log ?? createLogger(config.logLevel, { format: config.logFormat });
  const planned = planHubs(options, config);
  // A worker process opens only the hubs it works for; the API serves all of them.
  const opened = config.role === 'worker' ? planned.filter((h) => h.worker) : planned;
  if (opened.length === 0) throw new ConfigError('TASKHUB_WORKER_HUBS', 'leaves this worker process (TASKHUB_ROLE=worker) no task hub to work for');
  const usesDefault = opened.some((h) => sameName(h.connection, DEFAULT_CONNECTION));
  const connections = { ...config.connections, ...options.connections };
  const plans: HubPlan[] = opened.map((h) =>
    sameName(h.connection, DEFAULT_CONNECTION) ? { ...h, connection: DEFAULT_CONNECTION, connectionString: '' } : { ...h, ...namedConnection(h.connection, connections, h.name) },
  );
  const embedded = usesDefault && options.connectionString === undefined && config.databaseUrl === undefined ? await startEmbeddedPostgres(config.dataDir, log) : undefined;
  const connectionString = options.connectionString ?? config.databaseUrl ?? embedded?.connectionString ?? '';
  for (const plan of plans) if (plan.connectionString === '') plan.connectionString = connectionString;
  const telemetry = options.telemetry ?? defaultTelemetry(config, log);
  // Closed in reverse order: the embedded database last.
  const closers = new Closers(log);
  if (embedded) closers.add(() => embedded.stop());
  closers.add(() => telemetry.shutdown());
  const resolved: Resolved = { config, log, instrumentation: telemetry.enabled ? telemetry : undefined, examples: hasExamples(options.registry) };
  try {
    const hubs: ServedHub[] = [];
    for (const plan of plans) hubs.push(await openHub(plan, resolved, closers));
    const main = hubs.find((h) => sameName(h.name, config.hubName)) ?? (hubs[0] as ServedHub);
    for (const hub of hubs) telemetry.bind(metricsSources(hub.client, hub.pools, hub.boss), hub.name);
    let app: FastifyInstance | undefined;
    let url: string | undefined;
    if (config.role !== 'worker' && options.listen !== false) {
      const views = hubs.map((h) => ({ name: h.name, connection: h.connection, client: h.client, registry: h.registry }));
      const directory = { default: views[hubs.indexOf(main)] as HubView, all: views };
      const health = { check: async () => failingOf(await hubsHealth(hubs)), hubs: () => hubsHealth(hubs) };
      app = await buildApp({ config, client: main.client, registry: main.registry, hubs: directory, log, telemetry, health });
      url = await app.listen({ port: config.port, host: config.host });
      // Closed first on stop: no new requests while the engine drains.
      closers.add(() => app!.close());
    }
    const served = hubs.map((h) => `${h.name}${h.worker ? '' : ' (api)'}`);
    log.info({ role: config.role, url, hub: main.name, hubs: served }, 'pg-taskhub started');
    const stop = (): Promise<void> => closers.closeAll();
    if (options.handleSignals) closers.add(handleSignals(log, stop));
    return {
      config,
      hubs,
      pool: main.pool,
      pools: main.pools,
      boss: main.boss,
      client: main.client,
      registry: main.registry,
      app,
      dispatcher: main.dispatcher,
      worker: main.activityWorker,
      scheduler: main.scheduler,
      deadlines: main.deadlines,
      url,
      connectionString,
      stop,
    };
  } catch (err) {
    await closers.closeAll();
    throw err;
  }
}

/**
 * Opens one hub: its pools (on its connection, its schema on their search_path), its migrations
 * (the same chain, run in its schema), its pg-boss, its management verbs and, when this process
 * works for it, its engine.
 */
async function openHub(plan: HubPlan, options: Resolved, closers: Closers): Promise<ServedHub> {
  const { config, instrumentation } = options;
  const log = options.log.child({ hub: plan.name });
  const pools = openPools(config, plan, log);
  closers.add(() => pools.api.end());
  closers.add(() => pools.engine.end());
  closers.add(() => pools.activities.end());
  await migrate(pools.engine, plan.schema, log, { examples: options.examples });
  const boss = await startBoss(config, plan, log);
  closers.add(() => boss.stop({ graceful: true, timeout: 10_000, close: true }));
  const hubInstrumentation = instrumentation?.forHub(plan.name);
  // Wake-ups after commit, not inside the transactions (src/db/notifier.ts): a coalesced NOTIFY for
  // the other processes, and this process's own dispatcher at once.
  const notifier = new Notifier(pools.engine, log);
  closers.add(() => notifier.close());
  const localTurns = new Set<() => void>();
  // Our own wake-ups carry this hub's token, so its dispatcher (woken in process) ignores their echo.
  const ownPayload = randomUUID();
  const wake: PostCommitWake = {
    turns: () => {
      notifier.notify(wakeChannel(plan.schema), ownPayload);
      for (const local of localTurns) local();
    },
  };
  // One context per pool: the control plane's verbs use the api pool, the engine's loops their own.
  const base = { activities: new PgBossActivityQueue(boss, `${plan.schema}_boss`), schema: plan.schema, instrumentation: hubInstrumentation, wake };
  const apiCtx: EngineContext = { ...base, pool: pools.api };
  const completions = new CompletionWatch(pools.api, log);
  closers.add(async () => completions.close());
  // The control plane's starts lease their first turn to this process's dispatcher when it has a
  // free slot (it exists once the engine is up; an API-only process has none).
  const local: { dispatcher?: TurnHandoff | undefined } = {};
  const startHandoff: TurnHandoff = {
    reserve: (wanted) => local.dispatcher?.reserve(wanted),
    adopt: (reservation, claims) => local.dispatcher?.adopt(reservation, claims),
    release: (reservation) => local.dispatcher?.release(reservation),
  };
  const client = new Management(apiCtx, new Starts(apiCtx, plan.registry, startHandoff), completions);
  const engine = plan.worker ? await startEngine({ ...base, pool: pools.engine }, boss, pools, completions, { config, log, plan }, closers, { notifier, localTurns, ownPayload }) : {};
  local.dispatcher = engine.dispatcher;
  return {
    name: plan.name,
    connection: plan.connection,
    schema: plan.schema,
    registry: plan.registry,
    client,
    pool: pools.activities,
    pools,
    boss,
    worker: plan.worker,
    dispatcher: engine.dispatcher,
    activityWorker: engine.worker,
    scheduler: engine.scheduler,
    deadlines: engine.deadlines,
  };
}

function openPools(config: Config, plan: HubPlan, log: Logger): TaskHubPools {
  const poolOf = (max: number, applicationName: string): Pool =>
    createPool(
      {
        connectionString: plan.connectionString,
        schema: plan.schema,
        max,
        connectionTimeoutMs: config.pg.connectionTimeoutMs,
        statementTimeoutMs: config.pg.statementTimeoutMs,
        idleInTransactionTimeoutMs: config.pg.idleInTransactionTimeoutMs,
        applicationName,
      },
      log,
    );
  return {
    api: poolOf(config.pg.apiPoolMax, 'pg-taskhub-api'),
    engine: poolOf(config.pg.poolMax, 'pg-taskhub-engine'),
    activities: poolOf(config.pg.activityPoolMax, 'pg-taskhub-activities'),
  };
}

/** A hub's pg-boss on its own schema and pool, started, with the activity queue created. */
async function startBoss(config: Config, plan: HubPlan, log: Logger): Promise<PgBoss> {
  const options: ConstructorOptions & { Client: typeof PreparingClient } = {
    connectionString: plan.connectionString,
    // pg-boss hands its options to pg.Pool: its fetch, insert and complete (a page of SQL each) are
    // prepared statements too, parsed and planned once per connection (src/db/prepared.ts).
    Client: PreparingClient,
    schema: `${plan.schema}_boss`,
    max: config.pg.bossPoolMax,
    useListenNotify: true,
    connectionTimeoutMillis: config.pg.connectionTimeoutMs,
    // Expired and heartbeat-lost jobs (a crashed worker's activities) are found by the monitor
    // pass, which runs every max(supervise, monitor) interval: 5 s instead of pg-boss's 60 s.
    superviseIntervalSeconds: 5,
    monitorIntervalSeconds: 5,
    schedule: false,
    application_name: 'pg-taskhub-boss',
    // pg-boss's own OpenTelemetry spans are off: the engine traces each activity attempt under the
    // turn that scheduled it, and pg-boss's polling would add a root span per fetch.
    openTelemetry: { enabled: false },
    // Timeouts on pg-boss's sessions too. Its maintenance (expiry sweeps, index rebuilds) may run
    // longer than a request statement, hence five times the engine's statement timeout.
    options:
      `-c statement_timeout=${config.pg.statementTimeoutMs * 5} ` +
      `-c idle_in_transaction_session_timeout=${config.pg.idleInTransactionTimeoutMs}`,
  };
  const boss = new PgBoss(options);
  boss.on('error', (err) => log.warn({ err: describePgError(err) }, 'pg-boss error'));
  await boss.start();
  try {
    await ensureActivityQueue(boss, {
      heartbeatSeconds: config.engine.activityHeartbeatSeconds,
      expireSeconds: config.engine.activityExpireSeconds,
      poisonAttempts: config.engine.poisonAttempts,
    });
  } catch (err) {
    await boss.stop({ graceful: false, close: true }).catch(() => undefined);
    throw err;
  }
  return boss;
}

interface Engine {
  dispatcher?: Dispatcher;
  worker?: ActivityWorker;
  scheduler?: Scheduler;
  deadlines?: DeadlineSweeper;
}

/**
 * The worker side: the turn dispatcher, the activity worker and (when enabled) the scheduler. All
 * are built before any starts; the two in-process wake-ups connect them (a committed turn with new
 * jobs wakes the worker, recorded results wake the dispatcher), saving a NOTIFY round trip each.
 */
async function startEngine(
  hubCtx: EngineContext,
  boss: PgBoss,
  pools: TaskHubPools,
  completions: CompletionWatch,
  options: { config: Config; log: Logger; plan: HubPlan },
  closers: Closers,
  wakeups: { notifier: Notifier; localTurns: Set<() => void>; ownPayload: string },
): Promise<Engine> {
  const { config, log, plan } = options;
  const { registry, connectionString } = plan;
  const engine = config.engine;
  // The fetch plan needs statistics that know the queued jobs (activities/queue-statistics.ts).
  const bossSchema = `${plan.schema}_boss`;
  const queueStats = new QueueStatistics(
    pools.engine,
    ACTIVITY_QUEUE,
    async () => ({ schema: bossSchema, table: (await boss.getQueue(ACTIVITY_QUEUE))?.table ?? 'job' }),
    log,
  );
  closers.add(() => queueStats.close());
  const ctx: EngineContext = { ...hubCtx, activities: queueStats.counting(hubCtx.activities) };
  const starts = new Starts(ctx, registry);
  const runner = new TurnRunner(ctx, registry, starts, log, {
    poisonAttempts: engine.poisonAttempts,
    maxHistoryEvents: engine.maxHistoryEvents,
    maxPendingTasks: engine.maxPendingTasks,
    maxPayloadBytes: engine.maxPayloadBytes,
    entityOperationTimeoutMs: engine.entityOperationTimeoutMs,
    messagesPerTurn: 2000,
    cacheSize: 500,
    onJobsEnqueued: () => {
      worker.wake();
      wakeups.notifier.notify(bossChannel(bossSchema), ACTIVITY_QUEUE);
      queueStats.committed();
    },
    onExecutionEnded: (instanceId) => completions.ended(instanceId),
    activityHandoff: {
      reserve: (wanted: number): number => worker.reserve(wanted),
      adopt: (reserved: number, jobs: readonly ClaimedJob[]): void => worker.adopt(reserved, jobs),
      release: (reserved: number): void => worker.release(reserved),
    },
  });
  const dispatcher = new Dispatcher(ctx.pool, runner, log, {
    connectionString,
    schema: plan.schema,
    concurrency: engine.turnConcurrency,
    leaseSeconds: engine.turnLeaseSeconds,
    pollIntervalMs: engine.pollIntervalMs,
    ownPayload: wakeups.ownPayload,
  });
  const worker = new ActivityWorker(pools.activities, boss, ctx, registry, log, {
    batchSize: engine.activityBatchSize,
    concurrency: engine.activityConcurrency,
    poisonAttempts: engine.poisonAttempts,
    pollIntervalSeconds: Math.max(0.5, engine.pollIntervalMs / 1000),
    heartbeatSeconds: engine.activityHeartbeatSeconds,
    timeoutSeconds: engine.activityTimeoutSeconds,
    maxPayloadBytes: engine.maxPayloadBytes,
    listen: { connectionString, bossSchema: `${plan.schema}_boss` },
    onResultsRecorded: () => dispatcher.wake(),
    handoff: dispatcher,
    localClaim: engine.activityLocalClaim,
    builtIns: [
      httpBuiltIn({ maxPayloadBytes: engine.maxPayloadBytes, allowedHosts: config.http.allowedHosts, activityTimeoutSeconds: engine.activityTimeoutSeconds, registry }),
    ],
  });
  wakeups.localTurns.add(() => dispatcher.wake());
  await dispatcher.start();
  closers.add(() => dispatcher.stop());
  await worker.start();
  closers.add(() => worker.stop());
  const deadlines = new DeadlineSweeper(ctx.pool, ctx, registry, log, DEADLINE_SWEEP_MS);
  deadlines.start();
  closers.add(() => deadlines.stop());
  const concurrency = new ConcurrencySweeper(ctx.pool, registry, plan.schema, log);
  concurrency.start();
  closers.add(() => concurrency.stop());
  if (!config.schedules) return { dispatcher, worker, deadlines };
  const scheduler = new Scheduler(ctx.pool, registry, starts, log, ctx);
  await scheduler.start();
  closers.add(() => scheduler.stop());
  return { dispatcher, worker, scheduler, deadlines };
}

/** The readiness check of one hub: its api pool and its pg-boss answer. */
async function healthCheck(pool: Pool, boss: PgBoss): Promise<string[]> {
  const failing: string[] = [];
  await pool.query('SELECT 1').catch(() => failing.push('database'));
  await boss.getDb().executeSql('SELECT 1').catch(() => failing.push('pg-boss'));
  return failing;
}

/** Each hub's readiness, checked at once (a hub on an unreachable server does not hold the others' answer). */
function hubsHealth(hubs: readonly ServedHub[]): Promise<HubHealth[]> {
  return Promise.all(
    hubs.map(async (h) => {
      const failing = await healthCheck(h.pools.api, h.boss);
      return { name: h.name, connection: h.connection, status: failing.length === 0 ? 'ready' : 'unavailable', failing } as const;
    }),
  );
}

function defaultTelemetry(config: Config, log: Logger): Telemetry {
  const tracing = config.telemetry.otlp ? { serviceName: config.telemetry.serviceName, global: true, sampler: config.telemetry.sampler } : undefined;
  return new Telemetry({ metrics: config.telemetry.metrics, tracing }, log);
}

/** The database-backed gauges of /metrics, read through the management verbs and pg-boss (never raw from routes). */
function metricsSources(client: Management, pools: TaskHubPools, boss: PgBoss): MetricsSources {
  return {
    instances: () => client.counts(),
    timersPending: () => client.pendingTimers(),
    queue: async () => {
      const q = await boss.getQueue(ACTIVITY_QUEUE);
      return { ready: q?.readyCount ?? 0, deferred: q?.deferredCount ?? 0, active: q?.activeCount ?? 0 };
    },
    schedules: async () =>
      (await client.schedules()).map((s) => ({
        name: s.name,
        started: s.startedCount,
        buffered: s.bufferedCount,
        skipped: s.skippedCount,
        replaced: s.replacedCount,
        failed: s.failedCount,
      })),
    pools: () => {
      const use = (name: string, p: Pool) => ({ pool: name, max: p.options.max ?? 10, total: p.totalCount, idle: p.idleCount, waiting: p.waitingCount });
      const ours = [use('api', pools.api), use('engine', pools.engine), use('activities', pools.activities)];
      // pg-boss's own pool: its Db reports its counts (for its instance registry) though IDatabase does not declare it.
      const bossPool = (boss.getDb() as { poolCounts?: () => { max: number; total: number; idle: number; waiting: number } | null }).poolCounts?.();
      return bossPool ? [...ours, { pool: 'boss', ...bossPool }] : ours;
    },
  };
}

/** Stop, then exit, on SIGINT/SIGTERM; a second SIGINT while draining exits at once. Returns the undo. */
function handleSignals(log: Logger, stop: () => Promise<void>): () => Promise<void> {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      if (signal === 'SIGINT') process.exit(130);
      return;
    }
    signalled = true;
    log.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return async () => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  };
}
