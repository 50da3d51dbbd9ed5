/**
 * The registry of orchestrations and activities: explicit, typed code. The same registry serves the
 * HTTP server (which names may be started, with which options), the workers and the tests. Users
 * bring their own by passing a registry to `createTaskHub` or by naming a module that exports
 * `register(registry)` (TASKHUB_MODULES / --module).
 */
import type { Orchestrator } from './core/context.ts';
import type { ActivityFunction } from './core/activity-context.ts';
import type { EntityFunction } from './core/entities.ts';
import { validateSchedule } from './core/cron.ts';
import { type Concurrency, type ConcurrencyOptions, concurrencyProblem, type DebounceOptions, type OnConflict } from './core/concurrency.ts';
import { type OverlapPolicy, validateOverlap } from './core/schedule.ts';

export interface ScheduleOptions {
  /** A cron expression (5 or 6 fields). */
  cron: string;
  /** IANA time zone of the expression, default UTC. */
  timezone?: string;
  /** The input each scheduled run starts with. */
  input?: unknown;
  /**
   * What a tick does while the schedule's previous run is still active (Temporal's overlap
   * policies): `skip` (default) starts nothing; `bufferOne` keeps one tick waiting and starts it
   * when the run ends; `bufferAll` keeps every tick waiting, started in order; `terminateOther`
   * terminates the running instance and starts; `allowAll` starts regardless.
   */
  overlap?: OverlapPolicy;
  /**
   * How late a tick missed while no worker ran may still be handled (by its overlap policy); a
   * later one is recorded as skipped. Default one year (Temporal's); at least 1.
   */
  catchupWindowSeconds?: number;
}

export interface OrchestrationOptions {
  /**
   * Single-instance: `true` allows one active instance per orchestration name; `{ key }` one per
   * name and key (e.g. per tenant). Decided by a unique index, atomically, in the starting INSERT.
   */
  singleton?: boolean | { key: (input: unknown) => string };
  /**
   * At most `limit` active instances per key (`key` of the input; none: per name), decided by a
   * unique index over (key, slot). `singleton: true` is `{ limit: 1 }`. See README "Concurrency control".
   */
  concurrency?: ConcurrencyOptions;
  /** The policy of a start that names none (default 'fail'; 'debounce' when `debounce` is set). */
  onConflict?: OnConflict;
  /** Starts of one key within `seconds` collapse into one instance with the last input (onConflict 'debounce'). */
  debounce?: DebounceOptions;
  /** Start this orchestration on a schedule (one start per tick across the cluster). */
  schedule?: ScheduleOptions;
  /** A one-line description, shown by GET …/orchestrators. */
  description?: string;
  /**
   * Checks a start's input before anything is written: return (or throw) a problem and the start
   * is refused with a 400 naming it; return nothing to accept. Runs for HTTP and library starts;
   * a sub-orchestration start it refuses fails that task, and a schedule tick it refuses is logged.
   */
  validate?: (input: unknown) => string | undefined | void;
  /**
   * Run deadline in seconds (like Temporal's run timeout): an instance still active this long after
   * it was created is terminated with a reason naming the deadline, its queued and running work
   * cancelled as terminate does, so a stuck single-instance run frees its slot.
   */
  deadlineSeconds?: number;
}

export interface ActivityOptions {
  description?: string;
  /**
   * Attempt timeout in seconds (default TASKHUB_ACTIVITY_TIMEOUT_SECONDS). An attempt still running
   * then fails with `ActivityTimeout` (retried as its policy says), its signal aborts, and its slot
   * is freed even if it ignores the signal; its late result is dropped.
   */
  timeoutSeconds?: number;
}

export interface RegisteredOrchestration {
  name: string;
  fn: Orchestrator;
  options: OrchestrationOptions;
}

export interface RegisteredEntity {
  /** As registered; entity ids carry it lower-cased (`@counter@key`). */
  name: string;
  fn: EntityFunction;
}

export interface RegisteredActivity {
  name: string;
  fn: ActivityFunction;
  options: ActivityOptions;
}

/**
 * Answers a callHttp `tokenSource` (e.g. the drop-in's ManagedIdentityTokenSource) with a bearer
 * token, in the built-in HTTP activity at request time: the token is never recorded in history.
 */
export type HttpTokenProvider = (source: { kind: string; resource: string; url: string; signal: AbortSignal }) => Promise<string> | string;

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

const V3_HINT =
  '. For the durable-functions v3 shapes (name, { handler }), use df.app.* of the drop-in module pg-taskhub/durable-functions.';

