import http from 'node:http';
import https from 'node:https';
import type { Pool, PoolClient } from 'pg';
import { withTransaction } from './common';
import { SIGNATURE_HEADER, signPayload } from './signing';

/** How a sandbox posts its events; the same fields appear in both sandboxes' options. */
export interface WebhookSettings {
  /** Where events are posted; without it events are recorded but not sent, like a provider with no endpoint set. */
  webhookUrl?: string;
  webhookSecret: string;
  /** Attempts per event before it is given up as failed; unlimited unless set, so the retry period decides. */
  webhookAttempts?: number;
  /** Wait before the second attempt; doubles after each further failure, up to webhookBackoffCapMs. */
  webhookBackoffMs?: number;
  webhookBackoffCapMs?: number;
  /** How long after the event retries go on; an attempt that would fall later is not made and the event fails. */
  webhookRetryPeriodMs?: number;
}

export type DeliveryStatus = 'delivered' | 'failed';

export interface DeliveryOutcome {
  eventId: string;
  status: DeliveryStatus;
  attempts: number;
}

/** Runs in the transaction that records the event's delivery, so the two are never seen apart. */
export type OnDelivered = (client: PoolClient, eventId: string) => Promise<unknown>;

const DEFAULT_BACKOFF_MS = 250;
const DEFAULT_BACKOFF_CAP_MS = 60_000;
/** Three days, as long as the big payment providers keep retrying. */
const DEFAULT_RETRY_PERIOD_MS = 3 * 24 * 60 * 60 * 1000;
/** Finds rows due by backoff and rows other processes wrote, which nothing here is told about. */
const POLL_MS = 1000;
/** Per-attempt limit, so an endpoint that accepts the connection and never answers cannot hold a delivery forever. */
const ATTEMPT_TIMEOUT_MS = 5000;
const BATCH = 50;
const FLUSH_POLL_MS = 20;

/** Deliveries of both sandboxes share this table; `source` tells them apart. */
export const WEBHOOK_DELIVERIES_DDL = [
  'CREATE SCHEMA IF NOT EXISTS sandbox',
  `CREATE TABLE IF NOT EXISTS sandbox.webhook_deliveries (
    event_id    text PRIMARY KEY,
    source      text NOT NULL,
    url         text NOT NULL,
    payload     jsonb NOT NULL,
    status      text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    last_status integer,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
  )`,
  // Durable delivery came later: tables from before gain its columns and indexes. Their rows were ordered by parcel or
  // payment, and 'abandoned' meant a shutdown cut retries short, which is what 'pending' now survives. Guarded by the
  // last index it creates because ALTER TABLE locks the table exclusively even with nothing to add: every start would
  // then wait for dispatcher rounds while holding locks on other sandbox tables, and could deadlock with them.
  `DO $$
   BEGIN
     IF to_regclass('sandbox.webhook_deliveries_order_idx') IS NULL THEN
       ALTER TABLE sandbox.webhook_deliveries
         ADD COLUMN IF NOT EXISTS seq             bigint GENERATED ALWAYS AS IDENTITY,
         ADD COLUMN IF NOT EXISTS ordering_key    text,
         ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz NOT NULL DEFAULT now();
       UPDATE sandbox.webhook_deliveries
          SET ordering_key = coalesce(payload->>'waybill', payload->>'paymentId', event_id),
              status = CASE status WHEN 'abandoned' THEN 'pending' ELSE status END
        WHERE ordering_key IS NULL;
       ALTER TABLE sandbox.webhook_deliveries ALTER COLUMN ordering_key SET NOT NULL;
       CREATE INDEX IF NOT EXISTS webhook_deliveries_due_idx
         ON sandbox.webhook_deliveries (source, url, next_attempt_at) WHERE status = 'pending';
       CREATE INDEX IF NOT EXISTS webhook_deliveries_order_idx
         ON sandbox.webhook_deliveries (source, url, ordering_key, seq) WHERE status = 'pending';
     END IF;
   END $$`,
];

interface DueRow {
  event_id: string;
  payload: object;
  attempts: number;
}

interface Answer {
  statusCode: number | null;
  error: string | null;
}

