/**
 * `npm run reliability [-- --quick] [-- --only=id1,id2]`: runs the reliability scenarios against
 * real server processes and the PostgreSQL named by DATABASE_URL (scenario pg-restart starts an
 * embedded one of its own), writes each result to reliability/results/<id>.json and renders
 * RELIABILITY.md from all results there. Exits non-zero when a scenario failed.
 *
 *   --quick      smaller loads and a 30-second soak (about 5 minutes in all)
 *   --only=ids   run only these scenarios (comma-separated ids or numbers)
 *   --list       print the scenarios and exit
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { createLogger } from '../src/log.ts';
import pg from 'pg';
import { baseUrl, HARNESS_APP } from './lib/db.ts';
import { type Mode, readResults, renderReport, REPORT_FILE, RESULTS_DIR, type ScenarioResult, writeResult } from './lib/report.ts';
import { SCENARIOS } from './scenarios.ts';

function parseArgs(argv: string[]): { mode: Mode; only: string[] | undefined; list: boolean } {
  let mode: Mode = 'full';
  let only: string[] | undefined;
  let list = false;
  for (const arg of argv) {
    if (arg === '--quick') mode = 'quick';
    else if (arg === '--list') list = true;
    else if (arg.startsWith('--only=')) only = arg.slice('--only='.length).split(',').map((s) => s.trim()).filter(Boolean);
    else throw new Error(`unknown argument '${arg}' (use --quick, --only=ids, --list)`);
  }
  return { mode, only, list };
}

async function postgresVersion(): Promise<string> {
  const client = new pg.Client({ connectionString: baseUrl(), application_name: HARNESS_APP });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    return `PostgreSQL ${rows[0]?.v ?? '?'}`;
  } finally {
    await client.end();
  }
}

async function main(): Promise<number> {
  const { mode, only, list } = parseArgs(process.argv.slice(2));
  const order = SCENARIOS.map((s) => s.id);
  if (list) {
    SCENARIOS.forEach((s, i) => process.stdout.write(`${i + 1}. ${s.id}: ${s.title}\n`));
    return 0;
  }
  const selected = SCENARIOS.filter((s, i) => !only || only.includes(s.id) || only.includes(String(i + 1)));
  if (only && selected.length !== only.length) throw new Error(`unknown scenario in --only (known: ${order.join(', ')})`);
  const startedAt = new Date();
  // Like npm test and npm run bench: an embedded PostgreSQL when DATABASE_URL is unset.
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  if (!process.env.DATABASE_URL) {
    embedded = await startEmbeddedPostgres(path.resolve('.reliability-pg'), createLogger('warn'));
    process.env.DATABASE_URL = embedded.connectionString;
  }
  try {
    return await runScenarios(selected, order, mode, only, startedAt);
  } finally {
    await embedded?.stop();
  }
}

async function runScenarios(
  selected: typeof SCENARIOS,
  order: string[],
  mode: Mode,
  only: ReturnType<typeof parseArgs>['only'],
  startedAt: Date,
): Promise<number> {
  const pgVersion = await postgresVersion();
  process.stdout.write(`reliability: ${selected.length} scenario(s), ${mode} mode, ${pgVersion}\n`);

  const results: ScenarioResult[] = [];
  let stopping = false;
  process.on('SIGINT', () => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stdout.write('\nreliability: stopping after the current scenario (Ctrl-C again to exit now)\n');
  });
  for (const scenario of selected) {
    if (stopping) break;
    process.stdout.write(`\n▶ ${scenario.id}: ${scenario.title}\n`);
    const result = await scenario.run({ mode });
    results.push(result);
    writeResult(result);
    const f = result.figures;
    process.stdout.write(
      `${result.passed ? '✔' : '✘'} ${scenario.id} in ${result.durationSeconds} s: ${f.instances} instances, ${f.activities} activities, ` +
        `${f.faultsInjected} faults, recovery ${f.recoverySeconds ?? '–'} s, ${f.duplicatesFound} duplicates, ${f.lossesFound} losses\n`,
    );
    for (const c of result.checks) if (!c.ok) process.stdout.write(`   ${c.finding ? 'FINDING' : 'FAIL'}: ${c.name}: ${c.detail ?? ''}\n`);
    if (result.error) process.stdout.write(`   ERROR: ${result.error.split('\n').slice(0, 4).join('\n   ')}\n`);
  }

  const run = {
    mode,
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
    node: process.version,
    postgres: pgVersion,
    only,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(path.join(RESULTS_DIR, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(REPORT_FILE, renderReport(readResults(), order, run));
  const failed = results.filter((r) => !r.passed);
  process.stdout.write(
    `\n${results.length - failed.length} passed, ${failed.length} failed` + ` (report: ${path.relative(process.cwd(), REPORT_FILE)})\n`,
  );
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`reliability: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
