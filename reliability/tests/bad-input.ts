/**
 * Scenario 8: bad input. Property-based (fast-check) requests over every route and parameter of the
 * control plane (http-api.md): odd methods, odd and malformed path values (over-long, reserved,
 * control characters, broken percent-encoding), every query parameter with junk values and odd
 * name cases, odd content types, forged continuation tokens, bodies that are not JSON, empty or too
 * large. Against an api-only process (no worker, so only requests change the database):
 *
 *  - no 5xx (the one documented 500, a Failed instance's status with
 *    returnInternalServerErrorOnFailure=true, must carry the status payload) and no dropped connection;
 *  - no stack trace, SQL or internal path in any body;
 *  - 4xx bodies are `{"Message": …}` JSON (401, a status 404 and HEAD are empty by contract);
 *  - a rejected request (4xx) changed no row (fingerprint of instances, history, inbox, jobs).
 *
 * Before them, the hostile cases of issue 11, measured one by one (bad-input-hardening.ts).
 */
import fc from 'fast-check';
import { setup, waitEnded } from '../lib/harness.ts';
import { Api, BASE_PATH, json, type Reply, send } from '../lib/http.ts';
import { sleep } from '../lib/procs.ts';
import { Recorder, round, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';
import { hostileRequests, timerOutOfRange, urlsAndKeys } from './bad-input-hardening.ts';

export const id = 'bad-input';
export const title = 'Bad input: generated requests over every route and parameter';

const BODY_LIMIT = 65_536;
const SEED = 7_2024;

interface GeneratedRequest {
  method: string;
  /** Path segments after the base path (already encoded), or an absolute path when it starts with '/'. */
  path: string;
  query: Array<[string, string]>;
  headers: Record<string, string>;
  body: string | undefined;
}

const QUERY_NAMES = [
  'taskHub', 'connection', 'code', 'showHistory', 'showHistoryOutput', 'showInput', 'returnInternalServerErrorOnFailure',
  'createdTimeFrom', 'createdTimeTo', 'runtimeStatus', 'instanceIdPrefix', 'top', 'reason', 'restartWithNewInstanceId',
  'onConflict', 'timeout', 'pollingInterval',
];

/** Raw path pieces that are malformed or reserved once they reach the router. */
const NASTY_RAW = ['%', '%ZZ', '%E0%A4%A', '%00', '%2F', '%2e%2e', '..', '.', '%C0%AF', '%FF', '%u0041', '@entity', '%40x', '%3F', '%23', '%5C', '%0A', '%7F'];

const textArb = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', ' ', 'null', 'true', 'false', '0', '-1', '1e309', 'NaN', '[]', '{}', "'; DROP TABLE instances; --", '\u0000', '\u202e', '%', '..'),
  fc.string({ minLength: 250, maxLength: 300 }),
);

const dateArb = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2024-02-30T00:00:00Z', '0000-00-00', '2024-13-01', '99999-01-01T00:00:00Z', '2024-01-01T25:00:00Z', '2024-01-01T00:00:00+25:00', 'yesterday', '1700000000'),
  textArb,
);

function valueFor(name: string): fc.Arbitrary<string> {
  switch (name) {
    case 'createdTimeFrom':
    case 'createdTimeTo':
      return dateArb;
    case 'top':
      return fc.oneof(fc.integer({ min: -5, max: 2000 }).map(String), fc.constantFrom('0', '1.5', '1e3', 'x', '', '99999999999999999999'), textArb);
    case 'timeout':
    case 'pollingInterval':
      // Small waits only (no worker runs, so a valid wait lasts its whole timeout).
      return fc.oneof(fc.constantFrom('0', '0.2', '1', '-1', '3601', '1e9', 'NaN', 'x', ''), fc.double({ min: -10, max: 1, noNaN: true }).map(String));
    case 'runtimeStatus':
      return fc.oneof(
        fc.array(fc.constantFrom('Running', 'completed', 'FAILED', '0', '1', '3', '5', '6', '7', '9', '-1', 'Nope', ''), { maxLength: 4 }).map((a) => a.join(',')),
        textArb,
      );
    case 'onConflict':
      return fc.oneof(fc.constantFrom('fail', 'useExisting', 'terminateExisting', 'USEEXISTING', ''), textArb);
    default:
      return fc.oneof(fc.constantFrom('true', 'false', 'TRUE', 'yes', '1', ''), textArb);
  }
}

const queryNameArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...QUERY_NAMES) },
  { weight: 2, arbitrary: fc.constantFrom(...QUERY_NAMES).map((n) => n.toUpperCase()) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'hasOwnProperty', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

const queryArb = fc.array(queryNameArb.chain((name) => valueFor(name).map((value): [string, string] => [name, value])), { maxLength: 6 });

const headersArb = fc.record(
  {
    'content-type': fc.oneof(
      fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', ';;;', 'application/json; charset=latin1'),
      fc.string({ maxLength: 30 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
    ),
    'x-ms-continuation-token': fc.oneof(
      fc.base64String({ maxLength: 80 }),
      fc.constantFrom('', 'eyJ9', 'e30=', 'eyJjcmVhdGVkQXQiOiJ4IiwiaW5zdGFuY2VJZCI6MX0=', 'null', '%%%', 'W10='),
      fc.string({ maxLength: 40 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
    ),
    'x-functions-key': fc.string({ maxLength: 20 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
  },
  { requiredKeys: [] },
);

const bodyArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 2, arbitrary: textArb },
  { weight: 1, arbitrary: fc.constantFrom('{', '{"a":', '[1,', 'undefined', '\u0000', '{"__proto__":{"x":1}}', '"\\ud800"', '1'.repeat(400)) },
  { weight: 1, arbitrary: fc.constant(JSON.stringify({ pad: 'x'.repeat(BODY_LIMIT + 10) })) },
);

function segmentArb(known: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...known).map(encodeURIComponent) },
    { weight: 3, arbitrary: textArb.map(encodeURIComponent) },
    { weight: 2, arbitrary: fc.constantFrom(...NASTY_RAW) },
    { weight: 1, arbitrary: fc.string({ minLength: 257, maxLength: 300 }).map(encodeURIComponent) },
  );
}

function requestArb(ids: string[]): fc.Arbitrary<GeneratedRequest> {
  const names = ['RelSequence', 'relsequence', 'RelFail', 'RelTwoEvents', 'RelFanOut', 'NoSuchOrchestration'];
  const id = segmentArb(ids);
  const name = segmentArb(names);
  const event = segmentArb(['Go', 'go', 'Other']);
  const lit = (s: string): fc.Arbitrary<string> => fc.constantFrom(s, s, s, s.toUpperCase(), `${s}/`);
  const action = fc.constantFrom('terminate', 'suspend', 'resume', 'rewind', 'restart', 'TERMINATE', 'purge', 'raiseEvent');
  // Each path with the method its route takes (mostly) or any other (the 405/404 paths).
  const routes: Array<[fc.Arbitrary<string>, string]> = [
    [fc.tuple(lit('orchestrators'), name).map(([a, b]) => `${a}/${b}`), 'POST'],
    [fc.tuple(lit('orchestrators'), name, id).map(([a, b, c]) => `${a}/${b}/${c}`), 'POST'],
    [lit('orchestrators'), 'GET'],
    [lit('instances'), 'GET'],
    [lit('instances'), 'DELETE'],
    [fc.tuple(lit('instances'), id).map(([a, b]) => `${a}/${b}`), 'GET'],
    [fc.tuple(lit('instances'), id).map(([a, b]) => `${a}/${b}`), 'DELETE'],
    [fc.tuple(lit('instances'), id, event).map(([a, b, c]) => `${a}/${b}/raiseEvent/${c}`), 'POST'],
    [fc.tuple(lit('instances'), id, action).map(([a, b, c]) => `${a}/${b}/${c}`), 'POST'],
    [lit('schedules'), 'GET'],
    [fc.constantFrom('/healthz', '/readyz', '/openapi.json', ''), 'GET'],
    [fc.array(segmentArb(['instances', 'orchestrators', 'x']), { minLength: 1, maxLength: 6 }).map((p) => p.join('/')), 'GET'],
  ];
  const anyMethod = fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS');
  const route = fc.oneof(
    ...routes.map(([path, usual]) =>
      fc.tuple(path, fc.oneof({ weight: 6, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: anyMethod })).map(([p, m]) => ({ path: p, method: m })),
    ),
  );
  return fc.tuple(route, queryArb, headersArb, bodyArb).map(([rt, query, headers, body]) => ({ ...rt, query, headers, body }));
}

function urlOf(origin: string, req: GeneratedRequest): string {
  const path = req.path.startsWith('/') ? req.path : `${BASE_PATH}/${req.path}`;
  const query = req.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return `${origin}${path}${query ? `?${query}` : ''}`;
}

const LEAKS: Array<[string, RegExp]> = [
  ['stack trace', /\n\s+at\s|\bat\s+\S+\s+\((?:file:|node:|\/)[^)]*:\d+:\d+\)/],
  ['internal path', /node_modules|\/work\/|\/src\/[\w/-]+\.ts|file:\/\//],
  ['SQL error', /syntax error at or near|violates (?:unique|foreign|check|not-null)|relation "|column "|duplicate key value|SQLSTATE|invalid input syntax for/i],
  ['SQL text', /\b(?:SELECT\s+[\w*,\s]+\s+FROM\s+\w|INSERT\s+INTO\s+\w|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s+\w)/i],
];

/** Every finding about one request, or none. */
function judge(req: GeneratedRequest, reply: Reply, rowsChanged: boolean): string[] {
  const problems: string[] = [];
  if (reply.status === 0) problems.push(`no response (${reply.error})`);
  if (reply.status >= 500) {
    const body = json<{ runtimeStatus?: string }>(reply);
    const documented = reply.status === 500 && body?.runtimeStatus === 'Failed';
    if (!documented) problems.push(`5xx: ${reply.status} ${reply.text.slice(0, 160)}`);
  }
  for (const [kind, pattern] of LEAKS) if (pattern.test(reply.text)) problems.push(`${kind} in body: ${reply.text.slice(0, 200)}`);
  if (reply.status >= 400 && reply.status < 500 && rowsChanged) problems.push(`rejected with ${reply.status} but rows changed`);
  return problems;
}

/** Contract shape of 4xx bodies: JSON with a Message (401, a status 404 and HEAD are empty). */
function shapeProblem(req: GeneratedRequest, reply: Reply): string | undefined {
  if (reply.status < 400 || reply.status >= 500 || req.method === 'HEAD' || reply.status === 401) return undefined;
  if (reply.status === 404 && reply.text === '') return undefined;
  const body = json<{ Message?: unknown }>(reply);
  return body && typeof body.Message === 'string' ? undefined : `${req.method} ${req.path} → ${reply.status} ${JSON.stringify(reply.text.slice(0, 100))}`;
}

const FINGERPRINT = `
  SELECT md5(coalesce(string_agg(x, '|' ORDER BY x), '')) AS fp FROM (
    SELECT 'i' || instance_id || runtime_status || execution_id || history_length || updated_at || coalesce(wake_at::text, '') AS x FROM taskhub.instances
    UNION ALL SELECT 'h' || instance_id || execution_id || seq FROM taskhub.history
    UNION ALL SELECT 'm' || instance_id || message_id FROM taskhub.inbox
    UNION ALL SELECT 'j' || id || state FROM taskhub_boss.job) t`;

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  const runs = options.mode === 'test' ? 300 : options.mode === 'quick' ? 1000 : 3000;
  r.fault = 'malformed, oversized, mistyped and hostile requests (fast-check, seeded)';
  r.load = `${runs} generated requests, one at a time, against an api-only process (TASKHUB_BODY_LIMIT=${BODY_LIMIT}); seed ${SEED}`;
  const s = await setup(id, { TASKHUB_BODY_LIMIT: String(BODY_LIMIT) });
  return runScenario(
    r,
    async () => {
      // Fixtures in every state, made by a full process, which then stops.
      const maker = await s.cluster.start({ name: 'all-1', role: 'all' });
      const api = new Api(maker.url);
      const startOne = async (name: string, input?: unknown): Promise<string> => {
        const body = json<{ id: string }>(await api.start(name, input));
        if (!body) throw new Error(`could not start ${name}`);
        return body.id;
      };
      const completed = [await startOne('RelSequence', { steps: 1 }), await startOne('RelSequence', { steps: 2 })];
      const failed = [await startOne('RelFail', 'bad input fixture'), await startOne('RelFail', 'second')];
      const waiting = [await startOne('RelTwoEvents'), await startOne('RelTwoEvents'), await startOne('RelTwoEvents')];
      await sleep(1000);
      await api.action(waiting[1] as string, 'terminate', 'fixture');
      await api.action(waiting[2] as string, 'suspend', 'fixture');
      await waitEnded(s.db, [...completed, ...failed, waiting[1] as string], 30_000);
      await timerOutOfRange(r, s.db, api);
      await maker.kill('SIGTERM');
      const node = await s.cluster.start({ name: 'api-1', role: 'api' });
      const ids = [...completed, ...failed, ...waiting];
      await hostileRequests(r, s.db, node);
      await urlsAndKeys(r, s.cluster, completed[0] as string);

      const fingerprint = async (): Promise<string> => (await s.db.pool.query<{ fp: string }>(FINGERPRINT)).rows[0]?.fp ?? '';
      const samples = fc.sample(requestArb(ids), { numRuns: runs, seed: SEED });
      const statuses: Record<string, number> = {};
      const problems: string[] = [];
      const shapes: string[] = [];
      let clientErrors = 0;
      let rejected = 0;
      let before = await fingerprint();
      const started = Date.now();
      const execute = async (req: GeneratedRequest): Promise<{ reply: Reply; changed: boolean }> => {
        const reply = await send(urlOf(node.url, req), {
          method: req.method,
          headers: req.headers,
          body: req.method === 'GET' || req.method === 'HEAD' ? undefined : req.body,
          timeoutMs: 15_000,
        });
        const after = await fingerprint();
        const changed = after !== before;
        before = after;
        return { reply, changed };
      };
      for (const req of samples) {
        const { reply, changed } = await execute(req);
        if (reply.status === 0 && /Invalid URL|invalid header|Headers|ByteString/i.test(reply.error ?? '')) {
          clientErrors++; // fetch itself refused to send it
          continue;
        }
        statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
        if (reply.status >= 400 && reply.status < 500) rejected++;
        for (const p of judge(req, reply, changed)) problems.push(`${req.method} ${urlOf('', req).slice(0, 160)} → ${p}`);
        const shape = shapeProblem(req, reply);
        if (shape) shapes.push(shape);
      }
      const seconds = (Date.now() - started) / 1000;
      r.figures.faultsInjected = runs - clientErrors;
      r.figures.instances = Number((await s.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM taskhub.instances')).rows[0]?.n ?? 0);
      r.extra('requests sent', runs - clientErrors);
      r.extra('requests fetch refused to send (invalid header or URL)', clientErrors);
      r.extra('responses by status', Object.entries(statuses).map(([k, v]) => `${k}: ${v}`).join(', '));
      r.extra('rejected (4xx) requests checked for row changes', rejected);
      r.extra('seconds', round(seconds));
      r.check('at least 1,000 generated requests (full and quick mode)', options.mode === 'test' || runs - clientErrors >= 1000, `${runs - clientErrors}`);
      const by = (kind: string): string[] => problems.filter((p) => p.includes(kind));
      r.check('no 5xx and no dropped connection', by('5xx').length + by('no response').length === 0, [...by('5xx'), ...by('no response')].slice(0, 3).join(' | '));
      r.check('no stack trace, SQL or internal path in any body', by('in body').length === 0, by('in body').slice(0, 3).join(' | '));
      r.check('no rows changed by a rejected request', by('rows changed').length === 0, by('rows changed').slice(0, 3).join(' | '));
      r.check('4xx bodies are {"Message": …} JSON (contract)', shapes.length === 0, `${shapes.length} not: ${shapes.slice(0, 3).join(' | ')}`);
      r.check('the process is still up', node.running(), '');

      if (problems.length > 0) {
        // Shrink the first failure to a minimal request, for the report.
        const shrunk = await fc.check(
          fc.asyncProperty(requestArb(ids), async (req) => {
            const { reply, changed } = await execute(req);
            return judge(req, reply, changed).length === 0 || (reply.status === 0 && /Invalid URL|invalid header|Headers|ByteString/i.test(reply.error ?? ''));
          }),
          { numRuns: runs, seed: SEED },
        );
        if (shrunk.counterexample) r.note(`Smallest failing request found by fast-check: ${JSON.stringify(shrunk.counterexample[0]).slice(0, 600)}`);
        r.note(`First problems: ${problems.slice(0, 8).join(' || ')}`);
      }
    },
    s.cleanup,
  );
}
