/**
 * Events keep their arrival order: across continue-as-new whatever the batch sizes (more events
 * queued than one turn reads), and when a delivery commits while a turn's transaction is already
 * open (its deliver_at, the delivery's transaction start, is later than the turn's now()). Shown
 * timers are never fired before they were created. A timer the database cannot store fails the
 * instance at once, with a failure that says so.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { App } from '../../src/app.ts';
import { registerExamples } from '../../src/examples/index.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { deliver, receive } from '../../src/orchestrator/store/inbox.ts';
import { lockInstance } from '../../src/orchestrator/store/instances.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';
import { BASE, body, buildHttpApp, uid } from '../http/support.ts';

function registry(): Registry {
  return registerExamples(new Registry(), { pool: undefined }, { dataIngestSchedule: null })
    .orchestration('CarryOver', function* (context) {
      const input = context.df.getInput<{ generation: number; count: number }>();
      if (input.generation === 0) {
        yield context.df.waitForExternalEvent('Go');
        // continueAsNew before the loop that reads the events: every queued E is carried over.
        context.df.continueAsNew({ generation: 1, count: input.count });
        return null;
      }
      const seen: number[] = [];
      for (let i = 0; i < input.count; i++) seen.push((yield context.df.waitForExternalEvent<number>('E')) as number);
      return seen;
    })
    .orchestration('ShortTimer', function* (context) {
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 300));
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() - 3_600_000));
      return 'done';
    });
}

describe('event order and timers', () => {
  let hub: TestHub;
  let api: TestHub;
  let app: App;
  before(async () => {
    hub = await startTestHub({ registry: registry() });
    // A hub that runs no turns (role api), on the same database: the store-level race below
    // drives the inbox itself.
    api = await startTestHub({ registry: registry(), db: hub.db, env: { TASKHUB_ROLE: 'api' } });
    app = await buildHttpApp(hub);
  });
  after(async () => {
    await app?.close();
    await api?.close();
    await hub?.close();
  });

  it('continue-as-new carries 2,100 queued events over in arrival order (more than one turn reads)', async () => {
    const id = uid('carry');
    const count = 2100;
    await hub.client.start({ name: 'CarryOver', instanceId: id, input: JSON.stringify({ generation: 0, count }) });
    await waitForInstance(hub, id, (r) => r.runtimeStatus === 'Running' && r.historyLength > 0);
    await hub.client.suspend(id, 'queue events');
    await hub.client.raiseEvent(id, 'Go', 'true');
    for (let i = 0; i < count; i++) await hub.client.raiseEvent(id, 'E', String(i));
    await hub.client.resume(id, 'go');
    const row = await waitForInstance(hub, id, undefined, 120_000);
    assert.equal(row.runtimeStatus, 'Completed', row.output ?? '');
    const seen = JSON.parse(row.output as string) as number[];
    assert.equal(seen.length, count);
    const firstOutOfOrder = seen.findIndex((v, i) => v !== i);
    assert.equal(firstOutOfOrder, -1, `out of order from index ${firstOutOfOrder}: ${seen.slice(Math.max(0, firstOutOfOrder - 2), firstOutOfOrder + 5)}`);
  });

  it('a turn that began before a delivery committed still reads the events in arrival order', async () => {
    const id = uid('race');
    await api.client.start({ name: 'CarryOver', instanceId: id, input: JSON.stringify({ generation: 1, count: 2 }) });
    const connect = async (): Promise<pg.Client> => {
      const c = new pg.Client({ connectionString: hub.db.url });
      await c.connect();
      await c.query(`SET search_path TO taskhub`);
      return c;
    };
    const [turn, early, late] = [await connect(), await connect(), await connect()];
    try {
      // "early" opens its transaction first (its now() is the oldest), the turn's opens next.
      await early.query('BEGIN');
      await early.query('SELECT now()');
      await turn.query('BEGIN');
      await turn.query('SELECT now()');
      // A delivery whose transaction starts after the turn's commits first (lower arrival, but a
      // deliver_at later than the turn's now()); then the older transaction delivers and commits
      // (higher arrival, deliver_at earlier than the turn's now()). The store's own verbs throughout.
      const event = (payload: string) => ({
        instanceId: id,
        executionId: undefined,
        messageId: `event:${payload}`,
        event: { type: 'EventRaised' as const, name: 'E', timestamp: new Date().toISOString(), payload },
      });
      await deliver(late, [event('0')]);
      await deliver(early, [event('1')]);
      await early.query('COMMIT');
      assert.ok(await lockInstance(turn, id));
      const messages = await receive(turn, id, 10);
      await turn.query('COMMIT');
      assert.deepEqual(
        messages.map((m) => m.event.payload),
        ['0', '1'],
        'both committed events, in arrival order (before the fix: only the later one)',
      );
    } finally {
      await Promise.all([turn.end(), early.end(), late.end()]);
    }
  });

  it('a shown TimerFired is never earlier than its TimerCreated or its FireAt', async () => {
    const id = uid('timer');
    await hub.client.start({ name: 'ShortTimer', instanceId: id, input: undefined });
    await waitForInstance(hub, id);
    const res = await app.inject({ method: 'GET', url: `${BASE}/instances/${id}?showHistory=true` });
    const events = body<{ historyEvents: Array<{ EventType: string; Timestamp: string; FireAt?: string }> }>(res).historyEvents;
    const fired = events.filter((e) => e.EventType === 'TimerFired');
    assert.equal(fired.length, 2);
    for (const f of fired) {
      const created = events.find((e) => e.EventType === 'TimerCreated' && e.FireAt === f.FireAt);
      assert.ok(created, JSON.stringify(events));
      assert.ok(Date.parse(f.Timestamp) >= Date.parse(created.Timestamp), `fired ${f.Timestamp} before created ${created.Timestamp}`);
      assert.ok(Date.parse(f.Timestamp) >= Date.parse(f.FireAt as string), `fired ${f.Timestamp} before its FireAt ${f.FireAt}`);
    }
  });

  it('a timer the database cannot store fails the instance at once, naming the date and the range', async () => {
    for (const timeoutSeconds of [8e12, -7e10]) {
      const id = uid('far');
      await hub.client.start({ name: 'Approval', instanceId: id, input: JSON.stringify({ timeoutSeconds }) });
      const row = await waitForInstance(hub, id, undefined, 20_000);
      assert.equal(row.runtimeStatus, 'Failed');
      assert.equal(row.failure?.type, 'TimerOutOfRange', JSON.stringify(row.failure));
      const fireAt = new Date(row.createdAt.getTime() + timeoutSeconds * 1000).toISOString().slice(0, 7);
      assert.ok(row.failure?.message.includes(fireAt), row.failure?.message);
      assert.match(row.failure?.message ?? '', /0001-01-01T00:00:00\.000Z.*9999-12-31T23:59:59\.999Z/);
      const { rows } = await hub.pool.query(`SELECT count(*)::int AS n FROM history WHERE instance_id = $1 AND event_type = 'OrchestratorStarted'`, [id]);
      assert.equal(rows[0].n, 1, 'failed in its first turn, not after retries');
    }
  });
});
