/**
 * Timeouts everywhere they belong, read from a running hub (in this process, so its own pools and
 * server can be asked): statement_timeout and idle_in_transaction_session_timeout on the service's
 * sessions (and that they fire), the connection timeout (against a port that accepts and never
 * answers), pg-boss's expiry and heartbeat on the activity queue, and the HTTP request timeout
 * (configured, and — outside `npm test` — a slow client actually cut off).
 */
import net from 'node:net';
import { loadConfig } from '../../src/config.ts';
import { createPool } from '../../src/db/pool.ts';
import { createLogger } from '../../src/log.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { startTaskHub, type TaskHub } from '../../src/taskhub.ts';
import { setup } from '../lib/harness.ts';
import { Recorder, round, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';
import { registerWorkload } from '../lib/workload.ts';

export const id = 'timeouts';
export const title = 'Timeouts: statement, idle transaction, connect, HTTP request, pg-boss expiry/heartbeat';

const SETTINGS = {
  TASKHUB_PG_STATEMENT_TIMEOUT_MS: '1500',
  TASKHUB_PG_IDLE_TX_TIMEOUT_MS: '1000',
  TASKHUB_PG_CONNECT_TIMEOUT_MS: '700',
  TASKHUB_HTTP_REQUEST_TIMEOUT_MS: '2000',
  TASKHUB_ACTIVITY_EXPIRE_SECONDS: '120',
  TASKHUB_ACTIVITY_HEARTBEAT_SECONDS: '15',
};

async function elapsed<T>(fn: () => Promise<T>): Promise<{ ms: number; value?: T; error?: { code?: string; message?: string } }> {
  const started = performance.now();
  try {
    const value = await fn();
    return { ms: performance.now() - started, value };
  } catch (err) {
    return { ms: performance.now() - started, error: err as { code?: string; message?: string } };
  }
}

/** A TCP server that accepts connections and never says a word (a hung database). */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Opens a request and never finishes its body; resolves with how the server ended it. */
function slowClient(port: number, patienceMs: number): Promise<{ ms: number; outcome: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    const finish = (outcome: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ms: performance.now() - started, outcome });
    };
    const timer = setTimeout(() => finish('still open'), patienceMs);
    socket.on('connect', () => {
      socket.write('POST /runtime/webhooks/durabletask/orchestrators/RelSequence HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      socket.write('Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"steps":');
    });
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('close', () => finish(answer ? `answered ${answer.split('\r\n')[0]}` : 'closed'));
    socket.on('error', () => finish('reset'));
  });
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  r.fault = 'a slow query, an idle open transaction, a database port that never answers, a client that never finishes its request';
  r.load = `one hub in this process with ${Object.entries(SETTINGS).map(([k, v]) => `${k}=${v}`).join(', ')}`;
  const s = await setup(id);
  let hub: TaskHub | undefined;
  let oracle: { close(): Promise<void> } | undefined;
  return runScenario(
    r,
    async () => {
      const config = loadConfig({ DATABASE_URL: s.db.url, PORT: '0', LOG_LEVEL: 'silent', TASKHUB_EXAMPLES: 'false', TASKHUB_SCHEDULES: 'false', ...SETTINGS });
      const registry = new Registry();
      oracle = registerWorkload(registry, { oracleUrl: s.db.url }).oracle;
      hub = await startTaskHub({ config, registry, log: createLogger('silent'), connectionString: s.db.url, listen: true });

      const show = async (name: string): Promise<string> =>
        (await hub!.pool.query<{ v: string }>('SELECT current_setting($1) AS v', [name])).rows[0]?.v ?? '';
      const statement = await show('statement_timeout');
      const idle = await show('idle_in_transaction_session_timeout');
      r.extra('engine pool statement_timeout', statement);
      r.extra('engine pool idle_in_transaction_session_timeout', idle);
      r.check('engine sessions: statement_timeout is set (TASKHUB_PG_STATEMENT_TIMEOUT_MS)', statement === '1500ms', statement);
      r.check('engine sessions: idle_in_transaction_session_timeout is set (TASKHUB_PG_IDLE_TX_TIMEOUT_MS)', idle === '1s', idle);

      const slow = await elapsed(() => hub!.pool.query('SELECT pg_sleep(5)'));
      r.check('a query over the statement timeout is cancelled (57014) on time', slow.error?.code === '57014' && slow.ms < 3000, `${slow.error?.code ?? 'no error'} after ${Math.round(slow.ms)} ms`);

      const client = await hub.pool.connect();
      try {
        await client.query('BEGIN');
        await new Promise((resolve) => setTimeout(resolve, 2000));
        const after = await elapsed(() => client.query('SELECT 1'));
        r.check('an idle transaction over the timeout is ended by the server', after.error !== undefined, after.error ? `${after.error.code ?? ''} ${after.error.message ?? ''}` : 'the transaction was still open after 2 s');
      } finally {
        client.release(true); // never hand a session we ended on purpose back to the pool
      }

      const boss = (await hub.boss.getDb().executeSql(`SELECT current_setting('statement_timeout') AS st, current_setting('idle_in_transaction_session_timeout') AS it`)).rows[0] as {
        st: string;
        it: string;
      };
      r.extra('pg-boss pool statement_timeout / idle_in_transaction_session_timeout', `${boss.st} / ${boss.it}`);
      r.finding(
        "pg-boss's sessions (application_name pg-taskhub-boss) have a statement and idle-transaction timeout too",
        boss.st !== '0' && boss.it !== '0',
        `statement_timeout=${boss.st}, idle_in_transaction_session_timeout=${boss.it} on the pg-boss pool (only the engine pool passes -c options)`,
      );
      const { rows: listeners } = await s.db.pool.query<{ app: string }>(
        `SELECT application_name AS app FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN %'`,
        [s.db.name],
      );
      r.extra('LISTEN connections (application_name)', listeners.map((l) => l.app || '(none)').join(', ') || 'none');

      const queue = (await s.db.pool.query<{ expire_seconds: number; heartbeat_seconds: number | null; retry_limit: number }>(
        `SELECT expire_seconds, heartbeat_seconds, retry_limit FROM taskhub_boss.queue WHERE name = 'taskhub.activities'`,
      )).rows[0];
      r.check('pg-boss activity queue: expiry from TASKHUB_ACTIVITY_EXPIRE_SECONDS', queue?.expire_seconds === 120, `${queue?.expire_seconds} s`);
      r.check('pg-boss activity queue: heartbeat from TASKHUB_ACTIVITY_HEARTBEAT_SECONDS', queue?.heartbeat_seconds === 15, `${queue?.heartbeat_seconds} s`);
      r.extra('pg-boss retry limit (poison attempts)', queue?.retry_limit ?? '–');

      const silent = await silentServer();
      try {
        const pool = createPool({ ...config.pg, max: 1, connectionString: `postgres://postgres@127.0.0.1:${silent.port}/postgres`, schema: config.schema }, createLogger('silent'));
        const hung = await elapsed(() => pool.query('SELECT 1'));
        await pool.end().catch(() => undefined);
        r.check('connecting to a database that never answers gives up after the connect timeout', hung.error !== undefined && hung.ms < 2500, `${hung.error?.message ?? 'connected?'} after ${Math.round(hung.ms)} ms`);
      } finally {
        await silent.close();
      }

      const server = hub.app?.server;
      r.extra('HTTP server requestTimeout / headersTimeout (ms)', `${server?.requestTimeout} / ${server?.headersTimeout}`);
      r.check('HTTP request timeout configured (TASKHUB_HTTP_REQUEST_TIMEOUT_MS)', server?.requestTimeout === 2000, `${server?.requestTimeout}`);
      if (options.mode !== 'test') {
        // Node enforces requestTimeout on a 30 s connection-checking interval: the cut comes within ~32 s.
        const port = Number(new URL(hub.url as string).port);
        const cut = await slowClient(port, 35_000);
        r.extra('a client that never finishes its body is cut after (s)', round(cut.ms / 1000));
        r.check(
          'a client that never finishes its request is cut off (within TASKHUB_HTTP_REQUEST_TIMEOUT_MS + Node’s 30 s check interval)',
          cut.outcome !== 'still open',
          `${cut.outcome} after ${round(cut.ms / 1000)} s` +
            (cut.outcome === 'still open'
              ? ' — Fastify assigns server.requestTimeout after creating the server, and Node 24 only honours the value given at construction, so the effective limit is Node’s default 300 s'
              : ''),
        );
      }
    },
    async () => {
      await hub?.stop();
      await oracle?.close();
      await s.cleanup();
    },
  );
}
