/**
 * The monitor's task hub selector in a real browser, against a real server process serving two hubs
 * on two databases: the selector appears (it is absent with one hub), each hub's instances are listed
 * in its own view only, and an action taken in the Billing view acts on Billing (the API agrees).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { killAll, type ServerProcess, spawnNode, waitForHttp } from '../e2e/helpers/server.ts';
import { type Browser, launchBrowser } from './helpers/browser.ts';

const API = '/runtime/webhooks/durabletask';

describe('the monitor with two task hubs', () => {
  let main: TestDatabase;
  let reports: TestDatabase;
  let proc: ServerProcess;
  let url: string;
  let browser: Browser;

  before(async () => {
    [main, reports] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    proc = spawnNode({
      DATABASE_URL: main.url,
      TASKHUB_CONNECTION_REPORTS: reports.url,
      TASKHUB_HUBS: 'Main,Billing:Reports',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      TASKHUB_PG_POOL_MAX: '3',
      TASKHUB_SCHEDULES: 'false',
    });
    await waitForHttp(`${url}/readyz`, proc, 90_000);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await killAll();
    await Promise.all([main?.drop().catch(() => undefined), reports?.drop().catch(() => undefined)]);
  });

  const start = async (path: string, body: unknown): Promise<string> => {
    const res = await fetch(`${url}${API}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 202);
    return ((await res.json()) as { id: string }).id;
  };

  it("lists each hub's instances in its own view; terminate in the Billing view terminates Billing's instance", async () => {
    const inMain = await start('/orchestrators/Approval/main-approval', { timeoutSeconds: 3600 });
    const inBilling = await start('/orchestrators/Approval/billing-approval?taskHub=Billing', { timeoutSeconds: 3600 });
    const page = await browser.page();
    await page.goto(`${url}/monitor#/instances`);
    const selector = page.getByLabel('Task hub');
    await selector.waitFor();
    assert.deepEqual(await selector.locator('option').allTextContents(), ['Main (Storage)', 'Billing (Reports)']);
    assert.equal(await selector.inputValue(), 'Main');
    await page.locator(`tr[data-instance="${inMain}"]`).waitFor();
    assert.equal(await page.locator(`tr[data-instance="${inBilling}"]`).count(), 0);

    await selector.selectOption('Billing');
    await page.locator('h1', { hasText: 'Overview' }).waitFor();
    await page.goto(`${url}/monitor#/instances`);
    await page.locator(`tr[data-instance="${inBilling}"]`).waitFor();
    assert.equal(await page.locator(`tr[data-instance="${inMain}"]`).count(), 0);
    assert.equal(await page.getByLabel('Task hub').inputValue(), 'Billing', 'the choice is kept for the tab');

    await page.locator(`tr[data-instance="${inBilling}"]`).getByRole('link', { name: inBilling }).click();
    await page.locator('.title [data-status="Running"]').waitFor();
    await page.locator('button[data-action="terminate"]').click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason').fill('from the Billing view');
    await dialog.locator('button[data-confirm="terminate"]').click();
    await page.locator('.title [data-status="Terminated"]').waitFor();

    const billing = (await (await fetch(`${url}${API}/instances/${inBilling}?taskHub=Billing`)).json()) as { runtimeStatus: string; output: unknown };
    assert.deepEqual([billing.runtimeStatus, billing.output], ['Terminated', 'from the Billing view']);
    const other = (await (await fetch(`${url}${API}/instances/${inMain}`)).json()) as { runtimeStatus: string };
    assert.equal(other.runtimeStatus, 'Running');
    assert.deepEqual(browser.problems, []);
    await page.close();
  });
});
