/**
 * Telemetry: the engine's Instrumentation (src/orchestrator/instrumentation.ts) implemented with
 * Prometheus metrics and OpenTelemetry spans, the HTTP hooks (a span per request, rate-limited
 * starts counted), and GET /metrics. Spans: `HTTP <method> <route>` → `start <name>` →
 * `turn <name>` (one per turn, children of the start) → `activity <name>` (one per attempt,
 * children of the turn that scheduled it), so one orchestration is one trace.
 */
import { context, type Context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ActivityObservation, Instrumentation, StartOutcome, TurnObservation } from '../orchestrator/instrumentation.ts';
import { keyMatches, presentedKey } from '../routes/auth.ts';
import { selectedHub } from '../routes/hubs.ts';
import { BASE_PATH } from '../routes/management-payload.ts';
import { Metrics, type MetricsSources } from './metrics.ts';
import { Tracing, type TracingOptions } from './tracing.ts';

export type { MetricsSources } from './metrics.ts';

export interface TelemetryOptions {
  metrics: boolean;
  /** Tracing options; undefined: no traces. */
  tracing?: TracingOptions | undefined;
}

const START_ROUTES = new Set([`${BASE_PATH}/orchestrators/:functionName`, `${BASE_PATH}/orchestrators/:functionName/:instanceId`]);

const seconds = (from: number): number => (performance.now() - from) / 1000;

const hubAttribute = (hub: string | undefined): Record<string, string> => (hub === undefined ? {} : { 'taskhub.hub': hub });

