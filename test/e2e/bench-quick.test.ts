/**
 * `npm run bench -- --quick` prints and leaves the repository alone: BENCHMARKS.md and
 * bench/results/ stay as committed (only `--write` on a full run records a run).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT } from '../helpers/process.ts';

/** Benchmark runs still going: a test that times out must not leave one (and its servers) running. */
const running = new Set<number>();
after(() => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL'); // its process group: the bench, its servers and its PostgreSQL
    } catch {
      // already gone
    }
  }
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', 'bench/run.ts', ...args], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    if (child.pid !== undefined) running.add(child.pid);
    child.on('exit', () => child.pid !== undefined && running.delete(child.pid));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const snapshot = (): string =>
  createHash('sha256')
    .update(readFileSync(path.join(ROOT, 'BENCHMARKS.md')))
    .update(readdirSync(path.join(ROOT, 'bench', 'results')).sort().join('\n'))
    .digest('hex');

describe('npm run bench -- --quick', () => {
  it('prints the results table and writes nothing in the repository', async () => {
    const before = snapshot();
    const { code, stdout, stderr } = await run(['--quick', '--only=pg']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /## Results/);
    assert.match(stdout, /Postgres single-row INSERT commits\/s, 1 connection \| [\d,.]+ /);
    assert.match(stderr, /BENCHMARKS\.md left as it is/);
    assert.equal(snapshot(), before, 'BENCHMARKS.md and bench/results/ unchanged');
  });

  it('--write with --quick is refused in one line, before anything runs', async () => {
    const { code, stderr } = await run(['--quick', '--write']);
    assert.equal(code, 1);
    assert.equal(stderr.trim(), 'bench: --write records a full run only: drop --quick, --only and --scale');
  });
});
