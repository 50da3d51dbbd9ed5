/**
 * Every numeric query parameter of every route in openapi/openapi.json, walked automatically (a
 * route added later is covered without editing this file) with hostile values: 1e309, Infinity,
 * -1e309, NaN, hex, empty, below the minimum, above the maximum, fractions where an integer is
 * declared, and property-generated ones out of range. Each is a 400 that names the parameter, never
 * a 5xx, within a few seconds (a `timeout` that escaped its cap would wait for ever), and changes
 * no row.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { App } from '../../src/app.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { assertErrorBody, buildHttpApp, instanceIn, snapshot } from './support.ts';

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: { type?: string; minimum?: number; maximum?: number; description?: string };
}
interface Target {
  method: string;
  path: string;
  parameter: Parameter;
  others: Parameter[];
}

const doc = JSON.parse(readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { parameters?: Parameter[] }>>;
};

function numericTargets(): Target[] {
  const targets: Target[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const parameters = operation.parameters ?? [];
      for (const parameter of parameters) {
        if (parameter.in !== 'query' || !['number', 'integer'].includes(parameter.schema?.type ?? '')) continue;
        targets.push({ method: method.toUpperCase(), path, parameter, others: parameters.filter((p) => p !== parameter) });
      }
    }
  }
  return targets;
}

/** Values no numeric parameter may accept, whatever its bounds. */
const ALWAYS_BAD = ['1e309', '-1e309', 'Infinity', '-Infinity', 'NaN', 'nan', '0x10', '0b1', '', ' ', '1e', 'abc', '1,5', '9'.repeat(400)];

function hostile(schema: NonNullable<Parameter['schema']>): fc.Arbitrary<string> {
  const arbitraries: fc.Arbitrary<string>[] = [fc.constantFrom(...ALWAYS_BAD)];
  if (schema.minimum !== undefined) {
    const min = schema.minimum;
    // Filtered on the text: String(-0) is '0', which is in range.
    arbitraries.push(fc.double({ max: min, maxExcluded: true, noNaN: true }).map(String).filter((t) => Number(t) < min));
    arbitraries.push(fc.constantFrom(String(min - 1), String(min - 1e-9), '-1e308'));
  }
  if (schema.maximum !== undefined) {
    const max = schema.maximum;
    arbitraries.push(fc.double({ min: max, minExcluded: true, noNaN: true }).map(String).filter((t) => Number(t) > max));
    arbitraries.push(fc.constantFrom(String(max + 1), `${max}.5`, '1e308', String(Number.MAX_SAFE_INTEGER * 4)));
  }
  if (schema.type === 'integer') {
    const low = schema.minimum ?? -1e6;
    const high = schema.maximum ?? 1e6;
    arbitraries.push(fc.integer({ min: Math.ceil(low), max: Math.floor(high) - 1 }).map((n) => `${n}.5`));
  }
  arbitraries.push(fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(s)));
  return fc.oneof(...arbitraries);
}

/** A valid value for every other parameter the route requires (path segments, required query). */
function fill(target: Target, ids: { active: string }): { url: string } {
  let url = target.path;
  const query: string[] = [];
  for (const p of target.others) {
    const value =
      p.name === 'functionName' ? 'HelloSequence' : p.name === 'instanceId' ? ids.active : /ISO 8601/.test(p.schema?.description ?? '') ? '2020-01-01T00:00:00Z' : 'x';
    if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(value));
    else if (p.in === 'query' && p.required) query.push(`${p.name}=${encodeURIComponent(value)}`);
  }
  return { url: `${url}?${query.join('&')}${query.length > 0 ? '&' : ''}` };
}

describe('numeric query parameters (every route in openapi/openapi.json)', () => {
  let hub: TestHub;
  let app: App;
  let active: string;
  before(async () => {
    hub = await startTestHub();
    app = await buildHttpApp(hub);
    active = await instanceIn(hub, 'active');
    await instanceIn(hub, 'completed');
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  const targets = numericTargets();
  it('finds the numeric parameters in the document (top, timeout, pollingInterval at least)', () => {
    const names = new Set(targets.map((t) => t.parameter.name));
    for (const name of ['top', 'timeout', 'pollingInterval']) assert.ok(names.has(name), `${name} not found among ${[...names].join(', ')}`);
  });

  for (const target of targets) {
    it(`${target.method} ${target.path} ?${target.parameter.name}: hostile values are a 400 naming it, no row changed`, async () => {
      const before = await snapshot(hub);
      const { url } = fill(target, { active });
      await fc.assert(
        fc.asyncProperty(hostile(target.parameter.schema ?? {}), async (value) => {
          const request = app.inject({ method: target.method as 'GET', url: `${url}${target.parameter.name}=${encodeURIComponent(value)}` });
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within 5 s for ${target.parameter.name}=${value}`)), 5000);
          });
          const res = await Promise.race([request, late]).finally(() => clearTimeout(timer));
          const parsed = assertErrorBody(res, 400, 'VALIDATION');
          assert.equal((parsed as { parameter?: string }).parameter, target.parameter.name, res.body);
          assert.match(parsed.Message, new RegExp(`'${target.parameter.name}'`));
        }),
        { numRuns: 150, endOnFailure: true },
      );
      assert.deepEqual(await snapshot(hub), before);
    });
  }

  it('accepts the values in range, as decimal text (a control: the guard is not a blanket 400)', async () => {
    for (const value of ['1', '1000', '1e2', ' 50', '+7']) {
      const res = await app.inject({ method: 'GET', url: `/runtime/webhooks/durabletask/instances?top=${encodeURIComponent(value)}` });
      assert.equal(res.statusCode, 200, `top=${value}: ${res.body}`);
    }
  });
});
