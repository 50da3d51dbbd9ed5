/**
 * The monitor in a real browser (chromium via playwright-core) against a real server process
 * (`node src/cli.ts`) on a real PostgreSQL: DataIngest started through the API shows up as
 * Running in the list, its page shows the timeline, it is terminated from the monitor, and both
 * the monitor and the API then say Terminated. With TASKHUB_KEY set, nothing is shown before the
 * key is given, and the key never appears in a URL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { killAll, type ServerProcess, spawnNode, waitForHttp } from '../e2e/helpers/server.ts';
import { type Browser, launchBrowser } from './helpers/browser.ts';

const API = '/runtime/webhooks/durabletask';

interface Server {
  url: string;
  proc: ServerProcess;
}

async function startServer(db: TestDatabase, env: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  const proc = spawnNode({
    DATABASE_URL: db.url,
    PORT: String(port),
    LOG_LEVEL: 'warn',
    TASKHUB_PG_POOL_MAX: '4',
    TASKHUB_SCHEDULES: 'false',
    // A slow worker keeps DataIngest running while the browser looks at it: two activities at a
    // time, one per fetch, over 20,000 sources (the engine's pending-task limit).
    TASKHUB_ACTIVITY_CONCURRENCY: '2',
    TASKHUB_ACTIVITY_BATCH_SIZE: '1',
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/readyz`, proc, 60_000);
  return { url, proc };
}

async function api(server: Server, method: string, path: string, body?: unknown, key?: string): Promise<Response> {
  return fetch(`${server.url}${API}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(key ? { 'x-functions-key': key } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe('the monitor, no key configured', () => {
  let db: TestDatabase;
  let server: Server;
  let browser: Browser;

  before(async () => {
    db = await createTestDatabase();
    server = await startServer(db);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await killAll();
    await db?.drop().catch(() => undefined);
  });

  it('DataIngest: Running in the list, its timeline, terminated from the monitor, Terminated in the monitor and the API', async () => {
    const started = await api(server, 'POST', '/orchestrators/DataIngest', { sources: 20_000 });
    assert.equal(started.status, 202);
    const { id } = (await started.json()) as { id: string };

    const page = await browser.page();
    await page.goto(`${server.url}/monitor#/instances?status=Running&name=DataIngest`);
    const row = page.locator(`tr[data-instance="${id}"]`);
    await row.waitFor();
    assert.equal(await row.locator('[data-status]').textContent(), 'Running');
    assert.equal(await page.getByLabel('Task hub').count(), 0, 'no hub selector with one hub');

    await row.getByRole('link', { name: id }).click();
    await page.locator('h1', { hasText: id }).waitFor();
    assert.equal(await page.locator('.title [data-status]').textContent(), 'Running');
    // The timeline shows ListSources, done, and the ScrapeAndLoad fan-out once it has begun.
    const timeline = page.getByRole('region', { name: 'Timeline' });
    await timeline.locator('.g-row[data-kind="activity"]', { hasText: 'ListSources' }).waitFor();
    await timeline.locator('.g-row[data-kind="activity"]', { hasText: 'ScrapeAndLoad' }).waitFor();
    assert.ok(await timeline.locator('.g-bar').count() >= 2);

    await page.locator('button[data-action="terminate"]').click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason').fill('stopped from the monitor');
    await dialog.locator('button[data-confirm="terminate"]').click();
    const answer = page.locator('.answer');
    await answer.waitFor();
    assert.equal(await answer.getAttribute('data-answer'), '202', await answer.textContent() ?? '');
    assert.match((await answer.textContent()) ?? '', /the API answered 202/);
    await page.locator('.title [data-status="Terminated"]').waitFor();
    assert.equal(await page.locator('button[data-action="terminate"]').isDisabled(), true, 'terminate is off once terminal');

    const status = await api(server, 'GET', `/instances/${id}`);
    assert.equal(status.status, 200);
    const body = (await status.json()) as { runtimeStatus: string; output: unknown };
    assert.equal(body.runtimeStatus, 'Terminated');
    assert.equal(body.output, 'stopped from the monitor');

    // The overview counts it.
    await page.goto(`${server.url}/monitor#/`);
    await page.locator('.tile[data-status="Terminated"] .n', { hasText: '1' }).waitFor();
    const name = page.locator('tr[data-name="DataIngest"]');
    assert.equal(await name.locator('td.num').first().textContent(), '1');
    assert.deepEqual(browser.problems, []);
    await page.close();
  });

  it('answers of refused actions are shown as they are (a 409 for suspending a Suspended instance)', async () => {
    const started = await api(server, 'POST', '/orchestrators/Approval', { timeoutSeconds: 3600 });
    const { id } = (await started.json()) as { id: string };
    assert.equal((await api(server, 'POST', `/instances/${id}/suspend`)).status, 202);
    const page = await browser.page();
    await page.goto(`${server.url}/monitor#/instance/${id}`);
    await page.locator('.title [data-status="Suspended"]').waitFor();
    // Another operator resumes and suspends it meanwhile: the page's Resume meets a Running instance.
    assert.equal((await api(server, 'POST', `/instances/${id}/resume`)).status, 202);
    await page.locator('button[data-action="resume"]').click();
    await page.getByRole('dialog').locator('button[data-confirm="resume"]').click();
    const answer = page.locator('.answer');
    await answer.waitFor();
    assert.equal(await answer.getAttribute('data-answer'), '409');
    assert.match((await answer.textContent()) ?? '', /not Suspended/);
    await page.close();
  });

  it('raise event, then purge, from the monitor: each answer shown, the API agrees', async () => {
    const started = await api(server, 'POST', '/orchestrators/Approval', { timeoutSeconds: 3600 });
    const { id } = (await started.json()) as { id: string };
    const page = await browser.page();
    await page.goto(`${server.url}/monitor#/instance/${id}`);
    await page.locator('.title [data-status="Running"]').waitFor();
    await page.locator('button[data-action="raise"]').click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Event name').fill('Approval');
    await dialog.getByLabel('Event data (JSON)').fill('true');
    await dialog.locator('button[data-confirm="raise"]').click();
    await page.locator('.answer[data-answer="202"]').waitFor();
    await page.locator('.title [data-status="Completed"]').waitFor();
    assert.equal(((await (await api(server, 'GET', `/instances/${id}`)).json()) as { output: unknown }).output, 'approved');

    await page.locator('button[data-action="purge"]').click();
    await page.getByRole('dialog').locator('button[data-confirm="purge"]').click();
    await page.locator('.answer[data-answer="200"]', { hasText: 'instancesDeleted' }).waitFor();
    assert.equal((await api(server, 'GET', `/instances/${id}`)).status, 404);
    await page.close();
  });

  it('the Entities tab lists entities with their key, last operation time and state', async () => {
    const key = `monitor-${Date.now()}`;
    assert.equal((await api(server, 'POST', `/entities/Counter/${key}?op=add`, 41)).status, 202);
    assert.equal((await api(server, 'POST', `/entities/Counter/${key}?op=add`)).status, 202);
    const page = await browser.page();
    await page.goto(`${server.url}/monitor#/`);
    await page.getByRole('link', { name: 'Entities' }).click();
    await page.getByRole('heading', { level: 1, name: 'Entities' }).waitFor();
    const row = page.locator(`tr[data-entity="@counter@${key}"]`);
    // The list refreshes every 5 s: the row appears once both operations ran.
    await row.locator('pre.json', { hasText: '42' }).waitFor({ timeout: 20_000 });
    assert.equal(await row.locator('th').textContent(), 'counter');
    assert.equal(await row.locator('td').first().textContent(), key);
    assert.match((await row.locator('td').nth(1).textContent()) ?? '', /\d{4}-\d{2}-\d{2}/);
    await page.close();
  });

  it('cancelling a confirmation sends nothing', async () => {
    const started = await api(server, 'POST', '/orchestrators/Approval', { timeoutSeconds: 3600 });
    const { id } = (await started.json()) as { id: string };
    const page = await browser.page();
    const posts: string[] = [];
    page.on('request', (r) => {
      if (r.method() !== 'GET') posts.push(r.url());
    });
    await page.goto(`${server.url}/monitor#/instance/${id}`);
    await page.locator('button[data-action="terminate"]').click();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    assert.deepEqual(posts, []);
    const status = (await (await api(server, 'GET', `/instances/${id}`)).json()) as { runtimeStatus: string };
    assert.equal(status.runtimeStatus, 'Running');
    await page.close();
  });

  it('the list pages by continuation token and sorts by creation time; parent and child link to each other', async () => {
    const prefix = `page-${Date.now()}`;
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const id = `${prefix}-${n}`;
      assert.equal((await api(server, 'POST', `/orchestrators/Approval/${id}`, { timeoutSeconds: 3600 })).status, 202);
      ids.push(id);
    }
    const page = await browser.page();
    await page.goto(`${server.url}/monitor#/instances?prefix=${prefix}&top=2`);
    const rows = page.locator('tr[data-instance]');
    const idsShown = async (): Promise<string[]> => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-instance') as string));
    await page.getByText('Page 1: 2 instances, more on the next page.').waitFor();
    assert.deepEqual(await idsShown(), [ids[2], ids[1]], 'newest first');
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.getByText('Page 2: 1 instance.').waitFor();
    assert.deepEqual(await idsShown(), [ids[0]]);
    assert.equal(await page.getByRole('button', { name: 'Next →' }).isDisabled(), true);
    await page.getByRole('button', { name: '← Previous' }).click();
    await page.getByText('Page 1: 2 instances, more on the next page.').waitFor();
    // Sorting by creation time: oldest first.
    await page.getByRole('button', { name: /Created: sorted newest first/ }).click();
    await page.locator(`tr[data-instance="${ids[0]}"]`).waitFor();
    assert.deepEqual(await idsShown(), [ids[0], ids[1]]);

    const parent = await api(server, 'POST', '/orchestrators/ParentOfHello');
    const { id } = (await parent.json()) as { id: string };
    await page.goto(`${server.url}/monitor#/instance/${id}`);
    const child = page.locator('a[data-rel="child"]');
    await child.waitFor();
    assert.equal(await child.textContent(), `${id}:0`);
    await child.click();
    await page.getByRole('heading', { level: 1, name: `${id}:0`, exact: true }).waitFor();
    await page.locator('a[data-rel="parent"]', { hasText: id }).click();
    await page.getByRole('heading', { level: 1, name: id, exact: true }).waitFor();
    await page.close();
  });

  it('Schedules: each schedule\'s overlap policy, waiting buffer, last detail and recent outcomes', async () => {
    // Rows as a scheduler leaves them (this server fires no schedule): a bufferOne schedule whose
    // last tick was skipped while one buffered tick waits, and one earlier buffered tick started later.
    const pg = (await import('pg')).default;
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query(`INSERT INTO taskhub.schedules (name, cron, next_run_at, overlap, catchup_window_seconds, last_tick_at, last_outcome, last_instance_id, started_count, buffered_count, skipped_count)
                     VALUES ('Nightly', '0 2 * * *', now() + interval '1 hour', 'bufferOne', 3600, '2026-01-03T02:00:00Z', 'skipped', 'run-2', 1, 2, 1)`);
      await c.query(`INSERT INTO taskhub.schedule_ticks (name, tick_at, outcome, instance_id, detail, started_at) VALUES
        ('Nightly', '2026-01-01T02:00:00Z', 'started', 'run-1', NULL, NULL),
        ('Nightly', '2026-01-02T02:00:00Z', 'buffered', 'run-2', 'waits for run-1 (Running) to end', '2026-01-02T02:30:00Z'),
        ('Nightly', '2026-01-02T14:00:00Z', 'buffered', NULL, 'waits for run-2 (Running) to end', NULL),
        ('Nightly', '2026-01-03T02:00:00Z', 'skipped', 'run-2', 'run-2 (Running) is still running; a tick already waits in the buffer (bufferOne keeps one)', NULL)`);
    } finally {
      await c.end();
    }
    const page = await browser.page();
    await page.goto(`${server.url}/monitor#/schedules`);
    const row = page.locator('tr[data-schedule="Nightly"]');
    await row.waitFor();
    assert.equal(await row.locator('[data-policy]').getAttribute('data-policy'), 'bufferOne');
    assert.match((await row.locator('[data-policy]').textContent()) ?? '', /catch-up 3600 s/);
    assert.equal(await row.locator('[data-waiting]').textContent(), '1');
    assert.equal(await row.locator('[data-outcome]').textContent(), 'skipped');
    assert.match((await row.locator('[data-last-detail]').textContent()) ?? '', /a tick already waits in the buffer \(bufferOne keeps one\)/);
    const recent = page.locator('[data-ticks="Nightly"]');
    await recent.waitFor();
    assert.match((await recent.textContent()) ?? '', /1 started, 2 buffered, 1 skipped, 0 replaced, 0 failed/);
    assert.match((await recent.textContent()) ?? '', /waiting/, 'the buffered tick still waiting says so');
    assert.match((await recent.textContent()) ?? '', /started 2026-01-02/, 'the buffered tick that ran says when');
    await page.close();
  });

  it('fits a phone-sized screen, and keyboard focus starts at the skip link', async () => {
    const phone = await launchBrowser({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    try {
      const page = await phone.page();
      for (const view of ['#/', '#/instances', '#/schedules', '#/singletons']) {
        await page.goto(`${server.url}/monitor${view}`);
        await page.locator('main h1').waitFor();
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${view} is ${overflow}px wider than the screen`);
      }
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.notEqual(background, 'rgb(246, 247, 249)', 'dark mode changes the background');
      // A fresh load: the first Tab reaches the skip link, Enter moves focus to the content.
      await page.goto('about:blank');
      await page.goto(`${server.url}/monitor#/`);
      await page.locator('main h1').waitFor();
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
      await page.keyboard.press('Enter');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
      assert.equal(await page.locator('main h1').textContent(), 'Overview', 'the view stays');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.closest('main') !== null), true, 'the next Tab is inside the content');
      assert.deepEqual(phone.problems, []);
    } finally {
      await phone.close();
    }
  });
});

describe('the monitor with TASKHUB_KEY set', () => {
  const key = `k-${Math.random().toString(36).slice(2)}`;
  let db: TestDatabase;
  let server: Server;
  let browser: Browser;

  before(async () => {
    db = await createTestDatabase();
    server = await startServer(db, { TASKHUB_KEY: key });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await killAll();
    await db?.drop().catch(() => undefined);
  });

  it('shows nothing before the key is given, refuses a wrong one, then works with the key in a header only', async () => {
    const started = await api(server, 'POST', '/orchestrators/Approval', { timeoutSeconds: 3600 }, key);
    assert.equal(started.status, 202);
    const { id } = (await started.json()) as { id: string };

    const page = await browser.page();
    const urls: string[] = [];
    const headers: Array<string | undefined> = [];
    page.on('request', (r) => {
      urls.push(r.url());
      if (r.url().includes(API)) headers.push(r.headers()['x-functions-key']);
    });
    await page.goto(`${server.url}/monitor#/instance/${id}`);
    await page.getByRole('heading', { name: 'This task hub needs its key' }).waitFor();
    const before = (await page.locator('body').textContent()) ?? '';
    assert.ok(!before.includes(id), 'the instance is not shown');
    assert.ok(!before.includes('Approval'), 'no orchestration name is shown');
    assert.equal(await page.locator('#nav').isVisible(), false, 'no navigation');

    await page.getByLabel('Key').fill('wrong');
    await page.getByRole('button', { name: 'Open the monitor' }).click();
    await page.getByRole('alert').filter({ hasText: 'refused' }).waitFor();
    assert.ok(!((await page.locator('body').textContent()) ?? '').includes(id));

    await page.getByLabel('Key').fill(key);
    await page.getByRole('button', { name: 'Open the monitor' }).click();
    await page.locator('h1', { hasText: id }).waitFor();
    assert.equal(await page.locator('.title [data-status]').textContent(), 'Running');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('pg-taskhub.key')), key);
    assert.ok(urls.every((u) => !u.includes(key)), 'the key is never in a URL');
    assert.ok(headers.includes(key), 'the key is sent as x-functions-key');

    // Kept for the tab's session: a reload asks nothing.
    await page.reload();
    await page.locator('h1', { hasText: id }).waitFor();
    // Forgetting it brings the gate back.
    await page.getByRole('button', { name: 'Forget key' }).click();
    await page.getByRole('heading', { name: 'This task hub needs its key' }).waitFor();
    await page.close();
  });

  it('a new browser session asks again', async () => {
    const other = await launchBrowser();
    try {
      const page = await other.page();
      await page.goto(`${server.url}/monitor#/`);
      await page.getByRole('heading', { name: 'This task hub needs its key' }).waitFor();
    } finally {
      await other.close();
    }
  });
});
