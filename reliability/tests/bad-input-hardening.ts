/**
 * The cases of issue 11 inside the bad-input scenario, each measured against real processes:
 * numbers that are not numbers (a hostile wait must not poll the database), a purge or a listing
 * with a misspelt runtimeStatus (deletes nothing), a timer beyond the database's range (fails at
 * once, not quarantined), a forged Host against TASKHUB_PUBLIC_URL, the key under every spelling of
 * `code` (never logged), restarts under TASKHUB_START_RATE_LIMIT and 4xx starts that cost nothing.
 */
import type { ScenarioDatabase } from '../lib/db.ts';
import { Api, BASE_PATH, json, send } from '../lib/http.ts';
import type { Cluster, ServerNode } from '../lib/procs.ts';
import { type Recorder, round } from '../lib/report.ts';

const KEY = 'hardening-key-7c1d';
const CODE_SPELLINGS = ['code', 'CODE', 'Code', '%63ode', 'c%6Fde', 'co%64e', 'cod%65', '%63%6F%64%65', '%43%4F%44%45', '%43ode'];

async function commits(db: ScenarioDatabase): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(`SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()`);
  return Number(rows[0]?.n ?? 0);
}

/** While a process that runs turns is up: a timer beyond PostgreSQL's range fails its instance at once. */
export async function timerOutOfRange(r: Recorder, db: ScenarioDatabase, api: Api): Promise<void> {
  const started = Date.now();
  const id = json<{ id: string }>(await api.start('RelTimerEvent', { timerMs: 8e15, events: 0 }))?.id;
  let row: { runtime_status: string; failure: { type?: string; message?: string } | null } | undefined;
  for (let i = 0; i < 400 && id; i++) {
    row = (await db.pool.query(`SELECT runtime_status, failure FROM taskhub.instances WHERE instance_id = $1`, [id])).rows[0];
    if (row && row.runtime_status !== 'Pending' && row.runtime_status !== 'Running') break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const seconds = (Date.now() - started) / 1000;
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM taskhub.history WHERE instance_id = $1 AND event_type = 'OrchestratorStarted'`,
    [id],
  );
  r.extra('timer 8e15 ms ahead: outcome, turns, seconds to fail', `${row?.runtime_status} ${row?.failure?.type}, ${rows[0]?.n} turn(s), ${round(seconds)} s`);
  r.check(
    'a timer beyond the database range fails the instance in its first turn (TimerOutOfRange naming the date and range)',
    row?.runtime_status === 'Failed' && row.failure?.type === 'TimerOutOfRange' && /9999-12-31/.test(row.failure.message ?? '') && rows[0]?.n === 1,
    `${row?.failure?.type}: ${row?.failure?.message ?? ''}`.slice(0, 300),
  );
}

/** Against the api-only process, before the generated requests. */
export async function hostileRequests(r: Recorder, db: ScenarioDatabase, node: ServerNode): Promise<void> {
  const base = `${node.url}${BASE_PATH}`;
  const bad: string[] = [];
  for (const value of ['1e309', 'Infinity', '-1e309', 'NaN', '-Infinity', '1.5', '0x10']) {
    const reply = await send(`${base}/instances?top=${encodeURIComponent(value)}`);
    if (reply.status !== 400 || json<{ parameter?: string }>(reply)?.parameter !== 'top') bad.push(`top=${value} → ${reply.status}`);
  }
  const before = await commits(db);
  const t0 = Date.now();
  const wait = await send(`${base}/orchestrators/RelSequence?timeout=1e309&pollingInterval=1e309`, { method: 'POST', body: '{"steps":1}', timeoutMs: 10_000 });
  const waitMs = Date.now() - t0;
  const during = (await commits(db)) - before - 1; // minus the reading query's own
  if (wait.status !== 400 || json<{ parameter?: string }>(wait)?.parameter !== 'timeout') bad.push(`timeout=1e309 → ${wait.status}`);
  r.extra('hostile numbers (top 1e309/Infinity/-1e309/NaN/…, timeout/pollingInterval 1e309): answers', bad.length === 0 ? 'all 400 naming the parameter' : bad.join(', '));
  r.extra('timeout=1e309&pollingInterval=1e309: answered in, transactions meanwhile', `${waitMs} ms, ${Math.max(0, during)}`);
  r.check('numbers that are not numbers are a 400 naming the parameter (no 500, no endless wait)', bad.length === 0, bad.join(', '));

  const count = async (): Promise<number> => (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM taskhub.instances`)).rows[0]?.n ?? 0;
  const instances = await count();
  const purge = await send(`${base}/instances?createdTimeFrom=2020-01-01T00:00:00Z&runtimeStatus=Complted`, { method: 'DELETE' });
  const list = await send(`${base}/instances?runtimeStatus=Completed,Faild`);
  const kept = await count();
  r.extra('DELETE /instances?…&runtimeStatus=Complted: answer, instances before → after', `${purge.status}, ${instances} → ${kept}`);
  r.check(
    "a purge or listing with an unknown runtimeStatus is a 400 naming the token and deletes nothing",
    purge.status === 400 && /'Complted'/.test(purge.text) && list.status === 400 && /'Faild'/.test(list.text) && kept === instances,
    `${purge.status} ${purge.text.slice(0, 120)} | ${list.status} | ${instances} → ${kept}`,
  );
}

