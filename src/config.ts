/**
 * Environment → typed configuration, validated once at start. Nothing else in the service reads
 * process.env. Every variable is documented in the README's configuration table.
 */
import path from 'node:path';

export type Role = 'all' | 'api' | 'worker';

/** The name of the default connection (DATABASE_URL or the embedded PostgreSQL), as Durable Functions' URIs say it. */
export const DEFAULT_CONNECTION = 'Storage';

/**
 * One task hub served by this service: the unit of isolation (its own schema: instances, history,
 * inbox, schedules, and `${schema}_boss` for its pg-boss queues) on a named connection (storage).
 */
export interface HubSetting {
  name: string;
  /** The connection it lives on: DEFAULT_CONNECTION or a TASKHUB_CONNECTION_<NAME>. */
  connection: string;
  schema: string;
  /** The orchestrations it offers (TASKHUB_HUB_<NAME>_ORCHESTRATIONS); undefined: all registered. */
  orchestrations: string[] | undefined;
}

export interface Config {
  /** Postgres connection string; undefined means "start the embedded PostgreSQL". */
  databaseUrl: string | undefined;
  port: number;
  host: string;
  /** The default task hub: the one a request without `taskHub` selects. */
  hubName: string;
  /** Every task hub served (TASKHUB_HUBS; default: one, TASKHUB_NAME on the default connection in TASKHUB_SCHEMA). */
  hubs: HubSetting[];
  /** Named connections (TASKHUB_CONNECTION_<NAME>): name as written in TASKHUB_HUBS → postgres:// URL. */
  connections: Record<string, string>;
  /** The hubs this process runs workers for (TASKHUB_WORKER_HUBS); undefined: all of them. */
  workerHubs: string[] | undefined;
  /** The system key; when set, every route requires it (`code` query or `x-functions-key` header). */
  key: string | undefined;
  allowAnonymous: boolean;
  role: Role;
  logLevel: string;
  /** `auto`: pretty lines on a terminal, JSON otherwise. */
  logFormat: 'auto' | 'json' | 'pretty';
  dataDir: string;
  /** The default hub's schema (its engine tables); pg-boss keeps its jobs in `${schema}_boss`. */
  schema: string;
  bodyLimit: number;
  /** Register the shipped example orchestrations (HelloSequence, DataIngest, …). */
  examples: boolean;
  /** Module paths that register user orchestrations and activities. */
  modules: string[];
  /** Schedules (cron) of registered orchestrations fire only when this is true. */
  schedules: boolean;
  pg: {
    /** The engine's pool: turns, the dispatcher, the scheduler. */
    poolMax: number;
    /** The control plane's pool: HTTP reads, starts and management actions. */
    apiPoolMax: number;
    /** The activities' pool: result recording and the activities' own queries. */
    activityPoolMax: number;
    /** pg-boss's own pool: fetches, heartbeats, its maintenance. */
    bossPoolMax: number;
    connectionTimeoutMs: number;
    statementTimeoutMs: number;
    idleInTransactionTimeoutMs: number;
  };
  engine: {
    /** How long a worker owns an instance's turn before another may take it over (crash recovery). */
    turnLeaseSeconds: number;
    /** Instances a worker processes at once. */
    turnConcurrency: number;
    /** A turn or activity that crashes its worker this many times is quarantined. */
    poisonAttempts: number;
    /** Backstop polling interval for due timers and lost notifications. */
    pollIntervalMs: number;
    activityBatchSize: number;
    activityConcurrency: number;
    /** Most jobs a turn enqueues already claimed for its own process's activity worker (0: all through the queue). */
    activityLocalClaim: number;
    activityHeartbeatSeconds: number;
    activityExpireSeconds: number;
    /** Default attempt timeout of an activity (its own `timeoutSeconds` wins). */
    activityTimeoutSeconds: number;
    maxHistoryEvents: number;
    maxPendingTasks: number;
    maxPayloadBytes: number;
    /** An entity operation still running after this long fails (EntityOperationTimeout); keep it below the turn lease. */
    entityOperationTimeoutMs: number;
  };
  http: {
    requestTimeoutMs: number;
    startRateLimit: number;
    /**
     * The origin (and optional path prefix) every URI the service writes is built from, e.g.
     * https://hub.example.com; undefined: from the request (Host, or X-Forwarded-* behind a trusted proxy).
     */
    publicUrl: string | undefined;
    /** Fastify's trustProxy: which peers' X-Forwarded-For/-Host/-Proto are believed. false: none. */
    trustProxy: boolean | number | string;
    /**
     * Hosts callHttp may reach (`host`, `host:port`, `*.domain`, `[ipv6]`), redirects and 202
     * Locations included; undefined: any host (Durable Functions' behaviour).
     */
    allowedHosts: string[] | undefined;
  };
  telemetry: {
    /** Collect Prometheus metrics and serve GET /metrics. */
    metrics: boolean;
    /** /metrics without the key even when one is set (a scraper on a private network). */
    metricsPublic: boolean;
    /**
     * Export OpenTelemetry traces over OTLP: on when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set
     * (the SDK's exporter reads the other standard OTEL_EXPORTER_OTLP_* variables itself).
     */
    otlp: boolean;
    serviceName: string;
    /** OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (the SDK does not read them itself). */
    sampler: { kind: TraceSampler; ratio: number };
  };
}

