/**
 * The one map from the engine's domain codes to HTTP (src/routes/errors.ts): every code has an
 * entry, and each lands on the status the wire contract (http-api.md) gives it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENGINE_ERROR_CODES, EngineError } from '../../src/orchestrator/engine-error.ts';
import { ERRORS } from '../../src/routes/api-error.ts';
import { ENGINE_ERRORS, fromEngine } from '../../src/routes/errors.ts';

describe('EngineError → HTTP', () => {
  it('maps every domain code, and nothing else', () => {
    assert.deepEqual(Object.keys(ENGINE_ERRORS).sort(), [...ENGINE_ERROR_CODES].sort());
  });

  it('gives each code its status', () => {
    const status = Object.fromEntries(ENGINE_ERROR_CODES.map((c) => [c, ERRORS[ENGINE_ERRORS[c]].status]));
    assert.deepEqual(status, {
      UNKNOWN_ORCHESTRATION: 400,
      INVALID_INSTANCE_ID: 400,
      INVALID_INPUT: 400,
      INSTANCE_NOT_FOUND: 404,
      INSTANCE_EXISTS: 409,
      SINGLETON_ACTIVE: 409,
      WRONG_STATE: 409,
      INSTANCE_ENDED: 410,
      PRECONDITION: 412,
      CONTENDED: 503,
      INVALID_ENTITY_ID: 400,
      UNKNOWN_ENTITY: 400,
    });
  });

  it('keeps the message and puts the details in the body fields', () => {
    const api = fromEngine(new EngineError('SINGLETON_ACTIVE', 'held', { instanceId: 'a', runtimeStatus: 'Running' }), { extra: 1 }, { location: '/x' });
    assert.equal(api.code, 'SINGLETON_ACTIVE');
    assert.equal(api.status, 409);
    assert.equal(api.message, 'held');
    assert.deepEqual(api.fields, { instanceId: 'a', runtimeStatus: 'Running', extra: 1 });
    assert.deepEqual(api.headers, { location: '/x' });
  });
});
