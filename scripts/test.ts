/**
 * `npm test`: runs every test file with node's test runner against a real PostgreSQL: the one named
 * by DATABASE_URL, or an embedded one started here (and stopped afterwards) when it is unset. Each
 * test file creates and drops its own database (test/helpers/db.ts).
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { createLogger } from '../src/log.ts';

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return entry === 'helpers' || entry === 'fixtures' ? [] : findTests(full);
    return entry.endsWith('.test.ts') ? [full] : [];
  });
}

const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
const filters = process.argv.slice(2);
const files = findTests('test')
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

let stop: (() => Promise<void>) | undefined;
const env = { ...process.env };
if (!env.DATABASE_URL) {
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
  try {
    embedded = await startEmbeddedPostgres(path.resolve('.test-pg'), log);
  } catch (err) {
    process.stderr.write(`npm test: ${(err as Error).message.replace(/\s+/g, ' ')}\n`);
    process.exit(1);
  }
  env.DATABASE_URL = embedded.connectionString;
  stop = embedded.stop;
  process.stderr.write(`test database: embedded PostgreSQL (${path.resolve('.test-pg')})\n`);
} else {
  process.stderr.write(`test database: DATABASE_URL\n`);
}

const code = await new Promise<number>((resolve) => {
  const child = spawn(
    process.execPath,
    [
      '--experimental-strip-types',
      '--disable-warning=ExperimentalWarning',
      '--test',
      '--test-concurrency=2',
      '--test-timeout=300000',
      ...files,
    ],
    { stdio: 'inherit', env },
  );
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (status, signal) => resolve(status ?? (signal ? 1 : 0)));
});
await stop?.();
process.exit(code);
