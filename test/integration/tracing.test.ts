/**
 * OpenTelemetry traces with an in-memory exporter: a start over HTTP is one trace, HTTP request →
 * start → every turn → every activity attempt, the context carried in the instance row and in each
 * activity job's data; a sub-orchestration joins its parent's trace; an incoming traceparent is
 * continued. Spans carry the instance, execution and task ids.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SamplingDecision } from '@opentelemetry/sdk-trace';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { Telemetry } from '../../src/telemetry/index.ts';
import { samplerOf } from '../../src/telemetry/tracing.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';

const BASE = '/runtime/webhooks/durabletask';

describe('traces', () => {
  const exporter = new InMemorySpanExporter();
  let hub: TestHub;

  before(async () => {
    const telemetry = new Telemetry({ metrics: false, tracing: { serviceName: 'pg-taskhub-test', exporter, immediate: true } }, createLogger('silent'));
    hub = await startTestHub({ listen: true, telemetry });
  });
  after(async () => {
    await hub?.close();
  });

  const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

  async function startOverHttp(name: string, headers: Record<string, string> = {}): Promise<string> {
    const res = await fetch(`${hub.url}${BASE}/orchestrators/${name}`, { method: 'POST', headers });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    await waitForInstance(hub, id);
    return id;
  }

  /** Spans end after their work commits: wait until the trace has all it should. */
  async function spansOf(traceId: string, enough: (spans: ReadableSpan[]) => boolean): Promise<ReadableSpan[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
      if (enough(spans)) return spans;
      if (Date.now() > deadline) throw new Error(`the trace has only: ${spans.map((s) => s.name).join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('HelloSequence: HTTP → start → turns → activities, one trace', async () => {
    const id = await startOverHttp('HelloSequence');
    const start = exporter.getFinishedSpans().find((s) => s.name === 'start HelloSequence' && s.attributes['taskhub.instance_id'] === id);
    assert.ok(start, 'a start span names the instance');
    const traceId = start.spanContext().traceId;
    // 4 turns (start, and after each of the 3 activities) and 3 activity attempts.
    const spans = await spansOf(traceId, (all) => all.filter((s) => s.name.startsWith('turn')).length >= 4 && all.filter((s) => s.name.startsWith('activity')).length >= 3);

    const http = spans.find((s) => s.name === `HTTP POST ${BASE}/orchestrators/:functionName`);
    assert.ok(http, `an HTTP span: ${spans.map((s) => s.name)}`);
    assert.equal(http.parentSpanContext, undefined, 'the request is the root');
    assert.equal(http.attributes['http.response.status_code'], 202);
    assert.equal(parentOf(start), http.spanContext().spanId, 'the start is a child of the request');

    const turns = spans.filter((s) => s.name === 'turn HelloSequence');
    assert.equal(turns.length, 4);
    for (const turn of turns) {
      assert.equal(parentOf(turn), start.spanContext().spanId, 'every turn continues the start');
      assert.equal(turn.attributes['taskhub.instance_id'], id);
      assert.equal(typeof turn.attributes['taskhub.execution_id'], 'string');
      assert.equal(turn.attributes['taskhub.outcome'], 'committed');
    }
    const activities = spans.filter((s) => s.name === 'activity SayHello');
    assert.equal(activities.length, 3);
    const turnIds = new Set(turns.map((t) => t.spanContext().spanId));
    for (const a of activities) {
      assert.ok(turnIds.has(parentOf(a) as string), 'each attempt is a child of the turn that scheduled it');
      assert.equal(a.attributes['taskhub.instance_id'], id);
      assert.equal(typeof a.attributes['taskhub.task_id'], 'number');
      assert.equal(a.attributes['taskhub.outcome'], 'completed');
      // An activity runs after the turn that scheduled it has committed.
      const turn = turns.find((t) => t.spanContext().spanId === parentOf(a)) as ReadableSpan;
      assert.ok(a.startTime[0] * 1e9 + a.startTime[1] >= turn.startTime[0] * 1e9 + turn.startTime[1]);
    }
    assert.deepEqual([...new Set(activities.map((a) => a.attributes['taskhub.task_id']))].sort(), [0, 1, 2]);
  });

  it('a sub-orchestration is part of its parent trace', async () => {
    const id = await startOverHttp('ParentOfHello');
    const start = exporter.getFinishedSpans().find((s) => s.name === 'start ParentOfHello' && s.attributes['taskhub.instance_id'] === id) as ReadableSpan;
    const spans = await spansOf(start.spanContext().traceId, (all) => all.filter((s) => s.name === 'activity SayHello').length >= 3 && all.filter((s) => s.name === 'turn ParentOfHello').length >= 2);
    const childTurns = spans.filter((s) => s.name === 'turn HelloSequence');
    assert.ok(childTurns.length >= 4, 'the child\'s turns are in the trace');
    assert.ok(childTurns.every((t) => t.attributes['taskhub.instance_id'] === `${id}:0`));
    const parentTurns = new Set(spans.filter((s) => s.name === 'turn ParentOfHello').map((s) => s.spanContext().spanId));
    assert.ok(childTurns.every((t) => parentTurns.has(parentOf(t) as string)), 'under the parent turn that started it');
  });

  it('an incoming traceparent is continued', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const id = await startOverHttp('HelloSequence', { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    const spans = await spansOf(traceId, (all) => all.filter((s) => s.name === 'activity SayHello').length >= 3);
    const http = spans.find((s) => s.name.startsWith('HTTP POST')) as ReadableSpan;
    assert.equal(parentOf(http), '00f067aa0ba902b7');
    assert.ok(spans.some((s) => s.name === 'turn HelloSequence' && s.attributes['taskhub.instance_id'] === id));
  });

  it('a conflict is recorded on the start span, and nothing more happens', async () => {
    const first = await fetch(`${hub.url}${BASE}/orchestrators/PerTenant`, { method: 'POST', body: JSON.stringify({ tenant: 't1' }), headers: { 'content-type': 'application/json' } });
    assert.equal(first.status, 202);
    const second = await fetch(`${hub.url}${BASE}/orchestrators/PerTenant`, { method: 'POST', body: JSON.stringify({ tenant: 't1' }), headers: { 'content-type': 'application/json' } });
    assert.equal(second.status, 409);
    const conflicts = exporter.getFinishedSpans().filter((s) => s.name === 'start PerTenant' && s.attributes['taskhub.outcome'] === 'conflict');
    assert.equal(conflicts.length, 1);
  });
});

describe('sampling (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG)', () => {
  const decide = (kind: Parameters<typeof samplerOf>[0], ratio: number, parentSampled?: boolean): SamplingDecision => {
    const parent =
      parentSampled === undefined
        ? ROOT_CONTEXT
        : trace.setSpanContext(ROOT_CONTEXT, { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: parentSampled ? 1 : 0, isRemote: true });
    return samplerOf(kind, ratio).shouldSample(parent, 'ffffffffffffffffffffffffffffffff', 'x', SpanKind.SERVER, {}, []).decision;
  };

  it('maps the standard values to the SDK samplers', () => {
    assert.equal(decide('always_on', 1), SamplingDecision.RECORD_AND_SAMPLED);
    assert.equal(decide('always_off', 1), SamplingDecision.NOT_RECORD);
    assert.equal(decide('traceidratio', 0), SamplingDecision.NOT_RECORD);
    assert.equal(decide('traceidratio', 1), SamplingDecision.RECORD_AND_SAMPLED);
    assert.equal(decide('parentbased_traceidratio', 0, true), SamplingDecision.RECORD_AND_SAMPLED, 'a sampled parent wins');
    assert.equal(decide('parentbased_always_on', 1, false), SamplingDecision.NOT_RECORD, 'an unsampled parent wins');
  });

  it('are read and checked with the configuration', () => {
    const c = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' });
    assert.equal(c.telemetry.otlp, true);
    assert.deepEqual(c.telemetry.sampler, { kind: 'parentbased_traceidratio', ratio: 0.25 });
    assert.equal(loadConfig({}).telemetry.otlp, false, 'no endpoint: no tracing');
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x', OTEL_SDK_DISABLED: 'true' }).telemetry.otlp, false);
    assert.equal(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x', OTEL_TRACES_EXPORTER: 'none' }).telemetry.otlp, false);
    assert.throws(() => loadConfig({ OTEL_TRACES_SAMPLER_ARG: '2' }), /OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1/);
    assert.throws(() => loadConfig({ OTEL_TRACES_SAMPLER: 'sometimes' }), /OTEL_TRACES_SAMPLER must be one of/);
  });
});
