/** The pure modules of the control plane: payloads, history view, query parsing, tokens, keys. No database. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/routes/api-error.ts';
import type { HistoryEvent } from '../../src/orchestrator/core/history.ts';
import type { Instance } from '../../src/orchestrator/core/instance.ts';
import { keyMatches, presentedKey } from '../../src/routes/auth.ts';
import { decodeToken, encodeToken } from '../../src/routes/continuation.ts';
import { historyView } from '../../src/routes/history-view.ts';
import { jsonText, RawJson, writeJson } from '../../src/routes/json.ts';
import { managementPayload } from '../../src/routes/management-payload.ts';
import { canonicalQuery, parseBool, parseDate, parseStatuses } from '../../src/routes/query.ts';
import { statusCode, statusJson, wholeSeconds } from '../../src/routes/status-payload.ts';

const T0 = '2024-05-01T10:00:00.123Z';
const T1 = '2024-05-01T10:00:01.456Z';
const T2 = '2024-05-01T10:00:02.789Z';

function row(overrides: Partial<Instance> = {}): Instance {
  return {
    instanceId: 'abc',
    name: 'HelloSequence',
    executionId: '00000000-0000-0000-0000-000000000000',
    runtimeStatus: 'Completed',
    input: null,
    output: null,
    customStatus: null,
    failure: null,
    singletonKey: null,
    parentInstanceId: null,
    parentExecutionId: null,
    parentTaskId: null,
    createdAt: new Date('2019-01-30T23:09:20.987Z'),
    updatedAt: new Date('2019-01-30T23:10:25.001Z'),
    completedAt: null,
    historyLength: 0,
    turnAttempts: 0,
    leaseOwner: null,
    traceContext: null,
    ...overrides,
  };
}

const failure = { type: 'Error', message: 'boom', details: 'Error: boom\n    at fn (file:///srv/app.ts:1:1)' };

const HISTORY: HistoryEvent[] = [
  { type: 'OrchestratorStarted', timestamp: T0 },
  { type: 'ExecutionStarted', name: 'Flow', timestamp: T0, payload: '{"n":1}' },
  { type: 'TaskScheduled', taskId: 0, name: 'SayHello', jobId: 'j0', timestamp: T0, payload: '"Tokyo"' },
  { type: 'TaskScheduled', taskId: 1, name: 'Fails', jobId: 'j1', timestamp: T0, payload: '2' },
  { type: 'TimerCreated', taskId: 2, fireAt: T2, timestamp: T0 },
  { type: 'SubOrchestrationInstanceCreated', taskId: 3, name: 'Child', instanceId: 'abc:3', timestamp: T0, payload: 'null' },
  { type: 'TaskScheduled', taskId: 4, name: 'Pending', jobId: 'j4', timestamp: T0, payload: '"later"' },
  { type: 'OrchestratorStarted', timestamp: T1 },
  { type: 'TaskCompleted', taskId: 0, timestamp: T1, payload: '"Hello Tokyo!"' },
  { type: 'TaskFailed', taskId: 1, timestamp: T1, failure },
  { type: 'TimerFired', taskId: 2, fireAt: T2, timestamp: T2 },
  { type: 'SubOrchestrationInstanceCompleted', taskId: 3, timestamp: T2, payload: '{"child":true}' },
  { type: 'EventRaised', name: 'Approval', timestamp: T2, payload: 'true' },
  { type: 'ExecutionSuspended', reason: 'pause', timestamp: T2 },
  { type: 'ExecutionResumed', timestamp: T2 },
  { type: 'ExecutionCompleted', status: 'Failed', failure, timestamp: T2 },
];

describe('history view', () => {
  const view = historyView(HISTORY, { showInput: true, showOutput: false, showDetails: false });

  it('leaves out OrchestratorStarted and shows each completed task once, in its completion row', () => {
    assert.deepEqual(
      view.map((e) => e.EventType),
      [
        'ExecutionStarted',
        'TimerCreated',
        'TaskScheduled',
        'TaskCompleted',
        'TaskFailed',
        'TimerFired',
        'SubOrchestrationInstanceCompleted',
        'EventRaised',
        'ExecutionSuspended',
        'ExecutionResumed',
        'ExecutionCompleted',
      ],
    );
    const completed = JSON.parse(writeJson(view[3]));
    assert.deepEqual(completed, {
      EventType: 'TaskCompleted',
      Timestamp: T1,
      FunctionName: 'SayHello',
      ScheduledTime: T0,
      Input: 'Tokyo',
    });
  });

  it('keeps a task that has not completed as TaskScheduled (Name, as Durable Functions shows it)', () => {
    assert.deepEqual(JSON.parse(writeJson(view[2])), {
      EventType: 'TaskScheduled',
      Timestamp: T0,
      Name: 'Pending',
      FunctionName: 'Pending',
      Input: 'later',
    });
  });

  it('writes the per-type fields with PascalCase keys', () => {
    const byType = Object.fromEntries(view.map((e) => [e.EventType, JSON.parse(writeJson(e))]));
    assert.deepEqual(byType.ExecutionStarted, { EventType: 'ExecutionStarted', Timestamp: T0, FunctionName: 'Flow', Input: { n: 1 } });
    assert.deepEqual(byType.TimerCreated, { EventType: 'TimerCreated', Timestamp: T0, FireAt: T2 });
    assert.deepEqual(byType.TimerFired, { EventType: 'TimerFired', Timestamp: T2, FireAt: T2 });
    assert.deepEqual(byType.TaskFailed, {
      EventType: 'TaskFailed',
      Timestamp: T1,
      FunctionName: 'Fails',
      ScheduledTime: T0,
      Input: 2,
      Reason: 'boom',
    });
    assert.deepEqual(byType.SubOrchestrationInstanceCompleted, {
      EventType: 'SubOrchestrationInstanceCompleted',
      Timestamp: T2,
      FunctionName: 'Child',
      ScheduledTime: T0,
      InstanceId: 'abc:3',
      Input: null,
    });
    assert.deepEqual(byType.EventRaised, { EventType: 'EventRaised', Timestamp: T2, Name: 'Approval', Input: true });
    assert.deepEqual(byType.ExecutionSuspended, { EventType: 'ExecutionSuspended', Timestamp: T2, Reason: 'pause' });
    assert.deepEqual(byType.ExecutionResumed, { EventType: 'ExecutionResumed', Timestamp: T2, Reason: null });
    assert.deepEqual(byType.ExecutionCompleted, {
      EventType: 'ExecutionCompleted',
      Timestamp: T2,
      OrchestrationStatus: 'Failed',
      FailureDetails: { ErrorType: 'Error', ErrorMessage: 'boom' },
    });
  });

  it('adds Result (and failure details) only with showHistoryOutput', () => {
    const withOutput = historyView(HISTORY, { showInput: true, showOutput: true, showDetails: true }).map((e) => JSON.parse(writeJson(e)));
    const completed = withOutput.find((e) => e.EventType === 'TaskCompleted');
    assert.equal(completed.Result, 'Hello Tokyo!');
    assert.deepEqual(withOutput.find((e) => e.EventType === 'SubOrchestrationInstanceCompleted').Result, { child: true });
    assert.equal(withOutput.find((e) => e.EventType === 'TaskFailed').Details, failure.details);
    assert.equal(withOutput.find((e) => e.EventType === 'ExecutionCompleted').FailureDetails.StackTrace, failure.details);
    const text = writeJson(view);
    assert.doesNotMatch(text, /"Result"|"Details"|"StackTrace"|file:/);
  });

  it('drops every Input with showInput=false', () => {
    const text = writeJson(historyView(HISTORY, { showInput: false, showOutput: true, showDetails: false }));
    assert.doesNotMatch(text, /"Input"/);
    assert.match(text, /"Result":"Hello Tokyo!"/);
  });

  it('shows a termination reason as the Input of ExecutionTerminated', () => {
    const [terminated] = historyView([{ type: 'ExecutionTerminated', reason: 'enough', timestamp: T1 }], {
      showInput: true,
      showOutput: false,
      showDetails: false,
    });
    assert.deepEqual(terminated, { EventType: 'ExecutionTerminated', Timestamp: T1, Input: 'enough' });
  });
});

describe('status payload', () => {
  it('has the Durable Functions fields in order, null when unset, times in whole seconds with Z', () => {
    const text = statusJson(row(), { showInput: true });
    assert.equal(
      text,
      '{"name":"HelloSequence","instanceId":"abc","runtimeStatus":"Completed","input":null,"customStatus":null,"output":null,' +
        '"createdTime":"2019-01-30T23:09:20Z","lastUpdatedTime":"2019-01-30T23:10:25Z"}',
    );
  });

  it('writes stored JSON verbatim: no lost digits, no reordered keys', () => {
    const input = '{"b":1,"2":0,"big":12345678901234567890}';
    const text = statusJson(row({ input, output: '[1.0e+2]', customStatus: '"half"' }), { showInput: true });
    assert.ok(text.includes(`"input":${input}`));
    assert.ok(text.includes('"output":[1.0e+2]'));
    assert.ok(text.includes('"customStatus":"half"'));
    assert.doesNotThrow(() => JSON.parse(text));
  });

  it('has input null with showInput=false, and historyEvents last when asked for', () => {
    const parsed = JSON.parse(statusJson(row({ input: '{"secret":1}' }), { showInput: false, history: HISTORY }));
    assert.equal(parsed.input, null);
    assert.deepEqual(Object.keys(parsed), [
      'name',
      'instanceId',
      'runtimeStatus',
      'input',
      'customStatus',
      'output',
      'createdTime',
      'lastUpdatedTime',
      'historyEvents',
    ]);
    assert.doesNotMatch(JSON.stringify(parsed.historyEvents), /"Input"/);
  });

  it('maps runtime statuses to 200, 202 and 500', () => {
    for (const s of ['Pending', 'Running', 'ContinuedAsNew', 'Suspended'] as const) assert.equal(statusCode(s, true), 202);
    for (const s of ['Completed', 'Terminated', 'Canceled'] as const) assert.equal(statusCode(s, true), 200);
    assert.equal(statusCode('Failed', false), 200);
    assert.equal(statusCode('Failed', true), 500);
  });

  it('cuts times to whole seconds', () => {
    assert.equal(wholeSeconds(new Date('2024-02-29T23:59:59.999Z')), '2024-02-29T23:59:59Z');
  });
});

describe('management payload', () => {
  it('builds the nine URIs from the origin, with taskHub, connection and (when set) the code', () => {
    const p = managementPayload({ origin: 'https://example.test:8443', hubName: 'MyHub', key: undefined }, 'ab12');
    const instance = 'https://example.test:8443/runtime/webhooks/durabletask/instances/ab12';
    const s = 'taskHub=MyHub&connection=Storage';
    assert.deepEqual(p, {
      id: 'ab12',
      statusQueryGetUri: `${instance}?${s}`,
      sendEventPostUri: `${instance}/raiseEvent/{eventName}?${s}`,
      terminatePostUri: `${instance}/terminate?reason={text}&${s}`,
      rewindPostUri: `${instance}/rewind?reason={text}&${s}`,
      purgeHistoryDeleteUri: `${instance}?${s}`,
      restartPostUri: `${instance}/restart?${s}`,
      suspendPostUri: `${instance}/suspend?reason={text}&${s}`,
      resumePostUri: `${instance}/resume?reason={text}&${s}`,
    });
  });

  it('URL-encodes the instance ID and the key', () => {
    const p = managementPayload({ origin: 'http://h', hubName: 'Hub', key: 'k&y=+/' }, 'order 42+x');
    assert.equal(p.id, 'order 42+x');
    assert.equal(p.statusQueryGetUri, 'http://h/runtime/webhooks/durabletask/instances/order%2042%2Bx?taskHub=Hub&connection=Storage&code=k%26y%3D%2B%2F');
    for (const uri of Object.values(p).slice(1)) assert.ok(uri.endsWith('&code=k%26y%3D%2B%2F'), uri);
  });
});

describe('query parameters', () => {
  it('renames keys to their canonical case and merges repeats', () => {
    const q = canonicalQuery({ SHOWHISTORY: 'true', runtimestatus: 'Running', RuntimeStatus: ['Failed', '5'], other: 'x' });
    assert.deepEqual(q, { showHistory: 'true', runtimeStatus: ['Running', 'Failed', '5'], other: 'x' });
  });

  it('cannot be made to touch a prototype', () => {
    const q = canonicalQuery(JSON.parse('{"__proto__":"x","top":"1"}'));
    assert.equal(Object.getPrototypeOf(q), Object.prototype);
    assert.equal(q.top, '1');
  });

  it('reads booleans leniently', () => {
    assert.equal(parseBool('TRUE', false), true);
    assert.equal(parseBool('False', true), false);
    assert.equal(parseBool('yes', false), false);
    assert.equal(parseBool('1', true), true);
    assert.equal(parseBool(undefined, true), true);
  });

  it('reads runtimeStatus lists: commas, repeats, names in any case, codes; an unknown token is a 400 naming it', () => {
    assert.deepEqual(parseStatuses(['running,Completed', '3', ' SUSPENDED ']), ['Running', 'Completed', 'Failed', 'Suspended']);
    assert.deepEqual(parseStatuses('6'), ['Pending']);
    assert.equal(parseStatuses(',,'), undefined);
    assert.equal(parseStatuses(undefined), undefined);
    for (const [value, token] of [['bogus,,', 'bogus'], [['Running', '99'], '99'], ['Complted', 'Complted'], ['1.0', '1.0']] as const) {
      assert.throws(() => parseStatuses(value), (err: Error & { status?: number }) => err.status === 400 && err.message.includes(`'${token}'`));
    }
  });

  it('reads ISO 8601 dates, with or without an offset', () => {
    assert.equal(parseDate('d', '2024-05-01T12:00:00Z')?.toISOString(), '2024-05-01T12:00:00.000Z');
    assert.equal(parseDate('d', '2024-05-01T12:00:00.123456Z')?.toISOString(), '2024-05-01T12:00:00.123Z');
    assert.equal(parseDate('d', '2024-05-01T12:00:00')?.toISOString(), '2024-05-01T12:00:00.000Z');
    assert.equal(parseDate('d', '2024-05-01')?.toISOString(), '2024-05-01T00:00:00.000Z');
    assert.equal(parseDate('d', '2024-05-01T12:00:00+02:00')?.toISOString(), '2024-05-01T10:00:00.000Z');
    assert.equal(parseDate('d', '2024-05-01T12:00:00 02:00')?.toISOString(), '2024-05-01T10:00:00.000Z', 'an unencoded +');
    assert.equal(parseDate('d', '2024-05-01T12:00:00-0130')?.toISOString(), '2024-05-01T13:30:00.000Z');
    assert.equal(parseDate('d', ''), undefined);
    assert.equal(parseDate('d', undefined), undefined);
  });

  it('rejects what is not a real date with a 400', () => {
    for (const bad of ['yesterday', '2024-02-30', '2023-02-29T00:00:00Z', '2024-13-01', '2024-05-01T24:00:00Z', '0000-01-01', '1', '2024-05-01T12:00:00+25:00', "2024-01-01'; DROP TABLE x"]) {
      assert.throws(
        () => parseDate('createdTimeFrom', bad),
        (err: unknown) => err instanceof ApiError && err.status === 400 && err.message.includes('createdTimeFrom'),
        bad,
      );
    }
  });
});

describe('continuation tokens', () => {
  const cursor = { createdAt: '2024-05-01T10:00:00.123456Z', instanceId: 'a b/c' };

  it('round-trip, URL-safe', () => {
    const token = encodeToken(cursor);
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeToken(token), cursor);
  });

  it('absent or empty means the first page', () => {
    assert.equal(decodeToken(undefined), undefined);
    assert.equal(decodeToken('  '), undefined);
  });

  it('a forged or corrupt token is a 400', () => {
    const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    const forged = [
      'not a token!',
      'AAAA',
      enc('just a string'),
      enc({ v: 2, c: cursor.createdAt, i: 'x' }),
      enc({ v: 1, c: '2024-02-30T10:00:00.000000Z', i: 'x' }),
      enc({ v: 1, c: '0000-01-01T00:00:00.000000Z', i: 'x' }),
      enc({ v: 1, c: "2024-05-01'; DROP TABLE instances; --", i: 'x' }),
      enc({ v: 1, c: cursor.createdAt, i: '' }),
      enc({ v: 1, c: cursor.createdAt, i: 'x'.repeat(257) }),
      enc({ v: 1, c: cursor.createdAt, i: 'a\u0000b' }),
      enc({ v: 1, c: cursor.createdAt, i: 7 }),
      encodeToken(cursor).slice(0, -3),
      'A'.repeat(5000),
    ];
    for (const token of forged) {
      assert.throws(() => decodeToken(token), (err: unknown) => err instanceof ApiError && err.code === 'INVALID_CONTINUATION_TOKEN', token);
    }
  });
});

describe('system key', () => {
  it('takes the header over the code parameter, even when the header is wrong', () => {
    assert.equal(presentedKey({ 'x-functions-key': 'h' }, { code: 'q' }), 'h');
    assert.equal(presentedKey({}, { code: 'q' }), 'q');
    assert.equal(presentedKey({}, {}), undefined);
  });

  it('matches only the exact key', () => {
    assert.equal(keyMatches('secret', 'secret'), true);
    assert.equal(keyMatches('secret', 'Secret'), false);
    assert.equal(keyMatches('secret', 'secret '), false);
    assert.equal(keyMatches('secret', ''), false);
    assert.equal(keyMatches('secret', undefined), false);
  });
});

describe('JSON bodies and writer', () => {
  it('reads a body as JSON text', () => {
    assert.equal(jsonText(undefined), undefined);
    assert.equal(jsonText(''), undefined);
    assert.equal(jsonText('  \n'), undefined);
    assert.equal(jsonText('""'), '""');
    assert.equal(jsonText(' {"a":1}\n'), '{"a":1}');
    assert.equal(jsonText('nope'), null);
    assert.equal(jsonText('{"a":'), null);
  });

  it('splices raw JSON and leaves out undefined members', () => {
    assert.equal(writeJson({ a: new RawJson('[1, 2]'), b: undefined, c: [undefined, 'x'], d: null }), '{"a":[1, 2],"c":[null,"x"],"d":null}');
  });
});