/** A second api process with a public URL, a key and a start limit: URIs, the key in logs, restarts. */
export async function urlsAndKeys(r: Recorder, cluster: Cluster, completedId: string): Promise<void> {
  const node = await cluster.start({
    name: 'api-public',
    role: 'api',
    env: { TASKHUB_PUBLIC_URL: 'https://hub.example.com', TASKHUB_KEY: KEY, TASKHUB_START_RATE_LIMIT: '5' },
    keepRequestLogs: true,
  });
  try {
    const base = `${node.url}${BASE_PATH}`;
    const headers = { 'x-functions-key': KEY, 'content-type': 'application/json', 'x-forwarded-host': 'evil-proxy.example' };
    // fetch sets Host itself (the process's own address, not the public URL); the forged origin
    // travels as X-Forwarded-Host, which must be ignored too.
    const started = await send(`${base}/orchestrators/RelSequence`, { method: 'POST', body: '{"steps":1}', headers });
    const payload = json<Record<string, string>>(started) ?? {};
    const uris = [started.headers.get('location') ?? '', ...Object.entries(payload).filter(([k]) => k.endsWith('Uri')).map(([, v]) => v)];
    const offOrigin = uris.filter((u) => !u.startsWith('https://hub.example.com/runtime/webhooks/durabletask/'));
    r.extra('TASKHUB_PUBLIC_URL: URIs checked in a start answer, not on the public URL', `${uris.length}, ${offOrigin.length}`);
    r.check('with TASKHUB_PUBLIC_URL every URI is on it (Host and X-Forwarded-Host ignored)', started.status === 202 && offOrigin.length === 0, offOrigin.join(' '));

    let authenticated = 0;
    for (const name of CODE_SPELLINGS) {
      const reply = await send(`${base}/orchestrators?${name}=${encodeURIComponent(KEY)}`);
      if (reply.status === 200) authenticated++;
    }
    // Wait for the event itself: a redacted log line for each of those requests.
    for (let i = 0; i < 250 && node.output().split('\n').filter((l) => l.includes('[redacted]') && l.includes('"msg":"GET ')).length < CODE_SPELLINGS.length; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const leaked = node.output().split('\n').filter((l) => l.includes(KEY)).length;
    r.extra('the key as ?code= under 10 spellings of the name: authenticated, log lines carrying it', `${authenticated}, ${leaked}`);
    r.check('the key never reaches the log, whatever the spelling of code', leaked === 0 && authenticated === CODE_SPELLINGS.length, `${authenticated} authenticated, ${leaked} lines`);

    const restarts = await Promise.all(
      Array.from({ length: 12 }, () => send(`${base}/instances/${completedId}/restart`, { method: 'POST', headers: { 'x-functions-key': KEY } })),
    );
    const accepted = restarts.filter((x) => x.status === 202).length;
    const limited = restarts.filter((x) => x.status === 429).length;
    for (let i = 0; i < 10; i++) await send(`${base}/orchestrators/NoSuch`, { method: 'POST', headers: { 'x-functions-key': KEY } });
    // The limit is per second by definition: the next window starts a second later. Then 10 more 400s in it.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (let i = 0; i < 10; i++) await send(`${base}/orchestrators/NoSuch`, { method: 'POST', headers: { 'x-functions-key': KEY } });
    const after400 = await Promise.all(Array.from({ length: 5 }, () => send(`${base}/orchestrators/RelSequence`, { method: 'POST', body: '{"steps":1}', headers })));
    const good = after400.filter((x) => x.status === 202).length;
    r.extra('TASKHUB_START_RATE_LIMIT=5: 12 concurrent restarts accepted / 429; then 10 starts answered 400 and 5 good ones accepted', `${accepted} / ${limited}; ${good} of 5`);
    r.check('restarts count as starts and a 4xx start costs nothing', accepted <= 10 && limited >= 2 && good === 5, `${accepted} / ${limited}; ${good}`);
  } finally {
    await node.kill('SIGTERM');
  }
}
