/**
 * The README's curl sessions, run as printed, top to bottom, against a fresh server process (one
 * per session), and every answer they show checked: the status (an `HTTP/1.1 NNN` line, a
 * trailing `(NNN)` or a `# NNN` comment), each header shown, and the body, where `…`, times and
 * generated 32-hex IDs stand for what differs from run to run. A GET whose answer depends on work
 * finishing (an instance completing) is repeated until it matches, as one would by hand.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { killAll, ROOT, spawnNode, waitForLog } from './helpers/server.ts';

interface Step {
  command: string;
  /** Expected lines (continuations joined). */
  expected: string[];
  /** A status from the command's own comment (`# 202`, `# HTTP/1.1 200 OK, …`). */
  inlineStatus: number | undefined;
}

/** The shell blocks between `<!-- tour` and `<!-- /tour -->`, one session per marker. */
function tours(): string[][] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const sessions: string[][] = [];
  for (const m of readme.matchAll(/<!-- tour[^>]*-->([\s\S]*?)<!-- \/tour -->/g)) {
    const lines = [...(m[1] as string).matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((b) => (b[1] as string).split('\n'));
    sessions.push(lines.filter((l) => l.trim() !== ''));
  }
  return sessions;
}

function parse(lines: string[]): Step[] {
  const steps: Step[] = [];
  for (const line of lines) {
    if (line.startsWith('#')) {
      const step = steps.at(-1);
      assert.ok(step, `an answer before any command: ${line}`);
      // A remark in parentheses at the end of a line ("(the other two …)") is prose, a status is not.
      const text = line.replace(/^#\s?/, '').replace(/\s{2,}\((?!\d{3}[;)])[^)]*\)\s*$/, '');
      if (/^\s/.test(text) && step.expected.length > 0) step.expected[step.expected.length - 1] += text.trim();
      else step.expected.push(text.trim());
      continue;
    }
    const [command, comment] = line.split(/\s{2,}#\s/, 2) as [string, string | undefined];
    const status = comment === undefined ? undefined : /^(?:HTTP\/1\.1 )?(\d{3})\b/.exec(comment.trim())?.[1];
    steps.push({ command: command.trim(), expected: [], inlineStatus: status === undefined ? undefined : Number(status) });
  }
  return steps;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A shown answer → a pattern: `…`, times and 32-hex IDs match anything of their kind. */
function pattern(shown: string): RegExp {
  const parts = shown.split(/\s*…\s*/).map((part) =>
    escape(part)
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\\\.\d+)?Z/g, '\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z')
      .replace(/\b[0-9a-f]{32}\b/g, '[0-9a-f]{32}'),
  );
  return new RegExp(parts.join('[\\s\\S]*?'));
}

interface Expectation {
  status: number | undefined;
  headers: RegExp[];
  body: RegExp | undefined;
}

function expectation(step: Step): Expectation {
  let status = step.inlineStatus;
  const headers: RegExp[] = [];
  let body: RegExp | undefined;
  for (const line of step.expected) {
    const http = /^HTTP\/1\.1 (\d{3})\b/.exec(line);
    if (http) {
      status = Number(http[1]);
      continue;
    }
    if (/^[A-Za-z][A-Za-z0-9-]*: /.test(line)) {
      const [name, value] = [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)];
      headers.push(new RegExp(`^${escape(name)}: ${pattern(value).source}\\r?$`, 'im'));
      continue;
    }
    if (/^[[{"]/.test(line)) {
      const annotated = /^(.*?)\s{2,}\((\d{3})[;)].*$/.exec(line);
      if (annotated) status = Number(annotated[2]);
      body = pattern((annotated ? annotated[1] : line) as string);
    }
    // Anything else is prose ("the next page; …").
  }
  return { status, headers, body };
}

function sh(command: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}

const databases: TestDatabase[] = [];
after(async () => {
  await killAll();
  for (const db of databases) await db.drop().catch(() => undefined);
});

describe("the README's curl sessions, as printed", () => {
  const sessions = tours();
  it('the README has them', () => assert.ok(sessions.length >= 2 && sessions.every((s) => s.length > 3)));

  sessions.forEach((lines, n) => {
    it(`session ${n + 1} (${parse(lines).length} commands): every answer as shown`, async () => {
      const db = await createTestDatabase('taskhub_e2e');
      databases.push(db);
      const port = await freePort();
      const server = spawnNode({ DATABASE_URL: db.url, PORT: String(port), TASKHUB_PG_POOL_MAX: '4', LOG_LEVEL: 'info' });
      await waitForLog(server, 'pg-taskhub started');
      const local = (text: string): string => text.replaceAll('127.0.0.1:7071', `127.0.0.1:${port}`);
      const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
      let checked = 0;
      for (const step of parse(lines)) {
        const command = local(step.command);
        const assignment = /^([A-Z]+)=(.*)$/.exec(command);
        if (assignment) {
          env[assignment[1] as string] = (await sh(`printf %s ${assignment[2]}`, env)).trim();
          continue;
        }
        assert.match(command, /^curl /, `a curl command: ${command}`);
        const want = expectation({ ...step, expected: step.expected.map(local) });
        // -w: the status on a last line of its own, for the commands that do not print headers.
        const run = async (): Promise<{ status: number; output: string; problems: string[] }> => {
          const raw = await sh(`${command} -w '\\n%{http_code}'`, env);
          const status = Number(raw.slice(raw.lastIndexOf('\n') + 1));
          const output = raw.slice(0, raw.lastIndexOf('\n'));
          const problems: string[] = [];
          if (want.status !== undefined && status !== want.status) problems.push(`status ${status}, shown ${want.status}`);
          for (const h of want.headers) if (!h.test(output)) problems.push(`header ${h.source}`);
          if (want.body && !want.body.test(output)) problems.push(`body ${want.body.source}`);
          return { status, output, problems };
        };
        let result = await run();
        const idempotent = !/ -X (POST|DELETE)\b/.test(command);
        for (let tries = 0; idempotent && result.problems.length > 0 && tries < 100; tries++) {
          await new Promise((r) => setTimeout(r, 100)); // as one would run it again a moment later
          result = await run();
        }
        assert.deepEqual(result.problems, [], `${command}\n${result.output}`);
        checked += want.status !== undefined || want.body !== undefined ? 1 : 0;
      }
      assert.ok(checked > 3, `${checked} answers checked`);
      server.signal('SIGTERM');
      await server.exited;
    });
  });
});
