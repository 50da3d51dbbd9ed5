/**
 * The turn dispatcher: claims due instances (SKIP LOCKED, leased) and runs their turns, up to a
 * concurrency limit. It wakes on NOTIFY (a hint that something is due), on the next known due time
 * (timers), and on a polling backstop (notifications are lost while disconnected).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Pool } from '../db/pool.ts';
import { describePgError } from '../db/pool.ts';
import { blipBackoffMs, Outage } from '../db/outage.ts';
import type { TurnHandoff, TurnReservation } from './ports.ts';
import type { TurnRunner } from './runner.ts';
import { sweepUnwokenEntities } from './store/entities.ts';
import { claimDue, msUntilNextDue, releaseLease, sweepExpiredLeases, wakeChannel } from './store/turns.ts';

export interface DispatcherOptions {
  connectionString: string;
  schema: string;
  concurrency: number;
  leaseSeconds: number;
  pollIntervalMs: number;
  /**
   * The payload this process's own post-commit NOTIFYs carry: its dispatcher was already woken in
   * process for them, so hearing them back is ignored (each echo cost a claim and a due-time query).
   */
  ownPayload?: string;
}

export class Dispatcher implements TurnHandoff {
  readonly owner = `turns-${randomUUID()}`;
  private readonly pool: Pool;
  private readonly runner: TurnRunner;
  private readonly log: Logger;
  private readonly options: DispatcherOptions;
  private running = false;
  private inFlight = new Set<Promise<void>>();
  private endSleep: (() => void) | undefined;
  /** Set when a wake-up arrives while the loop is busy, so the next sleep is skipped. */
  private signalled = false;
  /**
   * The last claim took every free slot (or none was free): more may be due, so a turn that ends
   * wakes the loop to claim again. Otherwise nothing was left due, and a turn's end is no news.
   */
  private saturated = false;
  /**
   * A wake-up came while turns were in flight: what it announced may be an instance whose turn was
   * running (not claimable then, and not counted in the next due time), due again once that turn
   * commits, so the turn's end wakes the loop.
   */
  private wokenDuringTurns = false;
  private listener: pg.Client | undefined;
  private loopDone: Promise<void> | undefined;
  /** When the wake-up listener lost its connection (undefined while connected). */
  private listenerLostAt: number | undefined;
  /** Turn slots lent to transactions that claim turns themselves (TurnHandoff), not yet adopted. */
  private reserved = 0;
  /** Claims, turns and lease releases share one view of a database outage (one warn line each way). */
  private readonly outage: Outage;

  constructor(pool: Pool, runner: TurnRunner, log: Logger, options: DispatcherOptions) {
    this.pool = pool;
    this.runner = runner;
    this.log = log.child({ component: 'dispatcher' });
    this.options = options;
    this.outage = new Outage(this.log, 'turn dispatcher');
  }

  async start(): Promise<void> {
    this.running = true;
    await this.listen().catch((err) => {
      this.listenerLostAt = Date.now();
      this.log.warn({ err: describePgError(err) }, 'LISTEN failed; polling only until it reconnects');
      this.reconnectLater();
    });
    this.loopDone = this.loop();
  }