function fail(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

export class Telemetry implements Instrumentation {
  readonly metrics: Metrics | undefined;
  readonly tracing: Tracing | undefined;

  constructor(options: TelemetryOptions, log: Logger) {
    this.metrics = options.metrics ? new Metrics(log) : undefined;
    this.tracing = options.tracing ? new Tracing(options.tracing) : undefined;
  }

  /** Whether anything is collected (when not, the engine gets no instrumentation at all). */
  get enabled(): boolean {
    return this.metrics !== undefined || this.tracing !== undefined;
  }

  /** The scrape-time gauges of a hub (`hub`: its name, the metrics' hub label; several hubs bind one each). */
  bind(sources: MetricsSources, hub?: string): void {
    this.metrics?.bind(sources, hub);
  }

  /** The instrumentation of one task hub: the same metrics and traces, labelled (`hub`) and attributed (`taskhub.hub`) with its name. */
  forHub(hub: string): Instrumentation {
    return {
      start: (name, fn, outcomeOf) => this.start(name, fn, outcomeOf, hub),
      turn: (instance) => this.turn(instance, hub),
      activity: (job) => this.activity(job, hub),
    };
  }

  async start<T>(
    name: string,
    fn: (traceparent: string | undefined) => Promise<T>,
    outcomeOf: (result: T | undefined, err: unknown) => StartOutcome,
    hub?: string,
  ): Promise<T> {
    const tracing = this.tracing;
    const { span, ctx } = tracing ? tracing.child(`start ${name}`, context.active(), { 'taskhub.orchestration': name, ...hubAttribute(hub) }) : { span: undefined, ctx: undefined };
    try {
      const result = ctx ? await context.with(ctx, () => fn(tracing?.inject(ctx))) : await fn(undefined);
      const outcome = outcomeOf(result, undefined);
      this.metrics?.start(name, outcome, hub);
      const id = (result as { instanceId?: string; instance?: { instanceId: string } }).instanceId ?? (result as { instance?: { instanceId: string } }).instance?.instanceId;
      span?.setAttributes({ 'taskhub.outcome': outcome, ...(id ? { 'taskhub.instance_id': id } : {}) });
      return result;
    } catch (err) {
      const outcome = outcomeOf(undefined, err);
      this.metrics?.start(name, outcome, hub);
      span?.setAttribute('taskhub.outcome', outcome);
      if (span && outcome === 'rejected') fail(span, err);
      throw err;
    } finally {
      span?.end();
    }
  }

  turn(instance: { instanceId: string; executionId: string; name: string; traceparent: string | null }, hub?: string): TurnObservation {
    const from = performance.now();
    const tracing = this.tracing;
    const traced = tracing?.child(`turn ${instance.name}`, tracing.extract(instance.traceparent), {
      'taskhub.orchestration': instance.name,
      'taskhub.instance_id': instance.instanceId,
      'taskhub.execution_id': instance.executionId,
      ...hubAttribute(hub),
    });
    const metrics = this.metrics;
    return {
      traceparent: traced ? tracing?.inject(traced.ctx) : undefined,
      end(outcome, replayed) {
        metrics?.turn(instance.name, outcome, seconds(from), replayed, hub);
        if (traced) {
          traced.span.setAttributes({ 'taskhub.outcome': outcome, 'taskhub.replayed_events': replayed });
          if (outcome === 'error') traced.span.setStatus({ code: SpanStatusCode.ERROR });
          traced.span.end();
        }
      },
    };
  }

  activity(job: { instanceId: string; executionId: string; name: string; taskId: number; attempt: number; traceparent: string | undefined }, hub?: string): ActivityObservation {
    const tracing = this.tracing;
    const traced = tracing?.child(`activity ${job.name}`, tracing.extract(job.traceparent), {
      'taskhub.activity': job.name,
      'taskhub.instance_id': job.instanceId,
      'taskhub.execution_id': job.executionId,
      'taskhub.task_id': job.taskId,
      'taskhub.attempt': job.attempt,
      ...hubAttribute(hub),
    });
    const metrics = this.metrics;
    let from: number | undefined;
    return {
      run<T>(fn: () => Promise<T>): Promise<T> {
        from = performance.now();
        return traced ? context.with(traced.ctx, fn) : fn();
      },
      end(outcome) {
        metrics?.activity(job.name, outcome, from === undefined ? undefined : seconds(from), job.attempt, hub);
        if (traced) {
          traced.span.setAttribute('taskhub.outcome', outcome);
          if (outcome !== 'completed') traced.span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
          traced.span.end();
        }
      },
    };
  }

  /**
   * Root hooks: a server span around every request (continuing an incoming traceparent), whose
   * context the handler runs in; and the starts refused by the rate limit (they never reach the
   * engine). `registered` maps a start route's name to the registered one (no label from raw input).
   */
  installHttp(app: FastifyInstance, registered: (name: string, request: FastifyRequest) => string | undefined): void {
    const tracing = this.tracing;
    const spans = new WeakMap<FastifyRequest, Span>();
    if (tracing) {
      app.addHook('onRequest', (request, _reply, done) => {
        const parent: Context = tracing.extract(request.headers);
        const span = tracing.tracer.startSpan(`HTTP ${request.method}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method } }, parent);
        spans.set(request, span);
        // The rest of the request (hooks, handler) runs in the span's context.
        context.with(trace.setSpan(parent, span), done);
      });
    }
    const metrics = this.metrics;
    app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
      const route = request.routeOptions.url;
      if (metrics && reply.statusCode === 429 && route !== undefined && START_ROUTES.has(route)) {
        const name = registered((request.params as { functionName?: string }).functionName ?? '', request);
        if (name !== undefined) metrics.start(name, 'rate_limited', selectedHub(request)?.name);
      }
      const span = spans.get(request);
      if (span) {
        span.updateName(`HTTP ${request.method} ${route ?? 'unmatched'}`);
        span.setAttributes({ 'http.route': route ?? '', 'http.response.status_code': reply.statusCode });
        if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
    });
  }

  /** GET /metrics: the key is needed when one is set, unless TASKHUB_METRICS_PUBLIC=true. */
  installMetricsRoute(app: FastifyInstance, key: string | undefined, isPublic: boolean): void {
    const metrics = this.metrics;
    if (!metrics) return;
    app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
      if (key !== undefined && !isPublic && !keyMatches(key, presentedKey(request.headers, request.query as Record<string, string>))) {
        return reply.code(401).send();
      }
      const text = await metrics.text();
      return reply.type(metrics.registry.contentType).send(text);
    });
  }

  async shutdown(): Promise<void> {
    await this.tracing?.shutdown();
  }
}
