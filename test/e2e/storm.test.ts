/**
 * The single-instance promise over HTTP: 200 concurrent starts of DataIngest spread over two server
 * processes on one database, 20 rounds (terminating between rounds). Every round: exactly one 202,
 * the rest 409 pointing at the winner, never two active rows, zero 5xx. Then the same with an
 * explicit instance id, and with onConflict=useExisting (everyone gets the same instance).
 * Each run loads 2,000 sources so that it outlasts the storm: a second 202 after the first run
 * *completed* would be correct, and is not what this test is about.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { type JsonAnswer, postJson, type ServerProcess, spawnServer, waitForOutput } from '../helpers/process.ts';

const ROUNDS = Number(process.env.STORM_ROUNDS ?? 20);
const CALLERS = 200;
const BASE = '/runtime/webhooks/durabletask';

let db: TestDatabase;
let sql: pg.Pool;
const servers: ServerProcess[] = [];
const urls: string[] = [];

before(async () => {
  db = await createTestDatabase();
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  sql.on('error', () => undefined); // the database is dropped with FORCE at the end
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const proc = spawnServer({
      DATABASE_URL: db.url,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      TASKHUB_SCHEDULES: 'false',
      TASKHUB_PG_POOL_MAX: '20',
      // The first process serves and works; the second only serves, as a second API node would.
      TASKHUB_ROLE: i === 0 ? 'all' : 'api',
    });
    servers.push(proc);
    urls.push(`http://127.0.0.1:${port}`);
  }
  for (const [i, url] of urls.entries()) {
    for (let n = 0; n < 300; n++) {
      const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (servers[i]?.child.exitCode !== null) await waitForOutput(servers[i] as ServerProcess, /never/, 1);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  await Promise.all(servers.map((s) => s.kill('SIGTERM')));
  await sql?.end();
  await db?.drop();
});

type Answer = JsonAnswer;
const post = postJson;

async function activeCount(): Promise<number> {
  const { rows } = await sql.query(
    `SELECT count(*)::int AS n FROM taskhub.instances WHERE name = 'DataIngest'
     AND runtime_status IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended')`,
  );
  return rows[0].n;
}

async function storm(path: string): Promise<Answer[]> {
  return Promise.all(Array.from({ length: CALLERS }, (_, i) => post(`${urls[i % 2]}${BASE}${path}`, { sources: 2000 })));
}

async function terminate(id: string): Promise<void> {
  const res = await fetch(`${urls[0]}${BASE}/instances/${encodeURIComponent(id)}/terminate?reason=next%20round`, { method: 'POST' });
  assert.ok(res.status === 202 || res.status === 410, `terminate answered ${res.status}`);
  await res.arrayBuffer();
}

describe('start storm over two API processes', () => {
  it(`${ROUNDS} rounds of ${CALLERS} concurrent starts: one 202, the rest 409 naming the winner`, async () => {
    let maxActive = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const answers = await storm('/orchestrators/DataIngest');
      const accepted = answers.filter((a) => a.status === 202);
      const conflicts = answers.filter((a) => a.status === 409);
      const failures = answers.filter((a) => a.status >= 500);
      if (failures.length > 0) {
        const logs = servers.map((s) => s.output().split('\n').filter((l) => /"level":(50|60)/.test(l)).slice(-3).join('\n'));
        assert.fail(`${failures.length} 5xx, e.g. ${failures[0]?.status} ${JSON.stringify(failures[0]?.body)}\n${logs.join('\n')}`);
      }
      assert.equal(accepted.length, 1, `round ${round}: exactly one 202 (got ${accepted.length})`);
      assert.equal(conflicts.length, CALLERS - 1, `round ${round}: the rest 409`);
      const winner = accepted[0]?.body.id as string;
      for (const c of conflicts) {
        assert.equal(c.body.instanceId, winner);
        assert.equal(typeof c.body.Message, 'string');
        assert.equal(c.body.code, 'SINGLETON_ACTIVE');
        assert.match(String(c.body.statusQueryGetUri), new RegExp(`/instances/${winner}\\?`));
        assert.match(String(c.location), new RegExp(`/instances/${winner}`));
      }
      maxActive = Math.max(maxActive, await activeCount());
      await terminate(winner);
    }
    assert.equal(maxActive, 1, 'never two active rows');
  });

  it('with an explicit instance id: one 202, the rest 409', async () => {
    for (let round = 0; round < Math.min(ROUNDS, 5); round++) {
      const answers = await storm(`/orchestrators/DataIngest/ingest-round-${round}`);
      assert.equal(answers.filter((a) => a.status >= 500).length, 0);
      const accepted = answers.filter((a) => a.status === 202);
      assert.equal(accepted.length, 1);
      assert.equal(accepted[0]?.body.id, `ingest-round-${round}`);
      assert.equal(answers.filter((a) => a.status === 409).length, CALLERS - 1);
      assert.ok(await activeCount() <= 1);
      await terminate(`ingest-round-${round}`);
    }
  });

  it('with onConflict=useExisting every caller gets the same instance', async () => {
    const answers = await storm('/orchestrators/DataIngest?onConflict=useExisting');
    assert.equal(answers.filter((a) => a.status >= 500).length, 0);
    assert.equal(answers.filter((a) => a.status === 202).length, 1);
    assert.equal(answers.filter((a) => a.status === 200).length, CALLERS - 1);
    const ids = new Set(answers.map((a) => a.body.id));
    assert.equal(ids.size, 1, 'one instance id for everyone');
    assert.equal(await activeCount(), 1);
    await terminate([...ids][0] as string);
  });
});
