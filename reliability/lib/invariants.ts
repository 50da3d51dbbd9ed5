/**
 * The invariants every scenario ends with, as queries over the engine's tables (and pg-boss's job
 * table). Each returns the offending rows (capped) so a violation is evidence, not just a count.
 *
 *  - singleton:    at most one active instance per singleton key
 *  - gaps:         history of each execution is seq 0..n-1, matches instances.history_length, and
 *                  only the current execution has history
 *  - duplicates:   at most one TaskCompleted/TaskFailed per scheduled task
 *  - missing:      a Completed instance has a result for every task it scheduled
 *  - orphans:      no result for a task that was never scheduled
 *  - afterEnd:     the terminal event (ExecutionCompleted/ExecutionTerminated) is the last one, and
 *                  there is one at most
 *  - inconsistent: the row agrees with itself (terminal ⇔ completed_at, terminal ⇒ no wake-up,
 *                  no inbox; Pending ⇒ no history; terminal ⇒ its terminal event is recorded)
 *  - stuck:        no instance active with nothing that could move it (no wake-up, no message,
 *                  no open activity job, no active child)
 *  - lostStarts / lostEvents: every acknowledged (202) start exists; every acknowledged event is
 *                  in history or the inbox, unless the instance ended by terminate/failure
 */
import type pg from 'pg';
import { ACTIVE, BOSS_SCHEMA, SCHEMA } from './db.ts';

/** What each invariant query checks, for reports. */
export const INVARIANT_NAMES: Record<string, string> = {
  singleton: 'at most one active instance per singleton key',
  gaps: 'history gap-free per execution (seq 0..n-1 = history_length), current execution only',
  lengthWithoutHistory: 'no history_length without history rows',
  afterEnd: 'the terminal event is the last and only one',
  inconsistent: 'instance rows consistent (terminal ⇔ completed_at, terminal ⇒ no wake-up and no inbox, Pending ⇒ no history, status ⇔ terminal event)',
  stuck: 'no active instance without pending work',
  duplicates: 'at most one result per scheduled task',
  orphans: 'no result for an unscheduled task',
  missing: 'a result for every task of a Completed instance',
  lostStarts: 'every acknowledged start exists',
  lostEvents: 'every acknowledged event is in history or the inbox (unless terminated/failed first)',
};

export interface AckedEvent {
  instanceId: string;
  name: string;
  /** The event's JSON text (unique per event, so it can be found again). */
  payload: string;
}

export interface Acks {
  starts?: readonly string[];
  events?: readonly AckedEvent[];
}

export interface InvariantReport {
  instances: number;
  historyRows: number;
  scheduledTasks: number;
  violations: Record<string, number>;
  /** Up to a few examples per violated invariant. */
  examples: Record<string, unknown[]>;
  /** Acknowledged events dropped because their instance was terminated or failed first (allowed). */
  eventsDroppedByEnd: number;
  ok: boolean;
}

const TERMINAL = `('Completed', 'Failed', 'Terminated', 'Canceled')`;
const H = `${SCHEMA}.history`;
const I = `${SCHEMA}.instances`;
const IN = `${SCHEMA}.inbox`;

