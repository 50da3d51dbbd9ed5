/**
 * callHttp in replay (core/http.ts), pure: the request is the built-in activity
 * BuiltIn::HttpActivity, a 202 + Location is polled behind durable timers (Retry-After, else 30 s),
 * and every turn is the same incrementally and from scratch (crossCheck), so a worker that replays
 * the recorded history after a restart continues exactly where the last one stopped.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Orchestrator } from '../../src/orchestrator/core/context.ts';
import { Executor } from '../../src/orchestrator/core/executor.ts';
import { NonDeterminismError, type TaskFailedError } from '../../src/orchestrator/core/failures.ts';
import type { HistoryEvent } from '../../src/orchestrator/core/history.ts';
import { DEFAULT_POLL_INTERVAL_MS, type DurableHttpRequest, type DurableHttpResponse, HTTP_ACTIVITY } from '../../src/orchestrator/core/http.ts';
import { failureOf, outputOf, parse, ReplayHarness, T0 } from '../helpers/replay-harness.ts';

const submit: Orchestrator = function* (context) {
  const response = (yield context.df.callHttp({
    method: 'POST',
    url: 'http://jobs.test/jobs',
    body: { size: 3 },
    headers: { 'x-trace': ['a', 'b'], 'x-functions-key': 'secret' },
  })) as DurableHttpResponse;
  return { status: response.statusCode, content: response.content, type: response.getHeader('Content-Type') };
};

function pendingRequest(h: ReplayHarness): { taskId: number; request: DurableHttpRequest } {
  const action = h.only('ScheduleTask', HTTP_ACTIVITY);
  assert.equal(action.kind, 'ScheduleTask');
  return { taskId: action.taskId, request: parse((action as { input: string }).input) as DurableHttpRequest };
}

const accepted = (location: string, retryAfter?: string) => ({
  statusCode: 202,
  headers: { location, ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }) },
  content: '',
});

/** Drives `submit` through two polls; returns the harness. */
function runPolling(mode: 'incremental' | 'scratch'): ReplayHarness {
  const h = new ReplayHarness(submit, { mode, crossCheck: mode === 'incremental' });
  h.turn();
  const first = pendingRequest(h);
  assert.deepEqual(first.request, {
    method: 'POST',
    uri: 'http://jobs.test/jobs',
    headers: { 'x-trace': ['a', 'b'], 'x-functions-key': 'secret' },
    content: '{"size":3}',
    asynchronousPatternEnabled: true,
  });
  // 202 with Retry-After: 5 → a timer 5 s after this turn.
  const second = h.turn([h.completed(first.taskId, accepted('/jobs/7', '5'))]);
  const timer = h.only('CreateTimer');
  assert.equal((timer as { fireAt: string }).fireAt, new Date(Date.parse(second.at) + 5000).toISOString());
  assert.equal(h.all('ScheduleTask').length, 0, 'no request before the timer fires');
  h.turn([h.fired(timer.taskId)]);
  const poll = pendingRequest(h);
  // The poll: a GET of the Location (resolved against the request), the headers without the Functions key.
  assert.deepEqual(poll.request, { method: 'GET', uri: 'http://jobs.test/jobs/7', headers: { 'x-trace': ['a', 'b'] }, asynchronousPatternEnabled: true });
  // 202 without Retry-After → Durable Functions' default interval.
  const third = h.turn([h.completed(poll.taskId, accepted('http://jobs.test/jobs/7'))]);
  const timer2 = h.only('CreateTimer');
  assert.equal((timer2 as { fireAt: string }).fireAt, new Date(Date.parse(third.at) + DEFAULT_POLL_INTERVAL_MS).toISOString());
  h.turn([h.fired(timer2.taskId)]);
  const last = pendingRequest(h);
  const done = h.turn([h.completed(last.taskId, { statusCode: 200, headers: { 'content-type': 'application/json' }, content: '{"done":true}' })]);
  assert.deepEqual(outputOf(done), { status: 200, content: '{"done":true}', type: 'application/json' });
  return h;
}