/**
 * Webhooks as providers send them: the event is written to sandbox.webhook_deliveries in the transaction that
 * produced it (enqueue), and a dispatcher posts due rows signed, retrying with capped exponential backoff until the
 * retry period runs out. The table is the only queue, so a restart, or another process serving the same endpoint,
 * carries on where this one stopped. Like a provider's endpoint setting, a dispatcher serves the rows of its source
 * and URL only, signing them with its secret. Events sharing an ordering key go out one after another, so a receiver
 * sees a parcel's events in the order they happened; row locks keep two dispatchers from posting the same event.
 */
export class WebhookDispatcher {
  /** Events this instance enqueued whose end flush() has not yet reported. */
  private readonly enqueued = new Set<string>();
  private readonly backoffMs: number;
  private readonly backoffCapMs: number;
  private readonly retryPeriodMs: number;
  private readonly maxAttempts: number;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private rerun = false;

  constructor(
    private readonly pool: Pool,
    private readonly source: string,
    private readonly settings: WebhookSettings,
    private readonly onDelivered?: OnDelivered,
  ) {
    this.backoffMs = positive('webhookBackoffMs', settings.webhookBackoffMs ?? DEFAULT_BACKOFF_MS);
    this.backoffCapMs = positive('webhookBackoffCapMs', settings.webhookBackoffCapMs ?? DEFAULT_BACKOFF_CAP_MS);
    this.retryPeriodMs = positive('webhookRetryPeriodMs', settings.webhookRetryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS);
    this.maxAttempts = positive('webhookAttempts', settings.webhookAttempts ?? Infinity);
  }

  /** Writes the event for delivery inside the caller's transaction; call wake() once that has committed. */
  async enqueue(client: PoolClient, eventId: string, payload: object, orderingKey: string): Promise<void> {
    if (!this.settings.webhookUrl) return;
    await client.query(
      `INSERT INTO sandbox.webhook_deliveries (event_id, source, url, payload, status, ordering_key)
       VALUES ($1, $2, $3, $4, 'pending', $5)`,
      [eventId, this.source, this.settings.webhookUrl, JSON.stringify(payload), orderingKey],
    );
    // Tracked before commit: flush() finds no row for an event rolled back (or not yet committed) and does not wait.
    this.enqueued.add(eventId);
  }

  /** Starts dispatching, beginning with whatever an earlier run left pending. Without a URL there is nothing to do. */
  start(): void {
    if (!this.settings.webhookUrl || this.running) return;
    this.running = true;
    this.wake();
  }

