/**
 * OpenTelemetry traces: the official SDK's TracerProvider, exporting over OTLP (http/protobuf) when
 * the standard OTEL_EXPORTER_OTLP_* variables say where, or to an exporter passed in (tests, the
 * bench). Without either there is no tracer at all and the hooks cost a branch each.
 *
 * Context crosses async code through AsyncLocalStorage (the one global the API requires for
 * context.with) and crosses the database and the queue as W3C traceparent strings.
 */
import { type Context, context, ROOT_CONTEXT, type Span, type TextMapGetter, type TextMapSetter, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  SimpleSpanProcessor,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { TraceSampler } from '../config.ts';

export interface TracingOptions {
  serviceName: string;
  /** Export to this exporter instead of OTLP. */
  exporter?: SpanExporter | undefined;
  /** Export each span as it ends (tests) instead of in batches. */
  immediate?: boolean | undefined;
  /** Register as the global tracer provider, so spans of user code (activities) join the traces. */
  global?: boolean | undefined;
  /** Which traces to keep (OTEL_TRACES_SAMPLER and _ARG; default: all, following a sampled parent). */
  sampler?: { kind: TraceSampler; ratio: number } | undefined;
}

/** The standard OTEL_TRACES_SAMPLER values as SDK samplers. */
export function samplerOf(kind: TraceSampler, ratio: number): Sampler {
  const root = kind.endsWith('always_on') ? new AlwaysOnSampler() : kind.endsWith('always_off') ? new AlwaysOffSampler() : new TraceIdRatioBasedSampler(ratio);
  return kind.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
}

const propagator = new W3CTraceContextPropagator();
const setter: TextMapSetter<Record<string, string>> = { set: (carrier, key, value) => void (carrier[key] = value) };
const getter: TextMapGetter<Record<string, string | string[] | undefined>> = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};

let contextManager: AsyncLocalStorageContextManager | undefined;

export class Tracing {
  readonly tracer: Tracer;
  private readonly provider: TracerProvider;

  constructor(options: TracingOptions) {
    const exporter = options.exporter ?? new OTLPTraceExporter();
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName }),
      sampler: samplerOf(options.sampler?.kind ?? 'parentbased_always_on', options.sampler?.ratio ?? 1),
      spanProcessors: [options.immediate ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter })],
    });
    this.tracer = this.provider.getTracer('pg-taskhub');
    if (contextManager === undefined) {
      contextManager = new AsyncLocalStorageContextManager().enable();
      context.setGlobalContextManager(contextManager);
    }
    if (options.global) trace.setGlobalTracerProvider(this.provider);
  }

  /** The traceparent of a context's span (undefined when it has none). */
  inject(ctx: Context): string | undefined {
    const carrier: Record<string, string> = {};
    propagator.inject(ctx, carrier, setter);
    return carrier.traceparent;
  }

  /** A context whose parent is the span a traceparent (or incoming headers) names; the root context otherwise. */
  extract(from: string | null | undefined | Record<string, string | string[] | undefined>): Context {
    if (!from) return ROOT_CONTEXT;
    const carrier = typeof from === 'string' ? { traceparent: from } : from;
    return propagator.extract(ROOT_CONTEXT, carrier, getter);
  }

  /** A child span of `parent` and the context holding it. */
  child(name: string, parent: Context, attributes: Record<string, string | number>): { span: Span; ctx: Context } {
    const span = this.tracer.startSpan(name, { attributes }, parent);
    return { span, ctx: trace.setSpan(parent, span) };
  }

  /** Exports what is buffered now. */
  async flush(): Promise<void> {
    await this.provider.forceFlush();
  }

  /** Flushes what is buffered and stops exporting. */
  async shutdown(): Promise<void> {
    await this.provider.shutdown();
  }
}