export const TRACE_SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
export type TraceSampler = (typeof TRACE_SAMPLERS)[number];

function ratio(env: Env, name: string): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return 1;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new ConfigError(name, `must be a number from 0 to 1, got "${raw}"`);
  return value;
}

export class ConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`${variable} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got "${raw}"`);
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const lowered = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(lowered)) return true;
  if (['false', '0', 'no', 'off'].includes(lowered)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function publicUrl(env: Env): string | undefined {
  const raw = env.TASKHUB_PUBLIC_URL;
  if (raw === undefined || raw.trim() === '') return undefined;
  const problem = 'must be an absolute http:// or https:// URL without query or fragment (e.g. https://hub.example.com)';
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ConfigError('TASKHUB_PUBLIC_URL', `${problem}, got "${raw}"`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new ConfigError('TASKHUB_PUBLIC_URL', `${problem}, got "${raw}"`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** false (default), true, a hop count, or a comma-separated list of addresses/CIDRs (proxy-addr syntax). */
function trustProxy(env: Env): boolean | number | string {
  const raw = env.TASKHUB_TRUST_PROXY?.trim();
  if (raw === undefined || raw === '' || raw.toLowerCase() === 'false') return false;
  if (raw.toLowerCase() === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  if (!/^[0-9A-Fa-f.:/,\s]+$|^(loopback|linklocal|uniquelocal)(\s*,\s*[0-9A-Za-z.:/]+)*$/.test(raw)) {
    throw new ConfigError('TASKHUB_TRUST_PROXY', `must be false, true, a number of hops, or comma-separated proxy addresses/CIDRs, got "${raw}"`);
  }
  return raw;
}

/** TASKHUB_HTTP_ALLOWED_HOSTS: a comma-separated allow-list for callHttp; empty or unset: any host. */
function allowedHosts(env: Env): string[] | undefined {
  const raw = env.TASKHUB_HTTP_ALLOWED_HOSTS?.trim();
  if (raw === undefined || raw === '') return undefined;
  const entries = raw.split(',').map((e) => e.trim().toLowerCase()).filter((e) => e !== '');
  for (const entry of entries) {
    if (!/^(\*|(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/.test(entry)) {
      throw new ConfigError('TASKHUB_HTTP_ALLOWED_HOSTS', `must be comma-separated hosts (api.example.com, *.example.com, host:8443, [::1], *), got "${entry}"`);
    }
  }
  return entries;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function postgresUrl(variable: string, raw: string): string {
  try {
    const url = new URL(raw);
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new Error('protocol');
  } catch {
    throw new ConfigError(variable, 'must be a postgres:// connection URL');
  }
  return raw;
}

const HUB_NAME = /^[A-Za-z][A-Za-z0-9]{2,49}$/;
const HUB_NAME_RULE = 'must be 3-50 letters and digits starting with a letter';
/** A schema name, short enough that `${schema}_boss` (pg-boss's) fits PostgreSQL's 63 characters. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,57}$/;

/**
 * A listed hub's schema when TASKHUB_HUB_<NAME>_SCHEMA does not say: the hub named TASKHUB_NAME
 * keeps TASKHUB_SCHEMA (so listing more hubs beside an existing one moves none of its data), every
 * other hub gets `${TASKHUB_SCHEMA}_${lowercase name}`.
 */
export function hubSchema(baseSchema: string, defaultHubName: string, name: string): string {
  return name.toLowerCase() === defaultHubName.toLowerCase() ? baseSchema : `${baseSchema}_${name.toLowerCase()}`;
}

/** TASKHUB_CONNECTION_<NAME> variables: upper-case name → URL. */
function connectionVariables(env: Env): Map<string, string> {
  const found = new Map<string, string>();
  for (const [variable, value] of Object.entries(env)) {
    const m = /^TASKHUB_CONNECTION_([A-Z][A-Z0-9_]*)$/.exec(variable);
    if (!m || value === undefined || value === '') continue;
    if (m[1] === DEFAULT_CONNECTION.toUpperCase()) {
      throw new ConfigError(variable, `is not needed: the default connection '${DEFAULT_CONNECTION}' is DATABASE_URL (or the embedded PostgreSQL)`);
    }
    found.set(m[1] as string, postgresUrl(variable, value));
  }
  return found;
}

/** A comma-separated list of hub names (TASKHUB_WORKER_HUBS, or orchestration names). */
function list(env: Env, name: string): string[] | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  return raw.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

/**
 * TASKHUB_HUBS=DataIngest,Billing:Reports — hub Billing on the connection Reports
 * (TASKHUB_CONNECTION_REPORTS). Without it, one hub: TASKHUB_NAME in TASKHUB_SCHEMA on the default
 * connection, as before hubs existed.
 */
function loadHubs(env: Env, baseSchema: string): { hubs: HubSetting[]; hubName: string; connections: Record<string, string>; workerHubs: string[] | undefined } {
  const namedDefault = env.TASKHUB_NAME ? env.TASKHUB_NAME : undefined;
  if (namedDefault !== undefined && !HUB_NAME.test(namedDefault)) throw new ConfigError('TASKHUB_NAME', `${HUB_NAME_RULE}, got "${namedDefault}"`);
  const variables = connectionVariables(env);
  const specs = list(env, 'TASKHUB_HUBS');
  const hubs: HubSetting[] = [];
  const connections: Record<string, string> = {};
  for (const spec of specs ?? [namedDefault ?? 'TaskHub']) {
    const [name = '', connectionName, extra] = spec.split(':').map((x) => x.trim());
    if (!HUB_NAME.test(name) || extra !== undefined) {
      throw new ConfigError('TASKHUB_HUBS', `must list Name or Name:Connection, comma-separated; a hub name ${HUB_NAME_RULE}, got "${spec}"`);
    }
    if (hubs.some((h) => h.name.toLowerCase() === name.toLowerCase())) throw new ConfigError('TASKHUB_HUBS', `lists the hub '${name}' twice`);
    let connection = DEFAULT_CONNECTION;
    if (connectionName !== undefined && connectionName.toLowerCase() !== DEFAULT_CONNECTION.toLowerCase()) {
      if (!/^[A-Za-z][A-Za-z0-9_]{0,62}$/.test(connectionName)) throw new ConfigError('TASKHUB_HUBS', `names a connection as letters, digits and _, got "${spec}"`);
      const url = variables.get(connectionName.toUpperCase());
      if (url === undefined) {
        throw new ConfigError('TASKHUB_HUBS', `puts the hub '${name}' on the connection '${connectionName}', but TASKHUB_CONNECTION_${connectionName.toUpperCase()} is not set`);
      }
      connection = Object.keys(connections).find((c) => c.toLowerCase() === connectionName.toLowerCase()) ?? connectionName;
      connections[connection] = url;
    }
    const schemaVariable = `TASKHUB_HUB_${name.toUpperCase()}_SCHEMA`;
    const schema = env[schemaVariable] ? (env[schemaVariable] as string) : hubSchema(baseSchema, namedDefault ?? 'TaskHub', name);
    if (!SCHEMA_NAME.test(schema)) throw new ConfigError(env[schemaVariable] ? schemaVariable : 'TASKHUB_HUBS', `gives the hub '${name}' the schema "${schema}": it must be a lowercase SQL identifier of at most 58 characters`);
    const clash = hubs.find((h) => h.connection === connection && h.schema === schema);
    if (clash) throw new ConfigError(schemaVariable, `gives the hubs '${clash.name}' and '${name}' the one schema '${schema}' on the connection '${connection}': each hub needs its own`);
    hubs.push({ name, connection, schema, orchestrations: list(env, `TASKHUB_HUB_${name.toUpperCase()}_ORCHESTRATIONS`) });
  }
  const hubName = namedDefault ?? (specs ? (hubs[0] as HubSetting).name : 'TaskHub');
  if (!hubs.some((h) => h.name.toLowerCase() === hubName.toLowerCase())) {
    throw new ConfigError('TASKHUB_NAME', `is "${hubName}", the default hub, but TASKHUB_HUBS does not list it`);
  }
  const workerHubs = list(env, 'TASKHUB_WORKER_HUBS');
  for (const name of workerHubs ?? []) {
    if (!hubs.some((h) => h.name.toLowerCase() === name.toLowerCase())) throw new ConfigError('TASKHUB_WORKER_HUBS', `names the hub '${name}', which is not served (TASKHUB_HUBS)`);
  }
  return { hubs, hubName: (hubs.find((h) => h.name.toLowerCase() === hubName.toLowerCase()) as HubSetting).name, connections, workerHubs };
}

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const databaseUrl = env.DATABASE_URL ? postgresUrl('DATABASE_URL', env.DATABASE_URL) : undefined;
  const baseSchema = str(env, 'TASKHUB_SCHEMA', 'taskhub');
  if (!/^[a-z_][a-z0-9_]{0,50}$/.test(baseSchema)) {
    throw new ConfigError('TASKHUB_SCHEMA', `must be a lowercase SQL identifier (letters, digits, _), got "${baseSchema}"`);
  }
  const { hubs, hubName, connections, workerHubs } = loadHubs(env, baseSchema);
  const schema = (hubs.find((h) => h.name === hubName) as HubSetting).schema;
  const key = env.TASKHUB_KEY ? env.TASKHUB_KEY : undefined;
  const host = str(env, 'HOST', '127.0.0.1');
  const allowAnonymous = bool(env, 'TASKHUB_ALLOW_ANONYMOUS', false);
  const role = oneOf<Role>(env, 'TASKHUB_ROLE', 'all', ['all', 'api', 'worker']);
  if (role !== 'worker' && key === undefined && !allowAnonymous && !isLoopback(host)) {
    throw new ConfigError(
      'HOST',
      `is "${host}", a non-loopback address, but TASKHUB_KEY is not set: anyone who can reach it could start and ` +
        'terminate orchestrations. Set TASKHUB_KEY, or TASKHUB_ALLOW_ANONYMOUS=true if the network is private.',
    );
  }
  const modules = str(env, 'TASKHUB_MODULES', '')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');

  const activityExpireSeconds = int(env, 'TASKHUB_ACTIVITY_EXPIRE_SECONDS', 3600, 1, 86_400);
  // Durable Functions' default functionTimeout (5 min). Set explicitly, it must fit in the job's
  // expiry; with only the expiry lowered (a test of redelivery), the expiry simply comes first.
  const activityTimeoutSeconds = int(env, 'TASKHUB_ACTIVITY_TIMEOUT_SECONDS', 300, 1, 86_400);
  if (env.TASKHUB_ACTIVITY_TIMEOUT_SECONDS && activityTimeoutSeconds > activityExpireSeconds) {
    // pg-boss would expire the job (and deliver it again) before the worker gave up on it.
    throw new ConfigError(
      'TASKHUB_ACTIVITY_TIMEOUT_SECONDS',
      `must not exceed TASKHUB_ACTIVITY_EXPIRE_SECONDS (${activityExpireSeconds}), got "${activityTimeoutSeconds}"`,
    );
  }

  return {
    databaseUrl,
    port: int(env, 'PORT', 7071, 0, 65535),
    host,
    hubName,
    hubs,
    connections,
    workerHubs,
    key,
    allowAnonymous,
    role,
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', LOG_LEVELS),
    logFormat: oneOf(env, 'LOG_FORMAT', 'auto', ['auto', 'json', 'pretty'] as const),
    dataDir: path.resolve(cwd, str(env, 'TASKHUB_DATA_DIR', '.taskhub-data')),
    schema,
    bodyLimit: int(env, 'TASKHUB_BODY_LIMIT', 1024 * 1024, 1024, 64 * 1024 * 1024),
    examples: bool(env, 'TASKHUB_EXAMPLES', true),
    modules,
    schedules: bool(env, 'TASKHUB_SCHEDULES', true),
    pg: {
      poolMax: int(env, 'TASKHUB_PG_POOL_MAX', 6, 2, 1000),
      apiPoolMax: int(env, 'TASKHUB_PG_API_POOL_MAX', 4, 1, 1000),
      activityPoolMax: int(env, 'TASKHUB_PG_ACTIVITY_POOL_MAX', 4, 1, 1000),
      bossPoolMax: int(env, 'TASKHUB_PG_BOSS_POOL_MAX', 4, 2, 1000),
      connectionTimeoutMs: int(env, 'TASKHUB_PG_CONNECT_TIMEOUT_MS', 10_000, 100, 600_000),
      statementTimeoutMs: int(env, 'TASKHUB_PG_STATEMENT_TIMEOUT_MS', 30_000, 100, 3_600_000),
      idleInTransactionTimeoutMs: int(env, 'TASKHUB_PG_IDLE_TX_TIMEOUT_MS', 60_000, 1000, 3_600_000),
    },
    engine: {
      turnLeaseSeconds: int(env, 'TASKHUB_TURN_LEASE_SECONDS', 30, 2, 3600),
      turnConcurrency: int(env, 'TASKHUB_TURN_CONCURRENCY', 4, 1, 64),
      poisonAttempts: int(env, 'TASKHUB_POISON_ATTEMPTS', 5, 1, 100),
      pollIntervalMs: int(env, 'TASKHUB_POLL_INTERVAL_MS', 1000, 50, 60_000),
      activityBatchSize: int(env, 'TASKHUB_ACTIVITY_BATCH_SIZE', 50, 1, 1000),
      activityConcurrency: int(env, 'TASKHUB_ACTIVITY_CONCURRENCY', 200, 1, 10_000),
      activityLocalClaim: int(env, 'TASKHUB_ACTIVITY_LOCAL_CLAIM', 50, 0, 10_000),
      activityHeartbeatSeconds: int(env, 'TASKHUB_ACTIVITY_HEARTBEAT_SECONDS', 10, 10, 3600),
      activityExpireSeconds,
      activityTimeoutSeconds,
      maxHistoryEvents: int(env, 'TASKHUB_MAX_HISTORY_EVENTS', 100_000, 100, 10_000_000),
      maxPendingTasks: int(env, 'TASKHUB_MAX_PENDING_TASKS', 20_000, 1, 1_000_000),
      maxPayloadBytes: int(env, 'TASKHUB_MAX_PAYLOAD_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
      entityOperationTimeoutMs: int(env, 'TASKHUB_ENTITY_OPERATION_TIMEOUT_MS', 10_000, 10, 600_000),
    },
    http: {
      requestTimeoutMs: int(env, 'TASKHUB_HTTP_REQUEST_TIMEOUT_MS', 30_000, 1000, 3_600_000),
      startRateLimit: int(env, 'TASKHUB_START_RATE_LIMIT', 0, 0, 1_000_000),
      publicUrl: publicUrl(env),
      trustProxy: trustProxy(env),
      allowedHosts: allowedHosts(env),
    },
    telemetry: {
      metrics: bool(env, 'TASKHUB_METRICS', true),
      metricsPublic: bool(env, 'TASKHUB_METRICS_PUBLIC', false),
      otlp:
        Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) &&
        str(env, 'OTEL_SDK_DISABLED', 'false').toLowerCase() !== 'true' &&
        !str(env, 'OTEL_TRACES_EXPORTER', 'otlp').split(',').map((e) => e.trim()).includes('none'),
      serviceName: str(env, 'OTEL_SERVICE_NAME', 'pg-taskhub'),
      sampler: { kind: oneOf<TraceSampler>(env, 'OTEL_TRACES_SAMPLER', 'parentbased_always_on', TRACE_SAMPLERS), ratio: ratio(env, 'OTEL_TRACES_SAMPLER_ARG') },
    },
  };
}