  /** Stops claiming, lets turns in flight finish (they are short transactions). */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loopDone;
    await Promise.allSettled([...this.inFlight]);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
  }

  /** Wakes the loop: a NOTIFY arrived, or (in-process, saving its round trip) a local commit made work. */
  wake(): void {
    if (this.inFlight.size > 0) this.wokenDuringTurns = true;
    this.signalled = true;
    this.endSleep?.();
  }

  /** Free turn slots: turns in flight and slots lent out count against the concurrency. */
  private freeSlots(): number {
    return this.options.concurrency - this.inFlight.size - this.reserved;
  }

  reserve(wanted: number): TurnReservation | undefined {
    const slots = Math.min(wanted, this.freeSlots());
    if (!this.running || slots <= 0) return undefined;
    this.reserved += slots;
    return { owner: this.owner, leaseSeconds: this.options.leaseSeconds, slots };
  }

  adopt(reservation: TurnReservation, claims: readonly { instanceId: string; attempts: number }[]): void {
    this.reserved -= reservation.slots;
    // The claims are committed under this dispatcher's lease: run them even while stopping (a turn is
    // a short transaction, and stop() waits for turns in flight), else they wait for the lease to expire.
    for (const claim of claims.slice(0, reservation.slots)) this.track(claim.instanceId, claim.attempts);
  }

  release(reservation: TurnReservation): void {
    this.reserved -= reservation.slots;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      connectionTimeoutMillis: 10_000,
      application_name: 'pg-taskhub-listen',
    });
    client.on('error', (err) => {
      this.log.warn({ err: describePgError(err) }, 'wake-up listener lost its connection; polling until it reconnects');
      this.listenerLostAt ??= Date.now();
      if (this.listener === client) this.listener = undefined;
      void client.end().catch(() => undefined);
      this.reconnectLater();
    });
    client.on('notification', (msg) => {
      if (this.options.ownPayload !== undefined && msg.payload === this.options.ownPayload) return;
      this.wake();
    });
    await client.connect();
    await client.query(`LISTEN ${wakeChannel(this.options.schema)}`);
    this.listener = client;
    if (this.listenerLostAt !== undefined) {
      this.log.info({ downMs: Date.now() - this.listenerLostAt }, 'wake-up listener reconnected');
      this.listenerLostAt = undefined;
    }
    this.wake(); // anything announced while we were not listening is found by the next claim
  }

  private reconnectLater(): void {
    if (!this.running) return;
    setTimeout(() => {
      if (!this.running || this.listener) return;
      this.listen().catch(() => this.reconnectLater());
    }, 1000).unref();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      this.signalled = false;
      const free = this.freeSlots();
      let claimed = 0;
      if (free <= 0) this.saturated = true;
      if (free > 0) {
        try {
          await this.sweepNow();
          const claims = await claimDue(this.pool, this.owner, this.options.leaseSeconds, free);
          claimed = claims.length;
          this.saturated = claimed === free;
          for (const claim of claims) this.track(claim.instanceId, claim.attempts);
          failures = 0;
          this.outage.recovered();
        } catch (err) {
          if (!this.outage.failed(err)) this.log.warn({ err: describePgError(err) }, 'claiming turns failed; retrying');
          await this.sleep(blipBackoffMs(failures++));
          continue;
        }
      }
      if (claimed > 0 && claimed === free) continue;
      if (claimed > 0 || free <= 0) {
        await this.sleep(this.options.pollIntervalMs);
        continue;
      }
      await this.sleep(await this.idleDelay());
    }
  }

  private track(instanceId: string, attempts: number): void {
    let failed = false;
    let quiet = false;
    const turn = this.runner
      .run(instanceId, this.owner, attempts)
      .then((end) => {
        quiet = end.quiet;
        this.outage.recovered();
      })
      .catch(async (err) => {
        failed = true;
        if (this.outage.failed(err)) {
          await this.releaseAfterBlip(instanceId);
          return;
        }
        // Back off 1, 2, 4 … s (at most 30 s); the claim already counted the attempt.
        const retryIn = Math.min(30, 2 ** Math.max(0, attempts - 1));
        const executionId = (err as { executionId?: string } | undefined)?.executionId;
        this.log.error({ instanceId, executionId, attempts, retryInSeconds: retryIn, err: describePgError(err) }, 'orchestration turn failed; retrying');
        await releaseLease(this.pool, instanceId, this.owner, retryIn).catch(() => undefined);
      })
      .finally(() => {
        this.inFlight.delete(turn);
        // A turn that may have made work due (children, timers, a parent's result, continue-as-new,
        // a failed turn's backoff) wakes the loop to claim again and to recompute its sleep.
        if (!quiet || failed || this.saturated || this.wokenDuringTurns) {
          this.wokenDuringTurns = false;
          this.wake();
        }
      });
    this.inFlight.add(turn);
  }

  /**
   * The turn lost its connection, so it did not commit (or, if the connection died in COMMIT, it
   * committed and cleared the lease itself; the release below then matches nothing). Give the lease
   * back at once, in its old place in the queue and with the claim's attempt refunded (a blip is
   * not a crash of this turn), retrying the release with a short backoff while the database is away: the instance is
   * claimed again as soon as the database answers, instead of after the whole lease. If the outage
   * outlasts the lease, the lease expires and the sweep frees it as before.
   */
  private async releaseAfterBlip(instanceId: string): Promise<void> {
    const deadline = Date.now() + this.options.leaseSeconds * 1000;
    for (let attempt = 0; this.running && Date.now() < deadline; attempt++) {
      try {
        await releaseLease(this.pool, instanceId, this.owner, null, { refundAttempt: true });
        this.outage.recovered();
        return;
      } catch (err) {
        if (!this.outage.failed(err)) {
          this.log.error({ instanceId, err: describePgError(err) }, 'releasing a turn lease failed; it expires instead');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, blipBackoffMs(attempt)));
      }
    }
  }

  /** How long to sleep when nothing was claimed: until the next due time, at most the poll interval. */
  private async idleDelay(): Promise<number> {
    try {
      const ms = await msUntilNextDue(this.pool);
      if (ms === null) return this.options.pollIntervalMs;
      return Math.max(5, Math.min(this.options.pollIntervalMs, Math.ceil(ms)));
    } catch {
      return this.options.pollIntervalMs;
    }
  }

  private lastSweep = 0;

  /** Expired leases and unwoken entities are rare (crashes), so they are looked for at most once per poll interval. */
  private async sweepNow(): Promise<void> {
    if (Date.now() - this.lastSweep < this.options.pollIntervalMs) return;
    this.lastSweep = Date.now();
    const cleared = await sweepExpiredLeases(this.pool);
    if (cleared > 0) this.log.warn({ cleared }, 'took over instances whose turn lease expired (a worker crashed mid-turn)');
    // Operations sent to an entity are woken after their sender's commit; a sender that crashed in
    // between leaves them unwoken, found here.
    const woken = await sweepUnwokenEntities(this.pool);
    if (woken > 0) this.log.warn({ woken }, 'woke entities with operations waiting and no wake-up (a sender crashed after committing)');
  }

  private sleep(ms: number): Promise<void> {
    if (this.signalled || !this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.endSleep = () => {
        this.endSleep = undefined;
        done();
      };
    });
  }
}
