/**
 * The Prometheus metrics (prom-client), in a registry of this process's own (no global default
 * registry). Every taskhub_* series carries a `hub` label: the task hub it counts (one set of
 * sources bound per hub). Counters and histograms are fed by the engine's instrumentation hooks; gauges of
 * database state (instances per status, timers pending, queue depth, schedule ticks) are read at
 * scrape time through `MetricsSources`, cached for CACHE_MS so a tight scrape loop costs one set of
 * queries per interval, and a failing read keeps the last values rather than failing the scrape.
 */
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ActivityOutcome, TurnOutcome } from '../orchestrator/instrumentation.ts';
import type { InstanceCount } from '../orchestrator/core/instance.ts';

/** How long database-backed gauges are reused between scrapes. */
const CACHE_MS = 5000;

export interface ScheduleCounts {
  name: string;
  started: number;
  buffered: number;
  skipped: number;
  replaced: number;
  failed: number;
}

export interface PoolUse {
  /** The pool's budget name (engine, boss, …). */
  pool: string;
  max: number;
  total: number;
  idle: number;
  waiting: number;
}

/** Where the scrape-time gauges come from (bound by the process once its pools exist). */
export interface MetricsSources {
  instances(): Promise<InstanceCount[]>;
  timersPending(): Promise<number>;
  queue(): Promise<{ ready: number; deferred: number; active: number }>;
  schedules(): Promise<ScheduleCounts[]>;
  pools(): PoolUse[];
}

interface HubSnapshot {
  hub: string | undefined;
  instances: InstanceCount[];
  timers: number;
  queue: { ready: number; deferred: number; active: number };
  schedules: ScheduleCounts[];
}

type Snapshot = HubSnapshot[];

/** The hub label of a series ({} for sources bound without a hub name). */
const hubLabel = (hub: string | undefined): { hub?: string } => (hub === undefined ? {} : { hub });

export type StartMetricOutcome = 'accepted' | 'queued' | 'debounced' | 'existing' | 'conflict' | 'rejected' | 'rate_limited';

export class Metrics {
  readonly registry = new Registry();
  /** Each hub's sources, by hub name ('' for sources bound without one). */
  private readonly sources = new Map<string, { hub: string | undefined; sources: MetricsSources }>();
  private snapshot: Snapshot | undefined;
  private takenAt = 0;
  private reading: Promise<Snapshot | undefined> | undefined;
  /** Schedule counters already reported, to turn the table's totals into counter increments. */
  private readonly ticksSeen = new Map<string, number>();
  private readonly log: Logger;

  readonly starts: Counter<'orchestration' | 'outcome' | 'hub'>;
  readonly turns: Counter<'orchestration' | 'outcome' | 'hub'>;
  readonly turnSeconds: Histogram<'orchestration' | 'hub'>;
  readonly replayed: Histogram<'orchestration' | 'hub'>;
  readonly activities: Counter<'activity' | 'outcome' | 'hub'>;
  readonly activitySeconds: Histogram<'activity' | 'outcome' | 'hub'>;
  readonly redeliveries: Counter<'activity' | 'hub'>;