const QUERIES: Record<string, string> = {
  singleton: `
    SELECT singleton_key, count(*)::int AS n, array_agg(instance_id) AS ids FROM ${I}
    WHERE singleton_key IS NOT NULL AND runtime_status IN ${ACTIVE} GROUP BY 1 HAVING count(*) > 1`,
  gaps: `
    SELECT h.instance_id, h.execution_id, count(*)::int AS n, min(seq) AS min, max(seq) AS max, i.history_length, i.execution_id AS current
    FROM ${H} h LEFT JOIN ${I} i USING (instance_id)
    GROUP BY h.instance_id, h.execution_id, i.history_length, i.execution_id
    HAVING min(seq) <> 0 OR max(seq) <> count(*) - 1 OR h.execution_id IS DISTINCT FROM i.execution_id
        OR count(*) <> i.history_length`,
  lengthWithoutHistory: `
    SELECT instance_id, history_length FROM ${I} i
    WHERE history_length > 0 AND NOT EXISTS (SELECT 1 FROM ${H} h WHERE h.instance_id = i.instance_id AND h.execution_id = i.execution_id)`,
  afterEnd: `
    SELECT h.instance_id, h.seq, h.event_type, i.history_length FROM ${H} h JOIN ${I} i USING (instance_id)
    WHERE h.execution_id = i.execution_id AND h.event_type IN ('ExecutionCompleted', 'ExecutionTerminated')
      AND (h.seq <> i.history_length - 1
           OR EXISTS (SELECT 1 FROM ${H} o WHERE o.instance_id = h.instance_id AND o.execution_id = h.execution_id
                      AND o.event_type IN ('ExecutionCompleted', 'ExecutionTerminated') AND o.seq <> h.seq))`,
  inconsistent: `
    SELECT instance_id, runtime_status, history_length, (wake_at IS NOT NULL) AS wake, (completed_at IS NOT NULL) AS completed,
      (SELECT string_agg(m.event_type || '@' || to_char(m.created_at - i.completed_at, 'SS.MS'), ',') FROM ${IN} m WHERE m.instance_id = i.instance_id) AS inbox_after_end,
      (SELECT event_type FROM ${H} h WHERE h.instance_id = i.instance_id AND h.execution_id = i.execution_id ORDER BY seq DESC LIMIT 1) AS last_event
    FROM ${I} i
    WHERE (runtime_status IN ${TERMINAL}) <> (completed_at IS NOT NULL)
       OR (runtime_status IN ${TERMINAL} AND wake_at IS NOT NULL)
       OR (runtime_status IN ${TERMINAL} AND EXISTS (SELECT 1 FROM ${IN} m WHERE m.instance_id = i.instance_id))
       OR (runtime_status = 'Pending' AND history_length <> 0)
       OR (runtime_status = 'Running' AND history_length = 0)
       OR (runtime_status = 'Completed' AND NOT EXISTS (SELECT 1 FROM ${H} h WHERE h.instance_id = i.instance_id
             AND h.execution_id = i.execution_id AND h.event_type = 'ExecutionCompleted' AND h.event->>'status' = 'Completed'))
       OR (runtime_status = 'Terminated' AND NOT EXISTS (SELECT 1 FROM ${H} h WHERE h.instance_id = i.instance_id
             AND h.execution_id = i.execution_id AND h.event_type = 'ExecutionTerminated'))
       OR (runtime_status = 'Failed' AND NOT EXISTS (SELECT 1 FROM ${H} h WHERE h.instance_id = i.instance_id
             AND h.execution_id = i.execution_id AND h.event_type = 'ExecutionCompleted' AND h.event->>'status' = 'Failed'))`,
};

/** Active, with no wake-up, no message, no open activity job and no active child. */
function stuckQuery(waitingOnEventsIsStuck: boolean): string {
  return `
    SELECT instance_id, name, runtime_status, history_length FROM ${I} i
    WHERE runtime_status IN ('Pending', 'Running', 'ContinuedAsNew') AND wake_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM ${IN} m WHERE m.instance_id = i.instance_id)
      AND NOT EXISTS (SELECT 1 FROM ${I} c WHERE c.parent_instance_id = i.instance_id AND c.runtime_status IN ${ACTIVE})
      AND NOT EXISTS (SELECT 1 FROM ${BOSS_SCHEMA}.job j WHERE j.name = 'taskhub.activities' AND j.state IN ('created', 'retry', 'active')
                      AND j.data->>'instanceId' = i.instance_id AND j.data->>'executionId' = i.execution_id::text)
      ${waitingOnEventsIsStuck ? '' : `AND runtime_status <> 'Running'`}`;
}

/** Tasks grouped once: duplicates, orphans and (for Completed instances) missing results. */
const TASKS = `
  WITH t AS (
    SELECT instance_id, execution_id, event->>'taskId' AS task,
      bool_or(event_type = 'TaskScheduled') AS scheduled,
      count(*) FILTER (WHERE event_type IN ('TaskCompleted', 'TaskFailed'))::int AS results
    FROM ${H} WHERE event_type IN ('TaskScheduled', 'TaskCompleted', 'TaskFailed')
    GROUP BY 1, 2, 3)
  SELECT t.instance_id, t.execution_id, t.task, t.scheduled, t.results, i.runtime_status
  FROM t JOIN ${I} i ON i.instance_id = t.instance_id AND i.execution_id = t.execution_id
  WHERE t.results > 1 OR (t.results > 0 AND NOT t.scheduled) OR (t.results = 0 AND i.runtime_status = 'Completed')`;

async function rows(db: Pick<pg.Pool, 'query'>, sql: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  return (await db.query(sql, values)).rows as Record<string, unknown>[];
}

/**
 * An instance waiting for an external event has nothing pending inside the engine, which the tables
 * cannot tell from a stuck one. The scenarios send every event they intend to and wait for every
 * instance to end, so by default such an instance counts as stuck; with `waitingOnEventsIsStuck:
 * false` (instances left waiting on purpose) only Pending and ContinuedAsNew ones are checked.
 */
