/**
 * The status-read baseline's server: bare Fastify + node-postgres, one route that reads one row by
 * primary key and answers it as JSON, with the same pool size as the pg-taskhub server's API pool.
 * No schema validation, no auth hook, no logging: what an HTTP point read over this stack costs.
 * Usage: node bench/baseline/fastify-pg.ts '<json {databaseUrl, poolMax, rows}>'; prints `READY <port>`.
 */
import Fastify from 'fastify';
import pg from 'pg';

interface Request {
  databaseUrl: string;
  poolMax: number;
  rows: number;
}

const request = JSON.parse(process.argv[2] ?? '{}') as Request;

async function main(): Promise<void> {
  const pool = new pg.Pool({ connectionString: request.databaseUrl, max: request.poolMax, application_name: 'pg-taskhub-bench-fastify' });
  pool.on('error', () => undefined);
  await pool.query('CREATE TABLE IF NOT EXISTS bench_point (id text PRIMARY KEY, name text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), body jsonb)');
  await pool.query(
    `INSERT INTO bench_point (id, name, status, body) SELECT 'row-' || g, 'BenchNoop', 'Completed', '{"bench":true}'::jsonb FROM generate_series(1, $1) g ON CONFLICT DO NOTHING`,
    [request.rows],
  );
  const app = Fastify({ logger: false });
  app.get<{ Params: { id: string } }>('/rows/:id', async (req, reply) => {
    const { rows } = await pool.query({ name: 'point', text: 'SELECT id, name, status, created_at, body FROM bench_point WHERE id = $1', values: [req.params.id] });
    if (rows.length === 0) return reply.code(404).send({ error: 'not found' });
    return rows[0];
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`READY ${new URL(address).port}\n`);
  const stop = (): void => void app.close().then(() => pool.end()).finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`fastify-pg baseline failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