function describe(value: unknown): string {
  if (value === undefined) return 'no function';
  if (value === null || typeof value !== 'object') return `a ${value === null ? 'null' : typeof value}`;
  const keys = Object.keys(value).slice(0, 5);
  return `an object${keys.length ? ` with ${keys.join(', ')}` : ''}`;
}

export class Registry {
  private readonly orchestrations = new Map<string, RegisteredOrchestration>();
  private readonly activities = new Map<string, RegisteredActivity>();
  private readonly entities = new Map<string, RegisteredEntity>();
  private tokenProvider: HttpTokenProvider | undefined;
  /** The orchestrations a task hub's view offers (lower-case names); undefined: all. */
  private offered: ReadonlySet<string> | undefined;

  orchestration(name: string, fn: Orchestrator<any>): this;
  orchestration(name: string, options: OrchestrationOptions, fn: Orchestrator<any>): this;
  orchestration(name: string, a: OrchestrationOptions | Orchestrator<any>, b?: Orchestrator<any>): this {
    const [options, fn] = typeof a === 'function' ? [{}, a] : [a, b as Orchestrator];
    this.checkName(name, this.orchestrations.has(name.toLowerCase()), 'orchestration');
    if (typeof fn !== 'function') {
      throw new TypeError(
        `orchestration '${name}' needs a generator function: registry.orchestration(name, function* (context) {…}) or ` +
          `registry.orchestration(name, options, function* (context) {…}); got ${describe(b === undefined ? a : fn)}${V3_HINT}`,
      );
    }
    if (options.schedule) {
      validateSchedule(name, options.schedule);
      validateOverlap(name, options.schedule);
    }
    const concurrency = concurrencyProblem(options);
    if (concurrency !== undefined) throw new Error(`orchestration '${name}': ${concurrency}`);
    if (options.validate !== undefined && typeof options.validate !== 'function') throw new Error(`orchestration '${name}': validate must be a function`);
    const deadline = options.deadlineSeconds;
    if (deadline !== undefined && !(Number.isFinite(deadline) && deadline > 0 && deadline <= 366 * 86_400)) {
      throw new Error(`orchestration '${name}': deadlineSeconds must be a number of seconds from 0 to 31622400, got ${deadline}`);
    }
    this.orchestrations.set(name.toLowerCase(), { name, fn, options });
    return this;
  }

