/**
 * The inbox: messages to instances. Each has an id that makes a second delivery a no-op (ON CONFLICT
 * DO NOTHING), a due time (a durable timer is a message due later) and an arrival order.
 */
import type { Queryable } from '../../db/pool.ts';
import type { Message } from '../core/decide.ts';
import type { HistoryEvent } from '../core/history.ts';
import { type EventRow, eventColumns, rowToEvent } from './rows.ts';
import { ACTIVE_SQL } from './sql.ts';

/** A message to deliver (core's Message). */
export type InboxMessage = Message;

export interface ReceivedMessage {
  messageId: string;
  executionId: string | null;
  event: HistoryEvent;
}

/**
 * Delivers messages to active instances (to the named execution when one is given) and schedules
 * their wake-up; messages for finished, purged or replaced instances are dropped. The instance rows
 * are locked first, in id order (so concurrent deliveries cannot deadlock), and the status is
 * checked on the locked row: a delivery racing a terminate or a completing turn waits for it and
 * then sees the terminal state, instead of leaving a message behind it. Returns how many instances
 * received a message.
 */
const DELIVER = `
  WITH incoming AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::timestamptz[], $6::jsonb[], $7::text[])
      AS t(instance_id, message_id, execution_id, event_type, deliver_at, event, payload)
  ), locked AS (
    SELECT i.instance_id, i.execution_id FROM instances i
    WHERE i.instance_id IN (SELECT instance_id FROM incoming) AND i.runtime_status IN ${ACTIVE_SQL}
    ORDER BY i.instance_id
    FOR NO KEY UPDATE
  ), inserted AS (
    INSERT INTO inbox (instance_id, message_id, execution_id, event_type, deliver_at, event, payload)
    SELECT t.instance_id, t.message_id, t.execution_id, t.event_type, COALESCE(t.deliver_at, now()), t.event, t.payload
    FROM incoming t JOIN locked l ON l.instance_id = t.instance_id
    WHERE t.execution_id IS NULL OR t.execution_id = l.execution_id
    ON CONFLICT DO NOTHING
    RETURNING instance_id, deliver_at
  ), due AS (
    SELECT instance_id, min(deliver_at) AS at FROM inserted GROUP BY instance_id
  )
  UPDATE instances i SET wake_at = LEAST(COALESCE(i.wake_at, 'infinity'), d.at)
  FROM due d WHERE i.instance_id = d.instance_id
  RETURNING i.instance_id`;

export async function deliver(db: Queryable, messages: readonly InboxMessage[]): Promise<number> {
  return (await deliverTo(db, messages)).length;
}

/** deliver(), answering the instances that received a message (each once). */
export async function deliverTo(db: Queryable, messages: readonly InboxMessage[]): Promise<string[]> {
  if (messages.length === 0) return [];
  const cols = messages.map((m) => eventColumns(m.event));
  const { rows } = await db.query<{ instance_id: string }>(DELIVER, [
    messages.map((m) => m.instanceId),
    messages.map((m) => m.messageId),
    messages.map((m) => m.executionId ?? null),
    cols.map((c) => c.type),
    messages.map((m) => m.deliverAt ?? null),
    cols.map((c) => c.event),
    cols.map((c) => c.payload),
  ]);
  return rows.map((r) => r.instance_id);
}

/**
 * Due is judged by clock_timestamp(), not now(). A delivery's deliver_at is its transaction's
 * start, its arrival number is taken later, under the instance lock; a turn's now() is its own
 * transaction's start, taken before it waits for that lock. So a delivery whose transaction began
 * after the turn's, but committed (with a lower arrival) before the turn read, was "not yet due" by
 * now() while a later arrival from an older transaction was due: the turn applied the later event
 * first ([0,1,2,3,4,12,5,…]). Every committed message's deliver_at is before its commit, hence
 * before this statement's clock: every visible immediate message is due, and the order is arrival.
 */
const RECEIVE = `
  SELECT message_id, execution_id, event_type, created_at AS event_time, event, payload FROM inbox
  WHERE instance_id = $1 AND deliver_at <= clock_timestamp() ORDER BY arrival LIMIT $2`;

/** The messages due for an instance, in arrival order. */
export async function receive(db: Queryable, instanceId: string, limit: number): Promise<ReceivedMessage[]> {
  const { rows } = await db.query<EventRow & { message_id: string; execution_id: string | null }>({
    name: 'taskhub.receive',
    text: RECEIVE,
    values: [instanceId, limit],
  });
  return rows.map((r) => ({ messageId: r.message_id, executionId: r.execution_id, event: rowToEvent(r) }));
}

/**
 * Puts events back at the head of an instance's inbox, in the given order, ahead of every message
 * still there (arrival numbers below the lowest present; OVERRIDING the identity), with their
 * original times. For continue-as-new: the carried-over events arrived before the unread ones,
 * which a turn may have left behind when more were queued than it reads.
 */
const REQUEUE_AHEAD = `
  INSERT INTO inbox (instance_id, message_id, arrival, execution_id, event_type, deliver_at, event, payload, created_at)
  OVERRIDING SYSTEM VALUE
  SELECT $1, t.message_id, base.first - cardinality($2::text[]) + t.ord - 1, NULL, t.event_type, now(), t.event, t.payload, t.created_at
  FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::jsonb[], $6::text[]) WITH ORDINALITY
    AS t(message_id, event_type, created_at, event, payload, ord),
    (SELECT COALESCE(min(arrival), 0) AS first FROM inbox WHERE instance_id = $1) base
  ON CONFLICT DO NOTHING`;

export async function requeueAhead(db: Queryable, instanceId: string, messages: ReadonlyArray<{ messageId: string; event: HistoryEvent }>): Promise<void> {
  if (messages.length === 0) return;
  const cols = messages.map((m) => eventColumns(m.event));
  await db.query(REQUEUE_AHEAD, [
    instanceId,
    messages.map((m) => m.messageId),
    cols.map((c) => c.type),
    cols.map((c) => c.time),
    cols.map((c) => c.event),
    cols.map((c) => c.payload),
  ]);
}

const CONSUME = `DELETE FROM inbox WHERE instance_id = $1 AND message_id = ANY($2::text[])`;

export async function consume(db: Queryable, instanceId: string, messageIds: readonly string[]): Promise<void> {
  if (messageIds.length > 0) await db.query(CONSUME, [instanceId, messageIds]);
}

const CLEAR_EXECUTION = `DELETE FROM inbox WHERE instance_id = $1 AND execution_id IS NOT NULL AND execution_id <> $2`;

/** Drops messages bound to other executions (results of tasks a continued-as-new execution made). */
export async function clearOtherExecutions(db: Queryable, instanceId: string, executionId: string): Promise<void> {
  await db.query(CLEAR_EXECUTION, [instanceId, executionId]);
}
