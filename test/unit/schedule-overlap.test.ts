/**
 * The pure part of a schedule tick (src/orchestrator/core/schedule.ts, core/cron.ts): which due
 * ticks a pass finds (bounded after a long downtime), which it tries (the catch-up window, a
 * terminateOther catch-up keeping the newest), and each overlap policy's answer for a held slot.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dueTicks } from '../../src/orchestrator/core/cron.ts';
import { BUFFER_LIMIT, mustQueueBehind, planDueTicks, validateOverlap, whenHeld } from '../../src/orchestrator/core/schedule.ts';

const EVERY_SECOND = { cron: '* * * * * *', timezone: 'UTC' };
const at = (s: number): Date => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

describe('schedule ticks (pure)', () => {
  it('dueTicks: every tick from the next one up to now, oldest first; none before it is due', () => {
    assert.deepEqual(dueTicks(EVERY_SECOND, at(10), at(9), 100), { ticks: [], truncated: false });
    assert.deepEqual(dueTicks(EVERY_SECOND, at(10), at(10), 100).ticks, [at(10)]);
    const many = dueTicks(EVERY_SECOND, at(10), new Date(at(50).getTime() + 500), 100);
    assert.equal(many.truncated, false);
    assert.deepEqual(many.ticks, Array.from({ length: 41 }, (_, i) => at(10 + i)));
  });

  it('dueTicks after a long downtime: the newest `max`, and it says the older ones were left out', () => {
    const day = new Date(at(0).getTime() + 86_400_000);
    const started = Date.now();
    const due = dueTicks(EVERY_SECOND, at(0), day, 50);
    assert.equal(due.truncated, true);
    assert.equal(due.ticks.length, 50);
    assert.deepEqual(due.ticks.at(-1), day, 'the newest is now');
    assert.deepEqual(due.ticks[0], new Date(day.getTime() - 49_000));
    assert.ok(Date.now() - started < 5000, 'a day of one-second ticks is not enumerated');
    assert.equal(dueTicks(EVERY_SECOND, at(0), at(49), 50).truncated, false, 'exactly max due: nothing left out');
  });

  it('planDueTicks: a tick later than the catch-up window is skipped; the rest are tried', () => {
    const plans = planDueTicks([at(0), at(4), at(5), at(10)], at(10), 'bufferAll', 5);
    assert.deepEqual(
      plans.map((p) => [p.tickAt.getUTCSeconds(), p.skip === undefined ? 'try' : 'skip']),
      [
        [0, 'skip'],
        [4, 'skip'],
        [5, 'try'],
        [10, 'try'],
      ],
    );
    assert.match(plans[0]?.skip ?? '', /missed by 10\.0 s, beyond the catch-up window \(catchupWindowSeconds 5\)/);
  });

  it('planDueTicks under terminateOther: only the newest tried tick of a catch-up starts', () => {
    const plans = planDueTicks([at(0), at(7), at(8), at(9)], at(10), 'terminateOther', 5);
    assert.deepEqual(
      plans.map((p) => p.skip === undefined),
      [false, false, false, true],
    );
    assert.match(plans[0]?.skip ?? '', /catch-up window/);
    assert.match(plans[1]?.skip ?? '', /superseded by the newer tick 2026-01-01T00:00:09.000Z/);
  });

  it('whenHeld: each policy, when the running instance still holds the slot', () => {
    assert.equal(whenHeld('skip', 0).action, 'skip');
    assert.equal(whenHeld('bufferOne', 0).action, 'buffer');
    assert.equal(whenHeld('bufferOne', 1).action, 'skip', 'bufferOne keeps the first waiting tick, skips later ones (as Temporal)');
    assert.equal(whenHeld('bufferAll', BUFFER_LIMIT - 1).action, 'buffer');
    assert.equal(whenHeld('bufferAll', BUFFER_LIMIT).action, 'skip');
    assert.equal(whenHeld('terminateOther', 0).action, 'terminate');
    assert.equal(whenHeld('allowAll', 0).action, 'skip', "allowAll is held only by the orchestration's own single-instance slot");
    assert.equal(mustQueueBehind('bufferAll', 1), true, 'a free slot does not let a new tick pass the waiting ones');
    assert.equal(mustQueueBehind('skip', 1), false);
    assert.equal(mustQueueBehind('bufferOne', 0), false);
  });

  it('validateOverlap: an unknown policy or a bad window is refused at registration, naming it', () => {
    assert.throws(() => validateOverlap('Nightly', { overlap: 'cancelOther' }), /overlap must be one of skip, bufferOne, bufferAll, terminateOther, allowAll, got "cancelOther"/);
    assert.throws(() => validateOverlap('Nightly', { catchupWindowSeconds: 0 }), /catchupWindowSeconds must be a whole number/);
    assert.throws(() => validateOverlap('Nightly', { catchupWindowSeconds: 1.5 }), /catchupWindowSeconds/);
    validateOverlap('Nightly', { overlap: 'bufferOne', catchupWindowSeconds: 3600 });
  });
});