describe('callHttp replay', () => {
  it('records TaskScheduled BuiltIn::HttpActivity, polls a 202 behind timers, and is the same incrementally and from scratch', () => {
    const a = runPolling('incremental');
    const b = runPolling('scratch');
    assert.deepEqual(a.history, b.history);
    const shape = a.history.filter((e) => !['OrchestratorStarted'].includes(e.type)).map((e) => (e.type === 'TaskScheduled' ? `${e.type}:${e.name}` : e.type));
    assert.deepEqual(shape, [
      'ExecutionStarted',
      `TaskScheduled:${HTTP_ACTIVITY}`,
      'TaskCompleted',
      'TimerCreated',
      'TimerFired',
      `TaskScheduled:${HTTP_ACTIVITY}`,
      'TaskCompleted',
      'TimerCreated',
      'TimerFired',
      `TaskScheduled:${HTTP_ACTIVITY}`,
      'TaskCompleted',
      'ExecutionCompleted',
    ]);
  });

  it('a restart mid-polling: a fresh executor over the recorded history schedules the same next poll', () => {
    const h = new ReplayHarness(submit, { mode: 'scratch' });
    h.turn();
    h.turn([h.completed(pendingRequest(h).taskId, accepted('/jobs/7', '1'))]);
    const recorded: HistoryEvent[] = [...h.history];
    // A new process: nothing in memory but the history.
    const executor = new Executor(submit, { instanceId: h.instanceId, name: h.name });
    executor.replay(recorded);
    const timer = h.only('CreateTimer');
    const { result } = executor.apply([{ type: 'OrchestratorStarted', timestamp: (timer as { fireAt: string }).fireAt }, h.fired(timer.taskId)]);
    assert.equal(result.actions.length, 1);
    assert.deepEqual(
      { kind: result.actions[0]?.kind, name: (result.actions[0] as { name?: string }).name, input: parse((result.actions[0] as { input?: string }).input) },
      { kind: 'ScheduleTask', name: HTTP_ACTIVITY, input: { method: 'GET', uri: 'http://jobs.test/jobs/7', headers: { 'x-trace': ['a', 'b'] }, asynchronousPatternEnabled: true } },
    );
  });

  it('a non-2xx answer is the result, not an error; enablePolling: false returns the 202 itself', () => {
    const fn: Orchestrator = function* (context) {
      const a = (yield context.df.callHttp({ method: 'GET', url: 'https://x.test/missing' })) as DurableHttpResponse;
      const b = (yield context.df.callHttp({ method: 'GET', url: 'https://x.test/slow', enablePolling: false })) as DurableHttpResponse;
      const c = (yield context.df.callHttp({ method: 'GET', url: 'https://x.test/slow', asynchronousPatternEnabled: false, enablePolling: true })) as DurableHttpResponse;
      return [a.statusCode, b.statusCode, b.getHeader('LOCATION'), c.statusCode];
    };
    const h = new ReplayHarness(fn, { crossCheck: true });
    h.turn();
    h.turn([h.completed(pendingRequest(h).taskId, { statusCode: 404, headers: {}, content: 'no' })]);
    const b = pendingRequest(h);
    assert.equal(b.request.asynchronousPatternEnabled, false);
    h.turn([h.completed(b.taskId, accepted('/status/1', '1'))]);
    const c = pendingRequest(h);
    assert.equal(c.request.asynchronousPatternEnabled, true, 'enablePolling wins over asynchronousPatternEnabled, as in v3');
    const done = h.turn([h.completed(c.taskId, { statusCode: 500, headers: {}, content: '' })]);
    assert.deepEqual(outputOf(done), [404, 202, '/status/1', 500]);
  });

  it('a failed request fails the task: the orchestrator catches it as a TaskFailedError naming the built-in activity', () => {
    const fn: Orchestrator = function* (context) {
      try {
        yield context.df.callHttp({ method: 'GET', url: 'http://down.test/' });
        return 'unexpected';
      } catch (err) {
        return { name: (err as Error).name, type: (err as TaskFailedError).failure.type, message: (err as Error).message };
      }
    };
    const h = new ReplayHarness(fn, { crossCheck: true });
    h.turn();
    const done = h.turn([h.failed(pendingRequest(h).taskId, { type: 'HttpRequestError', message: 'GET http://down.test/ failed: connect ECONNREFUSED' })]);
    assert.deepEqual(outputOf(done), {
      name: 'TaskFailedError',
      type: 'HttpRequestError',
      message: `Activity function '${HTTP_ACTIVITY}' failed: GET http://down.test/ failed: connect ECONNREFUSED`,
    });
  });

  it('timeout: each request gets what is left, and a poll that would pass it fails the task with TimeoutError', () => {
    const fn: Orchestrator = function* (context) {
      try {
        yield context.df.callHttp({ method: 'GET', url: 'http://jobs.test/j', timeout: 10_000 });
        return 'unexpected';
      } catch (err) {
        return (err as TaskFailedError).failure.type + ': ' + (err as TaskFailedError).failure.message;
      }
    };
    const h = new ReplayHarness(fn, { crossCheck: true, stepMs: 1000 });
    h.turn();
    assert.equal(pendingRequest(h).request.timeout, 10_000);
    // At T0+1s: Retry-After 3 → poll at T0+4s with 6 s left.
    h.turn([h.completed(pendingRequest(h).taskId, accepted('/j/1', '3'))]);
    h.turn([h.fired(h.only('CreateTimer').taskId)]);
    assert.equal(pendingRequest(h).request.timeout, 6000);
    // At T0+5s: Retry-After 30 → past the deadline (T0+10s).
    const done = h.turn([h.completed(pendingRequest(h).taskId, accepted('/j/1', '30'))]);
    assert.match(String(outputOf(done)), /^TimeoutError: GET http:\/\/jobs\.test\/j was still 202 Accepted after 2 requests; the next poll would pass the timeout of 10000 ms$/);
    assert.equal(h.all('CreateTimer').length, 0);
  });

  it('Retry-After as an HTTP date waits until that date', () => {
    const fn: Orchestrator = function* (context) {
      return ((yield context.df.callHttp({ method: 'GET', url: 'http://jobs.test/j' })) as DurableHttpResponse).statusCode;
    };
    const h = new ReplayHarness(fn, { start: T0 });
    h.turn();
    const at = new Date(Date.parse(T0) + 61_000).toUTCString();
    h.turn([h.completed(pendingRequest(h).taskId, accepted('/j', at))]);
    assert.equal((h.only('CreateTimer') as { fireAt: string }).fireAt, new Date(Date.parse(at)).toISOString());
  });

  it('a Retry-After no durable timer can hold fails the task (InvalidRetryAfter), not the turn', () => {
    const fn: Orchestrator = function* (context) {
      try {
        yield context.df.callHttp({ method: 'GET', url: 'http://jobs.test/j' });
        return 'unexpected';
      } catch (err) {
        return (err as TaskFailedError).failure.type;
      }
    };
    const h = new ReplayHarness(fn, { crossCheck: true });
    h.turn();
    const done = h.turn([h.completed(pendingRequest(h).taskId, accepted('/j', '999999999999'))]);
    assert.equal(outputOf(done), 'InvalidRetryAfter');
    const h2 = new ReplayHarness(fn);
    h2.turn();
    assert.equal(outputOf(h2.turn([h2.completed(pendingRequest(h2).taskId, accepted('/j', '9'.repeat(30)))])), 'InvalidRetryAfter', 'past what a Date holds');
  });

  it('bad options throw into the orchestrator at the call: not http(s), no method, bad headers', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ method: 'GET', url: 'ftp://files.test/a' }, /callHttp: url must use http:\/\/ or https:\/\//],
      [{ method: 'GET', url: '/relative' }, /callHttp: url must be an absolute http:\/\/ or https:\/\/ URL/],
      [{ method: 'GET /x', url: 'http://a.test' }, /callHttp: method must be an HTTP method/],
      [{ method: 'GET', url: 'http://a.test', headers: { 'x-n': 5 } }, /header 'x-n' must be a string or an array of strings/],
      [{ method: 'GET', url: 'http://a.test', timeout: -1 }, /timeout must be a positive number of milliseconds/],
    ];
    for (const [options, message] of cases) {
      const fn: Orchestrator = function* (context) {
        yield context.df.callHttp(options as never);
      };
      const h = new ReplayHarness(fn);
      const failure = failureOf(h.turn());
      assert.equal(failure.type, 'TypeError');
      assert.match(failure.message, message);
    }
  });

  it('code changed under a running instance: an activity where history has the HTTP request is a non-determinism error', () => {
    const h = new ReplayHarness(submit);
    h.turn();
    const changed: Orchestrator = function* (context) {
      yield context.df.callActivity('Submit', {});
    };
    const executor = new Executor(changed, { instanceId: h.instanceId, name: h.name });
    assert.throws(() => executor.replay(h.history), (err: unknown) => {
      assert.ok(err instanceof NonDeterminismError);
      assert.match(err.message, /task 0 was activity 'BuiltIn::HttpActivity' in history, but the code now schedules activity 'Submit'/);
      return true;
    });
  });

  it('a request over TASKHUB_MAX_PAYLOAD_BYTES fails the execution at the call, naming the limit', () => {
    const fn: Orchestrator = function* (context) {
      yield context.df.callHttp({ method: 'POST', url: 'http://a.test', body: 'x'.repeat(5000) });
    };
    const executor = new Executor(fn, { instanceId: 'i', name: 'Big' }, { maxPendingTasks: 100, maxHistoryEvents: 1000, maxPayloadBytes: 2048 });
    const { result } = executor.apply([
      { type: 'OrchestratorStarted', timestamp: T0 },
      { type: 'ExecutionStarted', name: 'Big', timestamp: T0 },
    ]);
    assert.equal(result.completion?.status, 'Failed');
    const failure = (result.completion as { failure: { type: string; message: string } }).failure;
    assert.equal(failure.type, 'PayloadLimitExceeded');
    assert.match(failure.message, /the callHttp request \(the input of BuiltIn::HttpActivity\) is \d+ bytes of JSON, over the limit of 2048 \(TASKHUB_MAX_PAYLOAD_BYTES\)/);
  });
});
