/**
 * The dependency rules of ARCHITECTURE.md are lint rules (eslint.config.js); this shows each of
 * them failing on a deliberate violation (test/fixtures/lint/), passing where the same import is
 * allowed, and the repository itself clean of them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';
import { ALLOWED, CASES } from '../fixtures/lint/violations.ts';

const eslint = new ESLint({ ignore: false });

async function rulesFired(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => m.ruleId ?? `fatal: ${m.message}`);
}

describe('dependency rules (lint)', () => {
  for (const c of CASES) {
    it(`refuses in ${c.as}: ${c.code.split('\n')[0]}`, async () => {
      const fired = await rulesFired(c.code, c.as);
      assert.ok(fired.includes(c.rule), `expected ${c.rule}, got ${JSON.stringify(fired)}`);
    });
  }

  for (const c of ALLOWED) {
    it(`allows in ${c.as}: ${c.code.split('\n')[0]}`, async () => {
      assert.deepEqual(await rulesFired(c.code, c.as), []);
    });
  }

  it('refuses an import cycle (import-x/no-cycle)', async () => {
    const results = await eslint.lintFiles(['test/fixtures/lint/cycle/a.ts']);
    const fired = results.flatMap((r) => r.messages.map((m) => m.ruleId));
    assert.ok(fired.includes('import-x/no-cycle'), JSON.stringify(results.map((r) => r.messages)));
  });

  it('the source tree itself breaks none of them', async () => {
    const results = await eslint.lintFiles(['src/']);
    const broken = results.flatMap((r) =>
      r.messages.filter((m) => ['no-restricted-imports', 'import-x/no-cycle'].includes(m.ruleId ?? '')).map((m) => `${r.filePath}: ${m.message}`),
    );
    assert.deepEqual(broken, []);
  });
});
