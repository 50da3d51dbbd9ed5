/**
 * `npm run screenshots`: the README's pictures of the monitor, from a real run. Starts the server
 * (`node src/cli.ts`, on DATABASE_URL's server in a fresh database, else on an embedded
 * PostgreSQL in a temporary folder) with the shipped examples and scripts/screenshots/module.ts,
 * runs orchestrations through the HTTP API, and saves PNGs of the overview, an instance with its
 * timeline, the schedules page and a phone-sized dark view to docs/. Stops everything it started.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { chromium, type Page } from 'playwright-core';
import { freePort } from '../src/db/embedded.ts';
import { CHROMIUM, CHROMIUM_FLAGS } from '../test/browser/helpers/browser.ts';

const API = '/runtime/webhooks/durabletask';
const OUT = path.resolve('docs');

async function createDatabase(): Promise<{ url: string; drop: () => Promise<void> } | undefined> {
  const base = process.env.DATABASE_URL;
  if (!base) return undefined;
  const name = `taskhub_screens_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const port = await freePort();
const origin = `http://127.0.0.1:${port}`;
const db = await createDatabase();
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'taskhub-screens-'));
chmodSync(dataDir, 0o755); // as root, the embedded PostgreSQL runs as 'postgres' and must reach it
const env: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(TASKHUB_|DATABASE_URL$|PORT$|HOST$|NODE_OPTIONS$)/.test(k)) env[k] = v;
Object.assign(env, {
  PORT: String(port),
  LOG_LEVEL: 'warn',
  TASKHUB_DATA_DIR: dataDir,
  TASKHUB_MODULES: path.resolve('scripts/screenshots/module.ts'),
  TASKHUB_POLL_INTERVAL_MS: '200',
  ...(db ? { DATABASE_URL: db.url } : {}),
});
const server = spawn(process.execPath, ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', 'src/cli.ts'], {
  env,
  stdio: ['ignore', 'ignore', 'inherit'],
  detached: true,
});
const exited = new Promise((resolve) => server.on('close', resolve));

async function call(method: string, route: string, body?: unknown): Promise<any> {
  const res = await fetch(`${origin}${API}${route}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

const start = async (name: string, input?: unknown): Promise<string> => (await call('POST', `/orchestrators/${name}`, input)).id;
const status = (id: string) => call('GET', `/instances/${id}`);
const settled = (id: string) => until(`${id} to end`, async () => ((await status(id))?.runtimeStatus !== 'Running' && (await status(id))?.runtimeStatus !== 'Pending' ? true : undefined));

async function shoot(page: Page, hash: string, file: string, ready: string, fullPage = false, scrollTo?: string): Promise<void> {
  await page.goto(`${origin}/monitor${hash}`);
  await page.locator(ready).first().waitFor();
  if (scrollTo) await page.locator(scrollTo).first().evaluate((el) => el.scrollIntoView({ block: 'start' }));
  await page.waitForTimeout(300); // let the fonts settle; the data is already there
  await page.screenshot({ path: path.join(OUT, file), fullPage });
  process.stdout.write(`wrote docs/${file}\n`);
}

try {
  await until('the server', async () => ((await fetch(`${origin}/readyz`)).ok ? true : undefined), 120_000);
  // A morning's worth of traffic.
  for (let i = 0; i < 3; i++) await settled(await start('HelloSequence'));
  await settled(await start('FanOutFanIn', { count: 40 }));
  await settled(await start('ParentOfHello'));
  await settled(await start('RewindDemo'));
  await settled(await start('RetryDemo'));
  await settled(await start('Countdown', 3));
  await settled(await start('DataIngest', { sources: 400 }));
  const waiting = await start('Approval', { timeoutSeconds: 3600 });
  const stopped = await start('Approval', { timeoutSeconds: 3600 });
  await until('the approval to wait', async () => ((await status(stopped))?.customStatus ? true : undefined));
  await call('POST', `/instances/${stopped}/terminate?reason=${encodeURIComponent('not needed any more')}`);
  const suspended = await start('Approval', { timeoutSeconds: 3600 });
  await until('the approval to wait', async () => ((await status(suspended))?.customStatus ? true : undefined));
  await call('POST', `/instances/${suspended}/suspend?reason=paused`);
  const showcase = await start('Showcase', { id: 'order-1042' });
  await until('the showcase to wait', async () => ((await status(showcase))?.customStatus === 'waiting for approval' ? true : undefined));
  await new Promise((r) => setTimeout(r, 400));
  await call('POST', `/instances/${showcase}/raiseEvent/Approve`, true);
  await settled(showcase);
  // The two-second schedule has fired a few times by now; wait for a skipped tick.
  await until('a skipped tick', async () => {
    const schedules = (await call('GET', '/schedules')) as Array<{ name: string; skippedCount: number; startedCount: number }>;
    const report = schedules.find((s) => s.name === 'NightlyReport');
    return report && report.skippedCount >= 2 && report.startedCount >= 2 ? true : undefined;
  }, 30_000);
  void waiting;

  mkdirSync(OUT, { recursive: true });
  const profile = mkdtempSync(path.join(os.tmpdir(), 'taskhub-chromium-'));
  const light = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 860 },
    colorScheme: 'light',
  });
  const page = light.pages()[0] ?? (await light.newPage());
  await shoot(page, '#/', 'monitor-overview.png', '.tile');
  await shoot(page, `#/instance/${showcase}`, 'monitor-timeline.png', '.gantt .g-bar', true);
  await shoot(page, '#/schedules', 'monitor-schedules.png', 'section[data-ticks] .tick');
  await light.close();
  const phoneProfile = mkdtempSync(path.join(os.tmpdir(), 'taskhub-chromium-'));
  const phone = await chromium.launchPersistentContext(phoneProfile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    colorScheme: 'dark',
  });
  await shoot(phone.pages()[0] ?? (await phone.newPage()), `#/instance/${showcase}`, 'monitor-phone-dark.png', '.gantt .g-bar', false, 'section[aria-label="Timeline"]');
  await phone.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(phoneProfile, { recursive: true, force: true });
} finally {
  try {
    process.kill(-(server.pid as number), 'SIGINT');
  } catch {
    // already gone
  }
  await exited;
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
