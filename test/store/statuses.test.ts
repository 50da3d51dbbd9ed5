/**
 * The ONE list of active statuses (src/orchestrator/core/statuses.ts) against the SQL that cannot
 * import it: the predicates of the unique partial index that decides single-instance starts and of
 * the claimable-turns index, and the CHECK constraint on runtime_status, all read back from the
 * catalog of a freshly migrated database. A migration that changes one of them without the list
 * (or the other way round) fails here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ACTIVE_STATUSES, RUNNABLE_STATUSES, RUNTIME_STATUSES, TERMINAL_STATUSES } from '../../src/orchestrator/core/statuses.ts';
import { SINGLETON_INDEX } from '../../src/orchestrator/store/instances.ts';
import { useStoreDb } from '../helpers/store.ts';

/** The status literals of an index or constraint definition, as PostgreSQL prints it back. */
function literals(definition: string): string[] {
  return [...definition.matchAll(/'([A-Za-z]+)'::text/g)].map((m) => m[1] as string).sort();
}

describe('active statuses: the list and the schema agree', () => {
  const db = useStoreDb();

  async function indexdef(name: string): Promise<string> {
    const store = db();
    const { rows } = await store.pool.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = $2`,
      [store.schema, name],
    );
    assert.equal(rows.length, 1, `index ${name} exists`);
    return rows[0]!.indexdef;
  }

  it('the unique partial index holds exactly the active statuses', async () => {
    const def = await indexdef(SINGLETON_INDEX);
    assert.match(def, /CREATE UNIQUE INDEX/);
    assert.match(def, /singleton_key IS NOT NULL/);
    assert.deepEqual(literals(def), [...ACTIVE_STATUSES].sort());
  });

  it('the claimable index holds exactly the runnable statuses (active minus Suspended)', async () => {
    assert.deepEqual(literals(await indexdef('instances_claimable')), [...RUNNABLE_STATUSES].sort());
    assert.deepEqual([...RUNNABLE_STATUSES].sort(), ACTIVE_STATUSES.filter((s) => s !== 'Suspended').sort());
  });

  it('the CHECK constraint allows exactly the runtime statuses, and active + terminal cover them once', async () => {
    const store = db();
    const { rows } = await store.pool.query<{ def: string }>(
      `SELECT pg_get_constraintdef(c.oid) AS def FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
       WHERE n.nspname = $1 AND t.relname = 'instances' AND c.contype = 'c' AND pg_get_constraintdef(c.oid) LIKE '%runtime_status%'`,
      [store.schema],
    );
    assert.equal(rows.length, 1);
    assert.deepEqual(literals(rows[0]!.def), [...RUNTIME_STATUSES].sort());
    assert.deepEqual([...ACTIVE_STATUSES, ...TERMINAL_STATUSES].sort(), [...RUNTIME_STATUSES].sort());
  });

  it('the parser of literals would notice a changed predicate (it is not vacuous)', () => {
    const changed = `CREATE UNIQUE INDEX x ON t USING btree (singleton_key) WHERE ((singleton_key IS NOT NULL) AND (runtime_status = ANY (ARRAY['Pending'::text, 'Running'::text])))`;
    assert.notDeepEqual(literals(changed), [...ACTIVE_STATUSES].sort());
  });
});