  constructor(log: Logger) {
    this.log = log;
    const registers = [this.registry];
    this.starts = new Counter({
      name: 'taskhub_starts_total',
      help:
        'Starts by orchestration and outcome: accepted, queued (waits for a slot of its key), debounced (in a debounce window), ' +
        'existing (onConflict=useExisting), conflict (409), rate_limited (429), rejected.',
      labelNames: ['orchestration', 'outcome', 'hub'],
      registers,
    });
    this.turns = new Counter({ name: 'taskhub_turns_total', help: 'Orchestration turns by outcome (committed, error: rolled back and retried).', labelNames: ['orchestration', 'outcome', 'hub'], registers });
    this.turnSeconds = new Histogram({
      name: 'taskhub_turn_duration_seconds',
      help: 'Time of a turn: lock, replay, decide, commit.',
      labelNames: ['orchestration', 'hub'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.replayed = new Histogram({
      name: 'taskhub_turn_replayed_events',
      help: 'History events replayed to rebuild the orchestrator for a turn (0: continued from the in-memory cache).',
      labelNames: ['orchestration', 'hub'],
      buckets: [0, 1, 10, 100, 1000, 10_000, 100_000],
      registers,
    });
    this.activities = new Counter({
      name: 'taskhub_activities_total',
      help: 'Activity attempts by outcome: completed, failed (threw: a result as data), unregistered, quarantined, timeout, abandoned.',
      labelNames: ['activity', 'outcome', 'hub'],
      registers,
    });
    this.activitySeconds = new Histogram({
      name: 'taskhub_activity_duration_seconds',
      help: 'Time an activity function ran.',
      labelNames: ['activity', 'outcome', 'hub'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300],
      registers,
    });
    this.redeliveries = new Counter({
      name: 'taskhub_activity_redeliveries_total',
      help: 'Activity jobs delivered again after a worker crashed, lost its heartbeat or expired (retries of crash recovery).',
      labelNames: ['activity', 'hub'],
      registers,
    });
    const read = (): Promise<Snapshot | undefined> => this.read();
    new Gauge({
      name: 'taskhub_instances',
      help: `Instances by orchestration and runtime status (cluster-wide, read at most every ${CACHE_MS / 1000} s).`,
      labelNames: ['orchestration', 'status', 'hub'],
      registers,
      async collect() {
        const s = await read();
        if (!s) return;
        this.reset();
        for (const h of s) for (const row of h.instances) this.set({ orchestration: row.name, status: row.runtimeStatus, ...hubLabel(h.hub) }, row.count);
      },
    });
    new Gauge({
      name: 'taskhub_timers_pending',
      help: 'Durable timers not yet due (cluster-wide).',
      labelNames: ['hub'],
      registers,
      async collect() {
        const s = await read();
        for (const h of s ?? []) this.set(hubLabel(h.hub), h.timers);
      },
    });
    new Gauge({
      name: 'taskhub_activity_queue_jobs',
      help: "Activity jobs in pg-boss by state: ready, deferred (retry later), active (pg-boss's counts, refreshed by its monitor every 5 s).",
      labelNames: ['state', 'hub'],
      registers,
      async collect() {
        const s = await read();
        for (const h of s ?? []) for (const [state, n] of Object.entries(h.queue)) this.set({ state, ...hubLabel(h.hub) }, n);
      },
    });
    const ticksSeen = this.ticksSeen;
    new Counter({
      name: 'taskhub_schedule_ticks_total',
      help: 'Schedule ticks by orchestration and outcome: started, buffered (waited for the running instance), skipped (started nothing), replaced (terminated the running instance and started), failed (cluster-wide).',
      labelNames: ['orchestration', 'outcome', 'hub'],
      registers,
      async collect() {
        const s = await read();
        for (const h of s ?? []) {
          for (const schedule of h.schedules) {
            for (const outcome of ['started', 'buffered', 'skipped', 'replaced', 'failed'] as const) {
              const key = `${h.hub ?? ''}\u0000${schedule.name}\u0000${outcome}`;
              const delta = schedule[outcome] - (ticksSeen.get(key) ?? 0);
              if (delta > 0 || !ticksSeen.has(key)) this.inc({ orchestration: schedule.name, outcome, ...hubLabel(h.hub) }, Math.max(0, delta));
              ticksSeen.set(key, schedule[outcome]);
            }
          }
        }
      },
    });
    const bound = this.sources;
    new Gauge({
      name: 'taskhub_pg_pool_connections',
      help: 'Connections of each PostgreSQL pool (engine, boss): max (its size), total (open), idle, waiting (callers queued for one).',
      labelNames: ['pool', 'state', 'hub'],
      registers,
      collect() {
        for (const { hub, sources } of bound.values()) {
          for (const p of sources.pools()) {
            const labels = { pool: p.pool, ...hubLabel(hub) };
            this.set({ ...labels, state: 'max' }, p.max);
            this.set({ ...labels, state: 'total' }, p.total);
            this.set({ ...labels, state: 'idle' }, p.idle);
            this.set({ ...labels, state: 'waiting' }, p.waiting);
          }
        }
      },
    });
    // Process metrics, among them nodejs_eventloop_lag_seconds (and its percentiles).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
  }

  /** A hub's sources (binding the same hub again replaces them). */
  bind(sources: MetricsSources, hub?: string): void {
    this.sources.set(hub ?? '', { hub, sources });
    this.snapshot = undefined;
  }

  turn(orchestration: string, outcome: TurnOutcome, seconds: number, replayed: number, hub?: string): void {
    const h = hubLabel(hub);
    this.turns.inc({ orchestration, outcome, ...h });
    this.turnSeconds.observe({ orchestration, ...h }, seconds);
    this.replayed.observe({ orchestration, ...h }, replayed);
  }

  activity(activity: string, outcome: ActivityOutcome, seconds: number | undefined, attempt: number, hub?: string): void {
    const h = hubLabel(hub);
    this.activities.inc({ activity, outcome, ...h });
    if (seconds !== undefined) this.activitySeconds.observe({ activity, outcome, ...h }, seconds);
    if (attempt > 0 && outcome !== 'quarantined') this.redeliveries.inc({ activity, ...h });
  }

  start(orchestration: string, outcome: StartMetricOutcome, hub?: string): void {
    this.starts.inc({ orchestration, outcome, ...hubLabel(hub) });
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  private read(): Promise<Snapshot | undefined> {
    if (this.snapshot && Date.now() - this.takenAt < CACHE_MS) return Promise.resolve(this.snapshot);
    const bound = [...this.sources.values()];
    if (bound.length === 0) return Promise.resolve(undefined);
    this.reading ??= (async () => {
      try {
        this.snapshot = await Promise.all(
          bound.map(async ({ hub, sources }): Promise<HubSnapshot> => {
            const [instances, timers, queue, schedules] = await Promise.all([sources.instances(), sources.timersPending(), sources.queue(), sources.schedules()]);
            return { hub, instances, timers, queue, schedules };
          }),
        );
        this.takenAt = Date.now();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'metrics: reading the database gauges failed; serving the last values');
      } finally {
        this.reading = undefined;
      }
      return this.snapshot;
    })();
    return this.reading;
  }
}
