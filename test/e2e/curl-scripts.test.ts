/**
 * scripts/curl/*.sh, run as a user runs them (executables with a #!/bin/sh line; /bin/sh is dash
 * here, so they are checked as POSIX sh) against a LIVE server process with a key configured:
 * every operation, the key path (sent from TASKHUB_KEY; 401 without it), the answer on stdout, the
 * status and headers on stderr, exit 1 on a 4xx/5xx, exit 2 on a usage error, and path and query
 * values that need encoding.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { childEnv, exitWithin, killAll, ROOT, type ServerProcess, spawnNode, waitFor, waitForHttp } from './helpers/server.ts';

const DIR = path.join(ROOT, 'scripts/curl');
const SCRIPTS = ['start', 'status', 'list', 'raise', 'terminate', 'suspend', 'resume', 'rewind', 'restart', 'purge'];
const KEY = `k-${randomBytes(12).toString('hex')}`;
const noCurl = spawnSync('curl', ['--version']).error !== undefined;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The status from the "HTTP nnn" line on stderr. */
  status: number | undefined;
  json: any;
}

let db: TestDatabase;
let server: ServerProcess;
let url: string;

/** Runs scripts/curl/<name>.sh with TASKHUB_URL and TASKHUB_KEY (unless overridden) in its environment. */
function sh(name: string, args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(DIR, `${name}.sh`), args, {
      cwd: ROOT,
      env: childEnv({ TASKHUB_URL: url, TASKHUB_KEY: KEY, ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const status = /^HTTP (\d{3})$/m.exec(stderr)?.[1];
      let json: unknown;
      try {
        json = stdout.trim() === '' ? undefined : JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, status: status === undefined ? undefined : Number(status), json });
    });
  });
}

/** The script succeeded with this status. */
function ok(run: Run, status: number): Run {
  assert.equal(run.status, status, `expected HTTP ${status}:\n${run.stdout}\n${run.stderr}`);
  assert.equal(run.code, 0, run.stderr);
  return run;
}

/** The script failed (exit 1) with this status and error code, the body still printed. */
function failed(run: Run, status: number, code?: string): Run {
  assert.equal(run.status, status, `expected HTTP ${status}:\n${run.stdout}\n${run.stderr}`);
  assert.equal(run.code, 1, 'exit 1 on a 4xx/5xx');
  if (code !== undefined) assert.equal(run.json?.code, code, run.stdout);
  return run;
}

function header(run: Run, name: string): string | undefined {
  return new RegExp(`^${name}: (.*)$`, 'mi').exec(run.stderr)?.[1];
}

async function statusUntil(id: string, until: (s: any) => boolean, what: string): Promise<any> {
  return waitFor(
    `${id}: ${what}`,
    async () => {
      const run = await sh('status', [id]);
      return run.json !== undefined && until(run.json) ? run.json : undefined;
    },
    30_000,
    server,
  );
}

const uid = (prefix: string): string => `${prefix}-${randomBytes(5).toString('hex')}`;

