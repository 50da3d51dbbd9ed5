/**
 * Concurrency options at registration: what is refused (with a message naming the option), what
 * `singleton: true` means (limit 1), which default policy applies, which policy a child follows,
 * and how a stored key reads back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { childPolicy, displayKey, policyProblem } from '../../src/orchestrator/core/concurrency.ts';
import { Registry } from '../../src/orchestrator/registry.ts';

// eslint-disable-next-line require-yield
const noop = function* (): Generator<never, null, unknown> {
  return null;
};

describe('concurrency options', () => {
  it('refuses bad options with a message naming them', () => {
    const bad: Array<[object, RegExp]> = [
      [{ concurrency: { limit: 0 } }, /concurrency.limit must be an integer from 1 to 1000/],
      [{ concurrency: { limit: 2.5 } }, /concurrency.limit/],
      [{ concurrency: { limit: 2 }, singleton: true }, /singleton and concurrency/],
      [{ onConflict: 'sometimes' }, /onConflict must be one of/],
      [{ onConflict: 'debounce' }, /needs the debounce option/],
      [{ debounce: { seconds: 0 } }, /debounce.seconds/],
      [{ debounce: { seconds: 5, maxWaitSeconds: 2 } }, /maxWaitSeconds must be at least/],
    ];
    for (const [options, message] of bad) assert.throws(() => new Registry().orchestration('X', options, noop), message, JSON.stringify(options));
  });

  it('singleton: true is limit 1 with the fail policy; debounce defaults the policy to debounce', () => {
    const r = new Registry()
      .orchestration('S', { singleton: true }, noop)
      .orchestration('C', { concurrency: { limit: 4, key: (i) => String(i) }, onConflict: 'queue' }, noop)
      .orchestration('D', { debounce: { seconds: 2 } }, noop)
      .orchestration('N', noop);
    assert.deepEqual(r.concurrency('S'), { limit: 1, onConflict: 'fail', debounce: undefined });
    assert.deepEqual(r.concurrency('C'), { limit: 4, onConflict: 'queue', debounce: undefined });
    assert.deepEqual(r.concurrency('D'), { limit: undefined, onConflict: 'debounce', debounce: { seconds: 2, maxWaitSeconds: 86_400 } });
    assert.equal(r.concurrency('N'), undefined);
    assert.equal(r.singletonKey('S', null), 'S');
    assert.equal(r.singletonKey('C', 'acme'), JSON.stringify(['C', 'acme']));
    assert.equal(r.singletonKey('D', null), 'D');
    assert.equal(r.singletonKey('N', null), null);
    assert.throws(() => r.singletonKey('C', ''), /concurrency key function must return a non-empty string/);
  });

  it('a policy that cannot apply is named; a child queues only under a queueing policy with a limit', () => {
    assert.match(String(policyProblem('N', undefined, 'queue')), /needs a concurrency limit/);
    assert.match(String(policyProblem('S', { limit: 1, onConflict: 'fail', debounce: undefined }, 'debounce')), /needs the debounce option/);
    assert.equal(policyProblem('S', { limit: 1, onConflict: 'fail', debounce: undefined }, 'replaceQueued'), undefined);
    assert.equal(childPolicy(undefined), 'fail');
    assert.equal(childPolicy({ limit: 1, onConflict: 'fail', debounce: undefined }), 'fail');
    assert.equal(childPolicy({ limit: 1, onConflict: 'replaceQueued', debounce: undefined }), 'queue');
    assert.equal(childPolicy({ limit: 2, onConflict: 'debounce', debounce: { seconds: 1, maxWaitSeconds: 2 } }), 'queue');
    assert.equal(childPolicy({ limit: undefined, onConflict: 'debounce', debounce: { seconds: 1, maxWaitSeconds: 2 } }), 'fail');
  });

  it('reads the user part of a stored key back', () => {
    assert.equal(displayKey(JSON.stringify(['C', 'acme'])), 'acme');
    assert.equal(displayKey('S'), null);
    assert.equal(displayKey('[not json'), null);
  });
});
