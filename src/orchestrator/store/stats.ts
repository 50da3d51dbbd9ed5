/**
 * Counts for the monitor and the metrics: instances per name and status, timers waiting. Whole-table
 * aggregates whose cost grows with the tables, so their callers cache them (metrics: 5 s).
 */
import type { Queryable } from '../../db/pool.ts';
import type { InstanceCount } from '../core/instance.ts';
import type { RuntimeStatus } from '../core/statuses.ts';

/** Instances per orchestration name and runtime status (the monitor's overview, the metrics' gauge); entities are not instances here. */
export async function countInstances(db: Queryable): Promise<InstanceCount[]> {
  const { rows } = await db.query<{ name: string; runtime_status: RuntimeStatus; count: string }>(
    "SELECT name, runtime_status, count(*) AS count FROM instances WHERE NOT starts_with(instance_id, '@') GROUP BY name, runtime_status ORDER BY name, runtime_status",
  );
  return rows.map((r) => ({ name: r.name, runtimeStatus: r.runtime_status, count: Number(r.count) }));
}

/** Durable timers not yet due: inbox messages of timers (`timer:` ids) whose time is ahead. */
export async function countPendingTimers(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM inbox WHERE message_id LIKE 'timer:%' AND deliver_at > now()`);
  return Number(rows[0]?.n ?? 0);
}