export async function checkInvariants(
  db: Pick<pg.Pool, 'query'>,
  acks: Acks = {},
  options: { waitingOnEventsIsStuck?: boolean } = {},
): Promise<InvariantReport> {
  const violations: Record<string, number> = {};
  const examples: Record<string, unknown[]> = {};
  const record = (name: string, found: unknown[]): void => {
    violations[name] = found.length;
    if (found.length > 0) examples[name] = found.slice(0, 5);
  };
  for (const [name, sql] of Object.entries(QUERIES)) record(name, await rows(db, sql));
  record('stuck', await rows(db, stuckQuery(options.waitingOnEventsIsStuck !== false)));
  const tasks = await rows(db, TASKS);
  record('duplicates', tasks.filter((t) => (t.results as number) > 1));
  record('orphans', tasks.filter((t) => (t.results as number) > 0 && !t.scheduled));
  record('missing', tasks.filter((t) => t.results === 0));

  let eventsDroppedByEnd = 0;
  if (acks.starts) {
    const found = new Set(
      (await rows(db, `SELECT instance_id FROM ${I} WHERE instance_id = ANY($1::text[])`, [acks.starts])).map((r) => r.instance_id as string),
    );
    record('lostStarts', acks.starts.filter((id) => !found.has(id)));
  }
  if (acks.events) {
    const lost: AckedEvent[] = [];
    const ids = [...new Set(acks.events.map((e) => e.instanceId))];
    const present = new Set<string>();
    for (const r of await rows(
      db,
      `SELECT instance_id, payload FROM ${H} WHERE event_type = 'EventRaised' AND instance_id = ANY($1::text[])
       UNION ALL SELECT instance_id, payload FROM ${IN} WHERE event_type = 'EventRaised' AND instance_id = ANY($1::text[])`,
      [ids],
    )) {
      present.add(`${r.instance_id}\u0000${r.payload}`);
    }
    const statuses = new Map(
      (await rows(db, `SELECT instance_id, runtime_status FROM ${I} WHERE instance_id = ANY($1::text[])`, [ids])).map((r) => [
        r.instance_id as string,
        r.runtime_status as string,
      ]),
    );
    for (const e of acks.events) {
      if (present.has(`${e.instanceId}\u0000${e.payload}`)) continue;
      const status = statuses.get(e.instanceId);
      if (status === 'Terminated' || status === 'Failed') eventsDroppedByEnd++;
      else lost.push(e);
    }
    record('lostEvents', lost);
  }

  const [counts] = await rows(
    db,
    `SELECT (SELECT count(*) FROM ${I})::int AS instances, (SELECT count(*) FROM ${H})::int AS history,
            (SELECT count(*) FROM ${H} WHERE event_type = 'TaskScheduled')::int AS tasks`,
  );
  return {
    instances: (counts?.instances as number) ?? 0,
    historyRows: (counts?.history as number) ?? 0,
    scheduledTasks: (counts?.tasks as number) ?? 0,
    violations,
    examples,
    eventsDroppedByEnd,
    ok: Object.values(violations).every((n) => n === 0),
  };
}

/** Results recorded per task, for the oracle comparison: duplicates and losses among these instances. */
export async function resultCounts(
  db: Pick<pg.Pool, 'query'>,
  instanceIds: readonly string[],
): Promise<{ scheduled: number; results: number; duplicates: number; missing: number }> {
  const [r] = await rows(
    db,
    `WITH t AS (
       SELECT instance_id, event->>'taskId' AS task,
         bool_or(event_type = 'TaskScheduled') AS scheduled,
         count(*) FILTER (WHERE event_type IN ('TaskCompleted', 'TaskFailed')) AS results
       FROM ${H} WHERE instance_id = ANY($1::text[]) AND event_type IN ('TaskScheduled', 'TaskCompleted', 'TaskFailed')
       GROUP BY 1, 2)
     SELECT count(*) FILTER (WHERE scheduled)::int AS scheduled, coalesce(sum(results), 0)::int AS results,
       count(*) FILTER (WHERE results > 1)::int AS duplicates, count(*) FILTER (WHERE scheduled AND results = 0)::int AS missing
     FROM t`,
    [instanceIds],
  );
  return {
    scheduled: (r?.scheduled as number) ?? 0,
    results: (r?.results as number) ?? 0,
    duplicates: (r?.duplicates as number) ?? 0,
    missing: (r?.missing as number) ?? 0,
  };
}