describe('scripts/curl against a live server with a key', { skip: noCurl ? 'curl is not installed: the curl scripts cannot run' : false }, () => {
  before(async () => {
    db = await createTestDatabase('taskhub_e2e');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // A small pool: the test PostgreSQL is shared with the test files running alongside.
    server = spawnNode({ DATABASE_URL: db.url, PORT: String(port), TASKHUB_KEY: KEY, LOG_LEVEL: 'warn', TASKHUB_PG_POOL_MAX: '4', TASKHUB_SCHEDULES: 'false' });
    await waitForHttp(`${url}/healthz`, server, 60_000);
  });
  after(async () => {
    if (server?.running()) {
      server.signal('SIGTERM');
      await exitWithin(server, 30_000).catch(() => undefined);
    }
    await killAll();
    await db?.drop().catch(() => undefined);
  });

  it('has one executable POSIX sh script per operation, each refusing bad usage with exit 2', async () => {
    const present = readdirSync(DIR).filter((f) => f.endsWith('.sh') && !f.startsWith('_')).map((f) => f.replace(/\.sh$/, ''));
    assert.deepEqual(present.sort(), [...SCRIPTS].sort());
    for (const name of SCRIPTS) {
      const file = path.join(DIR, `${name}.sh`);
      accessSync(file, constants.X_OK);
      assert.match(readFileSync(file, 'utf8'), /^#!\/bin\/sh\n/);
      const syntax = spawnSync('sh', ['-n', file]);
      assert.equal(syntax.status, 0, `${name}.sh: ${syntax.stderr}`);
    }
    for (const name of SCRIPTS.filter((s) => s !== 'list')) {
      const run = await sh(name, []);
      assert.equal(run.code, 2, `${name}.sh without arguments`);
      assert.match(run.stderr, new RegExp(`^usage: ${name}\\.sh `));
      assert.equal(run.status, undefined, 'no request was sent');
    }
    assert.equal((await sh('list', ['unexpected'])).code, 2);
  });

  it('sends TASKHUB_KEY as x-functions-key: without it, 401 and exit 1', async () => {
    const anonymous = await sh('list', [], { TASKHUB_KEY: undefined });
    failed(anonymous, 401);
    assert.equal(anonymous.stdout, '', 'a 401 has no body');
    failed(await sh('list', [], { TASKHUB_KEY: 'wrong' }), 401);
    ok(await sh('list', []), 200);
  });

  it('start.sh (202, management payload, Location) and status.sh until Completed, with -H for history', async () => {
    const start = ok(await sh('start', ['HelloSequence']), 202);
    const id = start.json.id as string;
    assert.match(id, /^[0-9a-f]{32}$/);
    assert.equal(header(start, 'location'), start.json.statusQueryGetUri);
    assert.equal(header(start, 'retry-after'), '10');
    const done = await statusUntil(id, (s) => s.runtimeStatus === 'Completed', 'Completed');
    assert.deepEqual(done.output, ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
    const history = ok(await sh('status', ['-H', id]), 200);
    assert.deepEqual(
      history.json.historyEvents.map((e: { EventType: string }) => e.EventType),
      ['ExecutionStarted', 'TaskCompleted', 'TaskCompleted', 'TaskCompleted', 'ExecutionCompleted'],
    );
    assert.equal(history.json.historyEvents[1].Result, 'Hello Tokyo!', 'results with -H');
  });

  it('start.sh -i with an ID that needs encoding, a JSON input and -w (wait: 200 with the output); status.sh of a missing ID is 404, exit 1', async () => {
    const id = `café & co ${randomBytes(3).toString('hex')}`;
    const waited = ok(await sh('start', ['-i', id, '-w', '20', 'FanOutFanIn', '{"count": 4}']), 200);
    assert.equal(waited.json, 1 + 4 + 9 + 16);
    const status = ok(await sh('status', [id]), 200);
    assert.equal(status.json.instanceId, id);
    assert.deepEqual(status.json.input, { count: 4 });
    const missing = failed(await sh('status', [uid('missing')]), 404);
    assert.equal(missing.stdout, '');
    failed(await sh('start', ['NoSuchOrchestration']), 400);
  });

  it('list.sh pages through the continuation token (-c), shown on stderr', async () => {
    const prefix = uid('page');
    const ids = ['a', 'b', 'c'].map((x) => `${prefix}-${x}`);
    for (const id of ids) ok(await sh('start', ['-i', id, 'HelloSequence']), 202);
    const seen: string[] = [];
    const sizes: number[] = [];
    let token: string | undefined;
    do {
      const page = ok(await sh('list', ['-p', prefix, '-t', '2', ...(token ? ['-c', token] : [])]), 200);
      sizes.push(page.json.length);
      seen.push(...page.json.map((s: { instanceId: string }) => s.instanceId));
      token = header(page, 'x-ms-continuation-token');
      assert.ok(sizes.length <= 3, 'the listing ends');
    } while (token);
    assert.deepEqual(sizes, [2, 1]);
    assert.deepEqual(seen.sort(), ids);
    const filtered = ok(await sh('list', ['-p', prefix, '-s', 'Completed,Running,Pending']), 200);
    assert.equal(filtered.json.length, 3);
  });

  it('raise.sh: an Approval instance completes "approved"; raising again is 410', async () => {
    const id = uid('approval');
    ok(await sh('start', ['-i', id, 'Approval', '{"timeoutSeconds": 3600}']), 202);
    await statusUntil(id, (s) => s.customStatus === 'waiting for approval', 'waiting');
    const raised = ok(await sh('raise', [id, 'Approval', 'true']), 202);
    assert.equal(raised.stdout, '', 'a 202 without a body');
    const done = await statusUntil(id, (s) => s.runtimeStatus === 'Completed', 'Completed');
    assert.equal(done.output, 'approved');
    failed(await sh('raise', [id, 'Approval', 'true']), 410, 'INSTANCE_GONE');
    failed(await sh('raise', [uid('missing'), 'Approval']), 404, 'INSTANCE_NOT_FOUND');
  });

  it('suspend.sh, resume.sh (409 in the wrong state) and terminate.sh with a reason that needs encoding', async () => {
    const id = uid('lifecycle');
    ok(await sh('start', ['-i', id, 'Approval', '{"timeoutSeconds": 3600}']), 202);
    await statusUntil(id, (s) => s.customStatus === 'waiting for approval', 'waiting');
    ok(await sh('suspend', [id, 'maintenance window']), 202);
    await statusUntil(id, (s) => s.runtimeStatus === 'Suspended', 'Suspended');
    failed(await sh('suspend', [id]), 409);
    ok(await sh('resume', [id, 'done']), 202);
    await statusUntil(id, (s) => s.runtimeStatus === 'Running', 'Running');
    failed(await sh('resume', [id]), 409);
    const reason = 'done & dusted? 100% / "really"';
    ok(await sh('terminate', [id, reason]), 202);
    const terminated = await statusUntil(id, (s) => s.runtimeStatus === 'Terminated', 'Terminated');
    assert.equal(terminated.output, reason);
    failed(await sh('terminate', [id]), 410);
    failed(await sh('suspend', [id]), 410);
  });

  it('the single-instance 409 and -c useExisting (start.sh), on DataIngest held Suspended', async () => {
    const first = ok(await sh('start', ['DataIngest', '{"sources": 500}']), 202);
    const id = first.json.id as string;
    ok(await sh('suspend', [id, 'hold the slot']), 202);
    const conflict = failed(await sh('start', ['DataIngest', '{"sources": 1}']), 409, 'SINGLETON_ACTIVE');
    assert.equal(conflict.json.instanceId, id);
    assert.match(header(conflict, 'location') ?? '', new RegExp(`/instances/${id}\\?`));
    const existing = ok(await sh('start', ['-c', 'useExisting', 'DataIngest', '{"sources": 1}']), 200);
    assert.equal(existing.json.id, id);
    ok(await sh('terminate', [id, 'test over']), 202);
    await statusUntil(id, (s) => s.runtimeStatus === 'Terminated', 'Terminated');
  });

  it('rewind.sh brings a Failed RewindDemo back (410 once Completed); restart.sh starts again, with a new ID or (-s) the same', async () => {
    const id = uid('rewind');
    ok(await sh('start', ['-i', id, 'RewindDemo']), 202);
    await statusUntil(id, (s) => s.runtimeStatus === 'Failed', 'Failed');
    ok(await sh('rewind', [id, 'fixed it']), 202);
    const recovered = await statusUntil(id, (s) => s.runtimeStatus === 'Completed', 'Completed');
    assert.equal(recovered.output, 'recovered');
    failed(await sh('rewind', [id]), 410);

    const restarted = ok(await sh('restart', [id]), 202);
    assert.notEqual(restarted.json.id, id);
    const same = ok(await sh('restart', ['-s', id]), 202);
    assert.equal(same.json.id, id);
    failed(await sh('restart', [uid('missing')]), 400, 'UNKNOWN_INSTANCE');
  });

  it('purge.sh one instance (200, then 404) and many (-f … -s …)', async () => {
    const id = uid('purge');
    ok(await sh('start', ['-i', id, '-w', '20', 'HelloSequence']), 200);
    const purged = ok(await sh('purge', [id]), 200);
    assert.deepEqual(purged.json, { instancesDeleted: 1 });
    failed(await sh('purge', [id]), 404, 'INSTANCE_NOT_FOUND');
    failed(await sh('status', [id]), 404);

    const active = uid('active');
    ok(await sh('start', ['-i', active, 'Approval', '{"timeoutSeconds": 3600}']), 202);
    const purgedActive = ok(await sh('purge', [active]), 200); // terminated and purged in one transaction
    assert.deepEqual(purgedActive.json, { instancesDeleted: 1 });
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const many = ok(await sh('purge', ['-f', from, '-s', 'Completed']), 200);
    assert.ok(many.json.instancesDeleted >= 1, many.stdout);
    failed(await sh('purge', ['-f', from, '-s', 'Completed']), 404);
    failed(await sh('status', [active]), 404);
    assert.equal((await sh('purge', ['-t', from])).code, 2, 'neither an ID nor -f: usage');
  });
});