  activity<I = any, O = unknown>(name: string, fn: ActivityFunction<I, O>): this;
  activity<I = any, O = unknown>(name: string, options: ActivityOptions, fn: ActivityFunction<I, O>): this;
  activity(name: string, a: ActivityOptions | ActivityFunction, b?: ActivityFunction): this {
    const [options, fn] = typeof a === 'function' ? [{}, a] : [a, b as ActivityFunction];
    this.checkName(name, this.activities.has(name.toLowerCase()), 'activity');
    // Checked here, not when the activity is first called (the v3 shape activity(name, { handler })
    // used to be accepted and fail only then, as "fn is not a function").
    if (typeof fn !== 'function') {
      throw new TypeError(
        `activity '${name}' needs a function: registry.activity(name, async (input, context) => …) or ` +
          `registry.activity(name, options, async (input, context) => …); got ${describe(b === undefined ? a : fn)}${V3_HINT}`,
      );
    }
    const timeout = options.timeoutSeconds;
    if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0 && timeout <= 86_400)) {
      throw new Error(`activity '${name}': timeoutSeconds must be a number of seconds from 0 to 86400, got ${timeout}`);
    }
    this.activities.set(name.toLowerCase(), { name, fn, options });
    return this;
  }

  /**
   * A durable entity: `fn(context)` runs once per operation, one operation at a time per entity
   * (`context.df.getState`, `setState`, `operationName`, `getInput`, `return`, `destructOnExit`,
   * `signalEntity`), class-free as in durable-functions v3. Entity names are case-insensitive.
   */
  entity<TState = any>(name: string, fn: EntityFunction<TState>): this {
    this.checkName(name, this.entities.has(name.toLowerCase()), 'entity');
    if (typeof fn !== 'function') {
      throw new TypeError(`entity '${name}' needs a function: registry.entity(name, (context) => { … context.df.setState(…) … }); got ${describe(fn)}${V3_HINT}`);
    }
    this.entities.set(name.toLowerCase(), { name, fn: fn as EntityFunction });
    return this;
  }

  getEntity(name: string): RegisteredEntity | undefined {
    return this.entities.get(name.toLowerCase());
  }

  listEntities(): RegisteredEntity[] {
    return [...this.entities.values()].sort((x, y) => x.name.localeCompare(y.name));
  }

  /**
   * A task hub's view of this registry: the same activities (and everything registered later; the
   * httpTokenProvider as set when the view is made), but only the named orchestrations, for starts,
   * turns and schedules alike. Throws on a name that is not registered.
   */
  only(names: readonly string[]): Registry {
    const unknown = names.filter((n) => !this.orchestrations.has(n.toLowerCase()));
    if (unknown.length > 0) throw new Error(`no orchestration registered as ${unknown.map((n) => `'${n}'`).join(', ')}`);
    const view = Object.assign(Object.create(Registry.prototype) as Registry, this);
    view.offered = new Set(names.map((n) => n.toLowerCase()));
    return view;
  }

  /**
   * Sets the function that answers callHttp token sources with a bearer token (outside Azure
   * there is no managed identity; without a provider such a request fails with NotSupportedError).
   */
  httpTokenProvider(provider: HttpTokenProvider): this {
    if (typeof provider !== 'function') throw new TypeError('httpTokenProvider needs a function: async ({ resource, url }) => token');
    if (this.tokenProvider !== undefined) throw new Error('an httpTokenProvider is registered twice');
    this.tokenProvider = provider;
    return this;
  }

  getHttpTokenProvider(): HttpTokenProvider | undefined {
    return this.tokenProvider;
  }

  /** Looks an orchestration up by name, case-insensitively (as Durable Functions does). */
  getOrchestration(name: string): RegisteredOrchestration | undefined {
    const key = name.toLowerCase();
    return this.offered === undefined || this.offered.has(key) ? this.orchestrations.get(key) : undefined;
  }

  getActivity(name: string): RegisteredActivity | undefined {
    return this.activities.get(name.toLowerCase());
  }

  listOrchestrations(): RegisteredOrchestration[] {
    const offered = this.offered;
    return [...this.orchestrations.values()].filter((o) => offered === undefined || offered.has(o.name.toLowerCase())).sort((x, y) => x.name.localeCompare(y.name));
  }

  /** What the orchestration's validate hook finds wrong with `input`, or undefined when it accepts it. */
  inputProblem(name: string, input: unknown): string | undefined {
    const validate = this.getOrchestration(name)?.options.validate;
    if (validate === undefined) return undefined;
    try {
      const problem = validate(input);
      return typeof problem === 'string' && problem !== '' ? problem : undefined;
    } catch (err) {
      return (err as Error)?.message || String(err);
    }
  }

  /**
   * The concurrency of an orchestration (limit per key, default policy, debounce), or undefined when
   * it has none: then starts take the unlimited fast path.
   */
  concurrency(name: string): Concurrency | undefined {
    const o = this.getOrchestration(name)?.options;
    if (o === undefined) return undefined;
    const limit = o.concurrency?.limit ?? (o.singleton !== undefined && o.singleton !== false ? 1 : undefined);
    if (limit === undefined && o.debounce === undefined) return undefined;
    const debounce = o.debounce && { seconds: o.debounce.seconds, maxWaitSeconds: o.debounce.maxWaitSeconds ?? 86_400 };
    return { limit, onConflict: o.onConflict ?? (debounce ? 'debounce' : 'fail'), debounce };
  }

  /**
   * The key an instance of `name` with `input` holds (its singleton or concurrency key, also the
   * debounce key), or null when the orchestration has no concurrency control. Throws when a key
   * function fails (the start is then a 400).
   */
  singletonKey(name: string, input: unknown): string | null {
    const registered = this.getOrchestration(name);
    if (registered === undefined) return null;
    const { singleton, concurrency, debounce } = registered.options;
    const keyFn = typeof singleton === 'object' ? singleton.key : concurrency?.key;
    if (keyFn === undefined) return (singleton !== undefined && singleton !== false) || concurrency !== undefined || debounce !== undefined ? registered.name : null;
    const key = keyFn(input);
    if (typeof key !== 'string' || key === '') throw new TypeError(`the ${typeof singleton === 'object' ? 'singleton' : 'concurrency'} key function must return a non-empty string`);
    // JSON keeps name and key apart whatever characters the key holds.
    return JSON.stringify([registered.name, key]);
  }

  private checkName(name: string, taken: boolean, what: string): void {
    if (!NAME.test(name)) throw new Error(`invalid ${what} name '${name}': letters, digits, _ . - (max 128)`);
    if (taken) throw new Error(`${what} '${name}' is registered twice`);
  }
}