  /** Stops dispatching and waits for attempts on the wire; rows not yet delivered stay pending for the next start. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.round;
  }

  /** Dispatches now rather than at the next poll: this process has just committed events. */
  wake(): void {
    const url = this.settings.webhookUrl;
    if (!this.running || !url) return;
    if (this.round) {
      this.rerun = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.rerun = false;
    this.round = this.dispatch(url)
      .catch((error: unknown) => {
        process.emitWarning(`sandbox webhooks (${this.source}): ${(error as Error).message}`);
        return POLL_MS;
      })
      .then((delay) => {
        this.round = undefined;
        if (!this.running) return;
        if (this.rerun || delay === 0) this.wake();
        else this.timer = setTimeout(() => this.wake(), delay);
      });
  }

  /**
   * Resolves once no event this instance enqueued is pending any more (whichever dispatcher delivered or failed it),
   * including events enqueued while waiting; returns how each of them ended. Waits for as long as that takes, so
   * tests that call it set a short retry period or few attempts when the endpoint keeps failing.
   */
  async flush(): Promise<DeliveryOutcome[]> {
    const outcomes: DeliveryOutcome[] = [];
    while (this.enqueued.size > 0) {
      const ids = [...this.enqueued];
      const { rows } = await this.pool.query<{ event_id: string; status: string; attempts: number }>(
        'SELECT event_id, status, attempts FROM sandbox.webhook_deliveries WHERE event_id = ANY($1)',
        [ids],
      );
      const pending = new Set(rows.filter((row) => row.status === 'pending').map((row) => row.event_id));
      for (const row of rows) {
        if (!pending.has(row.event_id)) {
          outcomes.push({ eventId: row.event_id, status: row.status as DeliveryStatus, attempts: row.attempts });
        }
      }
      for (const id of ids) if (!pending.has(id)) this.enqueued.delete(id);
      if (pending.size > 0) await new Promise((resolve) => setTimeout(resolve, FLUSH_POLL_MS));
    }
    return outcomes;
  }

  /**
   * One round: posts every due event that no earlier event with its ordering key is waiting on, and records each
   * attempt. The row locks are held until the attempts are recorded, so no other dispatcher can post the same events
   * meanwhile, and a crash releases them with the rows still pending. Returns the wait before the next round.
   */
  private async dispatch(url: string): Promise<number> {
    return withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<DueRow>(
        `SELECT d.event_id, d.payload, d.attempts
           FROM sandbox.webhook_deliveries d
          WHERE d.source = $1 AND d.url = $2 AND d.status = 'pending' AND d.next_attempt_at <= now()
            AND NOT EXISTS (
              SELECT 1 FROM sandbox.webhook_deliveries earlier
               WHERE earlier.source = d.source AND earlier.url = d.url AND earlier.ordering_key = d.ordering_key
                 AND earlier.status = 'pending' AND earlier.seq < d.seq)
          ORDER BY d.next_attempt_at, d.seq
          LIMIT ${BATCH}
          FOR UPDATE OF d SKIP LOCKED`,
        [this.source, url],
      );
      if (rows.length === 0) return this.untilNextDue(client, url);
      // Each row heads its own ordering key, so their attempts may run side by side.
      const answers = await Promise.all(rows.map((row) => this.attempt(url, row)));
      for (const [i, row] of rows.entries()) await this.record(client, row, answers[i]);
      // The next event of each key may be due already.
      return 0;
    });
  }

  /**
   * Milliseconds until the earliest row falls due that was not yet due when this round looked (now() is the round's
   * start). Rows due before then were skipped as locked or as waiting behind an earlier event: the other dispatcher
   * holding them, or the poll, takes care of those, and counting them would spin this one.
   */
  private async untilNextDue(client: PoolClient, url: string): Promise<number> {
    const { rows } = await client.query<{ wait: number | null }>(
      `SELECT extract(epoch FROM min(next_attempt_at) - clock_timestamp())::float8 * 1000 AS wait
         FROM sandbox.webhook_deliveries
        WHERE source = $1 AND url = $2 AND status = 'pending' AND next_attempt_at > now()`,
      [this.source, url],
    );
    return Math.min(POLL_MS, Math.max(1, Math.ceil(rows[0].wait ?? POLL_MS)));
  }

  private async attempt(url: string, row: DueRow): Promise<Answer> {
    const body = JSON.stringify(row.payload);
    try {
      // Signed per attempt, so a late retry still falls inside the receiver's timestamp tolerance.
      const signature = signPayload(this.settings.webhookSecret, body, Math.floor(Date.now() / 1000));
      return { statusCode: await post(url, body, { [SIGNATURE_HEADER]: signature }, ATTEMPT_TIMEOUT_MS), error: null };
    } catch (caught) {
      return { statusCode: null, error: (caught as Error).message };
    }
  }

  private async record(client: PoolClient, row: DueRow, { statusCode, error }: Answer): Promise<void> {
    const delivered = statusCode !== null && statusCode >= 200 && statusCode < 300;
    const attempts = row.attempts + 1;
    const backoff = Math.min(this.backoffCapMs, this.backoffMs * 2 ** Math.min(attempts - 1, 52));
    await client.query(
      `UPDATE sandbox.webhook_deliveries d
          SET attempts = $2, last_status = $3, last_error = $4, updated_at = t.at,
              status = CASE
                WHEN $5 THEN 'delivered'
                WHEN $6 OR t.at + t.backoff > d.created_at + t.period THEN 'failed'
                ELSE 'pending' END,
              next_attempt_at = CASE WHEN $5 THEN d.next_attempt_at ELSE t.at + t.backoff END
         FROM (SELECT clock_timestamp() AS at,
                      $7::float8 * interval '1 millisecond' AS backoff,
                      $8::float8 * interval '1 millisecond' AS period) t
        WHERE d.event_id = $1`,
      [row.event_id, attempts, statusCode, error, delivered, attempts >= this.maxAttempts, backoff, this.retryPeriodMs],
    );
    if (delivered) await this.onDelivered?.(client, row.event_id);
  }
}

function positive(name: string, value: number): number {
  if (!(value > 0)) throw new RangeError(`${name} must be > 0, got ${value}`);
  return value;
}

function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<number> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      target,
      {
        method: 'POST',
        // No keep-alive agent: an idle pooled socket would outlive stop() and keep the process (or a test) running.
        agent: false,
        timeout: timeoutMs,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}
