/**
 * Scenario 9: authorization. With TASKHUB_KEY set, every control-plane route answers 401 (empty
 * body) without the key, with a wrong key in the header, with a wrong key in `code`, and with a
 * wrong header next to a right `code` (the header wins); with the right key in the header or in
 * `code` it is served. The key never appears in the process's output (logs at debug level, request
 * lines included).
 */
import { randomBytes } from 'node:crypto';
import { setup } from '../lib/harness.ts';
import { Api, BASE_PATH, json, type Reply, send } from '../lib/http.ts';
import { Recorder, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';

export const id = 'auth';
export const title = 'Authorization on every route; the key never logged';

interface Route {
  method: string;
  path: string;
  body?: string;
}

function routes(instanceId: string, waitingId: string): Route[] {
  const from = encodeURIComponent(new Date(Date.now() - 3600_000).toISOString());
  return [
    { method: 'POST', path: '/orchestrators/RelSequence', body: '{"steps":1}' },
    { method: 'POST', path: `/orchestrators/RelSequence/auth-${randomBytes(4).toString('hex')}`, body: '{"steps":1}' },
    { method: 'GET', path: '/orchestrators' },
    { method: 'GET', path: `/instances/${instanceId}` },
    { method: 'GET', path: `/instances/${instanceId}?showHistory=true&showHistoryOutput=true` },
    { method: 'GET', path: '/instances' },
    { method: 'GET', path: '/instances?runtimeStatus=Completed&top=5' },
    { method: 'DELETE', path: '/instances/no-such-instance' },
    { method: 'DELETE', path: `/instances?createdTimeFrom=${from}&runtimeStatus=Terminated` },
    { method: 'POST', path: `/instances/${waitingId}/raiseEvent/Other`, body: '"x"' },
    { method: 'POST', path: `/instances/${waitingId}/suspend?reason=auth` },
    { method: 'POST', path: `/instances/${waitingId}/resume?reason=auth` },
    { method: 'POST', path: `/instances/${instanceId}/rewind?reason=auth` },
    { method: 'POST', path: `/instances/${instanceId}/restart?restartWithNewInstanceId=true` },
    { method: 'POST', path: `/instances/no-such-instance/terminate?reason=auth` },
  ];
}

type Variant = 'none' | 'wrong header' | 'wrong code' | 'wrong header + right code' | 'right header' | 'right code' | 'right header + wrong code';
const DENIED: Variant[] = ['none', 'wrong header', 'wrong code', 'wrong header + right code'];
const ALLOWED: Variant[] = ['right header', 'right code', 'right header + wrong code'];

function withKey(origin: string, route: Route, variant: Variant, key: string): { url: string; headers: Record<string, string> } {
  const wrong = `${key.slice(0, -1)}${key.endsWith('0') ? '1' : '0'}`;
  const headers: Record<string, string> = route.body ? { 'content-type': 'application/json' } : {};
  let code: string | undefined;
  if (variant === 'wrong header' || variant === 'wrong header + right code') headers['x-functions-key'] = wrong;
  if (variant === 'right header' || variant === 'right header + wrong code') headers['x-functions-key'] = key;
  if (variant === 'wrong code' || variant === 'right header + wrong code') code = wrong;
  if (variant === 'right code' || variant === 'wrong header + right code') code = key;
  const sep = route.path.includes('?') ? '&' : '?';
  return { url: `${origin}${BASE_PATH}${route.path}${code === undefined ? '' : `${sep}code=${encodeURIComponent(code)}`}`, headers };
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  const key = `Rk${randomBytes(16).toString('hex')}`;
  r.fault = 'requests without the key, with a wrong key (header, query, both), and with the right one';
  const s = await setup(id, { TASKHUB_KEY: key });
  return runScenario(
    r,
    async () => {
      const node = await s.cluster.start({ name: 'all-1', role: 'all', logLevel: 'debug', keepRequestLogs: true });
      const api = new Api(node.url, key);
      const done = json<{ id: string }>(await api.start('RelSequence', { steps: 1 }));
      const failing = json<{ id: string }>(await api.start('RelFail', 'auth'));
      const waiting = json<{ id: string }>(await api.start('RelTwoEvents'));
      if (!done || !failing || !waiting) throw new Error('could not start the fixture instances with the key');
      const list = routes(failing.id, waiting.id);
      r.load = `${list.length} routes × ${DENIED.length + ALLOWED.length} key variants; 1 all-role process at LOG_LEVEL=debug`;

      let requests = 0;
      const wrongDenied: string[] = [];
      const wrongAllowed: string[] = [];
      const nonEmpty401: string[] = [];
      for (const route of list) {
        for (const variant of [...DENIED, ...ALLOWED]) {
          const { url, headers } = withKey(node.url, route, variant, key);
          const reply: Reply = await send(url, { method: route.method, headers, body: route.body });
          requests++;
          const label = `${route.method} ${route.path.split('?')[0]} [${variant}] → ${reply.status}`;
          if (DENIED.includes(variant)) {
            if (reply.status !== 401) wrongDenied.push(label);
            else if (reply.text !== '') nonEmpty401.push(label);
          } else if (reply.status === 401 || reply.status >= 500 || reply.status === 0) {
            wrongAllowed.push(label);
          }
        }
      }
      r.extra('requests', requests);
      r.check('without the key or with a wrong one: 401 on every route', wrongDenied.length === 0, wrongDenied.slice(0, 6).join('; ') || `${list.length * DENIED.length} requests`);
      r.check('401 bodies are empty', nonEmpty401.length === 0, nonEmpty401.slice(0, 4).join('; '));
      r.check('with the right key (header, query, header winning over a wrong query): served, no 5xx', wrongAllowed.length === 0, wrongAllowed.slice(0, 6).join('; ') || `${list.length * ALLOWED.length} requests`);

      const unknown = await send(`${node.url}${BASE_PATH}/no-such-route`);
      r.finding('an unknown path under the base path without a key: 401 (reveals no route map)', unknown.status === 401, `answered ${unknown.status}`);

      // Outside the control plane: what answers without a key (health probes must).
      const open: string[] = [];
      for (const path of ['/healthz', '/readyz', '/openapi.json', '/docs']) {
        const reply = await send(`${node.url}${path}`);
        if (reply.status !== 401 && reply.status !== 404) open.push(`${path} ${reply.status}`);
      }
      r.note(`Routes outside the control plane answering without a key: ${open.join(', ') || 'none'}.`);
      r.check('health probes answer without a key', open.some((o) => o.startsWith('/healthz 200')), open.join(', '));

      await new Promise((resolve) => setTimeout(resolve, 300)); // the last log lines
      const output = node.output();
      const leaks = [key, encodeURIComponent(key), Buffer.from(key).toString('base64')].filter((k) => output.includes(k));
      r.extra('log bytes searched', output.length);
      r.check('the key never appears in the process output (debug logs, request lines included)', leaks.length === 0, leaks.length ? `found ${leaks.length} form(s) of the key` : `${output.split('\n').length} lines`);
      r.check('the request lines were logged (so the search means something)', /"msg":"(GET|POST) \//.test(output), '');
      r.figures.instances = Number((await s.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM taskhub.instances')).rows[0]?.n ?? 0);
    },
    s.cleanup,
  );
}
